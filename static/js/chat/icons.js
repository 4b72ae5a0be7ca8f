// Small inline SVG icons built with the DOM (no innerHTML): ticks, clock, failed, arrows.
import { t } from "./strings.js";

const NS = "http://www.w3.org/2000/svg";
const PATHS = {
  tick: "M4.5 10.5l3.5 3.5L15.5 6.5",
  ticks: "M1.5 10.5l3.5 3.5L12.5 6.5M8.5 13l1 1L17.5 6.5",
  clock: "M10 3.5a6.5 6.5 0 1 0 0 13 6.5 6.5 0 0 0 0-13zM10 6.5V10l2.5 1.5",
  failed: "M10 2.5l8 14H2zM10 8v4M10 14.2v.3",
  back: "M12.5 4l-6 6 6 6",
  down: "M5 8l5 5 5-5",
  send: "M3 10l14-7-5 15-2.5-6z",
  bell: "M10 3a5 5 0 0 0-5 5v3l-1.5 3h13L15 11V8a5 5 0 0 0-5-5zM8 16.5a2 2 0 0 0 4 0",
  search: "M8.5 3a5.5 5.5 0 1 0 0 11 5.5 5.5 0 0 0 0-11zM12.5 12.5L17 17",
  person: "M10 3.5a3.2 3.2 0 1 0 0 6.4 3.2 3.2 0 0 0 0-6.4zM3.8 17c.7-3.2 3.2-5 6.2-5s5.5 1.8 6.2 5",
};

/** An icon; decorative unless `label` is given (then it has an accessible name). */
export function icon(name, { label = "", cls = "" } = {}) {
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 20 20");
  svg.setAttribute("class", `icon icon-${name} ${cls}`.trim());
  if (label) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
  } else {
    svg.setAttribute("aria-hidden", "true");
  }
  const path = document.createElementNS(NS, "path");
  path.setAttribute("d", PATHS[name]);
  svg.append(path);
  return svg;
}

/** The tick for an outbound status: clock (queued/sending), ✓, ✓✓, blue ✓✓, red !. */
export function tick(status) {
  const name = { sent: "tick", delivered: "ticks", read: "ticks", failed: "failed" }[status] ?? "clock";
  const label = t(`status_${status}`) || t("status_queued");
  const el = icon(name, { label, cls: `tick tick-${status}` });
  el.dataset.status = status;
  return el;
}

/** Fill an avatar: initials, or a person icon for a number without a name. */
export function fillAvatar(node, text) {
  if (text) { node.textContent = text; return; }
  node.replaceChildren(icon("person", { cls: "avatar-icon" }));
}
