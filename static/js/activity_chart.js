// Today's activity on the dashboard: messages in and out per hour as an inline SVG bar chart
// (no library), with hour labels in the reader's time zone and a sentence as text alternative.
import { t, formatNumber, lang } from "./i18n.js";

const SVG = "http://www.w3.org/2000/svg";
const H = 160, PAD_L = 28, PAD_B = 20, PAD_T = 8;
// Spanish readers expect a 24-hour clock ("15:00"); English ones the browser's default.
const hourFormat = lang === "es"
  ? new Intl.DateTimeFormat("es-CL", { hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
  : new Intl.DateTimeFormat("en", { hour: "numeric" });

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A "nice" top for the y axis: 1, 2, 5 × 10^n at or above the maximum. */
function niceMax(max) {
  if (max <= 4) return 4;
  const p = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= max);
}

/** Draw `data` ({hours: [{start, in, out}]}) into `box`; returns the totals. */
export function drawChart(box, caption, data) {
  const hours = data.hours ?? [];
  const totalIn = hours.reduce((s, h) => s + h.in, 0);
  const totalOut = hours.reduce((s, h) => s + h.out, 0);
  const top = niceMax(Math.max(0, ...hours.map((h) => Math.max(h.in, h.out))));
  // Drawn at the box's own width, so labels keep their size on a phone instead of shrinking.
  const W = Math.max(280, Math.round(box.clientWidth || 480));
  const labelEvery = W < 420 ? 6 : 3;
  const plotW = W - PAD_L, plotH = H - PAD_B - PAD_T;
  const slot = plotW / Math.max(1, hours.length);
  const bar = Math.max(2, (slot - 3) / 2);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg", "aria-hidden": "true", focusable: "false" });
  for (const frac of [0, 0.5, 1]) {
    const y = PAD_T + plotH * (1 - frac);
    svg.append(el("line", { x1: PAD_L, x2: W, y1: y, y2: y, class: "grid" }));
    svg.append(el("text", { x: PAD_L - 6, y: y + 4, class: "axis", "text-anchor": "end" }, formatNumber(top * frac)));
  }
  hours.forEach((h, i) => {
    const x = PAD_L + i * slot + 1.5;
    for (const [dir, dx] of [["in", 0], ["out", bar]]) {
      if (!h[dir]) continue;
      const bh = Math.max(2, (h[dir] / top) * plotH);
      const rect = el("rect", { x: x + dx, y: PAD_T + plotH - bh, width: bar, height: bh, rx: 1.5, class: `bar ${dir}` });
      rect.append(el("title", {}, `${hourFormat.format(h.start)} · ${t(`chart.${dir}`)}: ${formatNumber(h[dir])}`));
      svg.append(rect);
    }
    if (i % labelEvery === 0) {
      svg.append(el("text", { x: x + slot / 2 - 1.5, y: H - 4, class: "axis", "text-anchor": "middle" }, hourFormat.format(h.start)));
    }
  });
  box.replaceChildren(svg);
  if (totalIn + totalOut === 0) {
    caption.textContent = t("chart.empty");
  } else {
    const peak = hours.reduce((best, h) => (h.in + h.out > best.in + best.out ? h : best), hours[0]);
    caption.textContent = t("chart.summary", { in: formatNumber(totalIn), out: formatNumber(totalOut),
                                               peak: hourFormat.format(peak.start) });
  }
  return { in: totalIn, out: totalOut };
}
