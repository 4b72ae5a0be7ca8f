// The bot page: business hours per weekday, holidays, the texts, keyword rules with menus,
// hand-off; saved with one PUT /api/v1/bot whose field errors show next to their controls.
// The switch and figures are bot_card.js; the "try a message" box is bot_try.js.
import { t } from "./i18n.js";
import { h } from "./bot_dom.js";
import { KeywordsEditor } from "./bot_keywords.js";
import { setupTry } from "./bot_try.js";
import "./bot_card.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const PAUSES = [15, 30, 60, 120, 240, 480, 1440, 0];
const TEXTS = ["welcome_text", "away_text", "fallback_text", "handoff_text"];
const NUMBERS = ["welcome_after_days", "fallback_hours"];

const form = document.getElementById("bot-form");
const $ = (id) => document.getElementById(id);
const status = $("bot-save-status");
const initial = JSON.parse($("bot-data").textContent);
let hours = {};
let holidays = [];
let dirty = false;

const keywords = new KeywordsEditor($("bot-keywords"), $("bot-no-keywords"), markDirty);

function markDirty() {
  dirty = true;
  status.textContent = t("botui.unsaved");
  status.className = "form-status";
}

// -- business hours -----------------------------------------------------------------------------

function renderHours(focusPath = null) {
  const box = $("bot-hours");
  box.replaceChildren(...DAYS.map((day) => {
    const ranges = hours[day];
    const dayName = t(`botui.day.${day}`);
    const rows = ranges.map(([from, to], i) => {
      const path = `business_hours.${day}[${i}]`;
      const timeInput = (value, k, label) => {
        const input = h("input", { type: "time", step: 60, value, "aria-label": `${dayName} · ${label} (${i + 1})`,
                                   "data-path": k === 0 ? path : null });
        input.addEventListener("change", () => { ranges[i][k] = input.value; markDirty(); });
        return input;
      };
      return h("div", { class: "range" },
        timeInput(from, 0, t("botui.from")), h("span", { "aria-hidden": "true", text: "–" }),
        timeInput(to, 1, t("botui.to")),
        h("button", { type: "button", class: "secondary icon-btn", text: "✕",
                      "aria-label": t("botui.remove_range", { n: i + 1, day: dayName }),
                      onclick: () => { ranges.splice(i, 1); markDirty(); renderHours(); } }));
    });
    const add = h("button", { type: "button", class: "link add-range", text: t("botui.add_range"),
      "aria-label": `${t("botui.add_range")} · ${dayName}`,
      onclick: () => {
        const last = ranges[ranges.length - 1];
        ranges.push(last ? [last[1], last[1] < "20:00" ? "20:00" : "23:00"] : ["09:00", "18:00"]);
        markDirty();
        renderHours(`business_hours.${day}[${ranges.length - 1}]`);
      } });
    return h("div", { class: "day", role: "group", "aria-label": dayName, "data-path": `business_hours.${day}` },
      h("span", { class: "day-name", text: dayName }),
      h("div", { class: "ranges" }, ...(rows.length ? rows : [h("span", { class: "muted closed", text: t("botui.closed") })]),
        ranges.length < 4 ? add : null));
  }));
  if (focusPath) box.querySelector(`[data-path="${focusPath}"]`)?.focus();
}

function renderHolidays() {
  const list = $("bot-holidays");
  const fmt = new Intl.DateTimeFormat(document.documentElement.lang || "es", { dateStyle: "long", timeZone: "UTC" });
  list.replaceChildren(...holidays.map((date, i) => h("li", { class: "chip" },
    h("span", { text: fmt.format(new Date(`${date}T00:00:00Z`)) }),
    h("button", { type: "button", class: "link", text: "✕", "aria-label": t("botui.remove_holiday", { date }),
                  "data-path": `holidays[${i}]`,
                  onclick: () => { holidays.splice(i, 1); markDirty(); renderHolidays(); } }))));
  if (!holidays.length) list.append(h("li", { class: "muted", text: t("botui.no_holidays") }));
}

$("bot-holiday-add").addEventListener("click", () => {
  const input = $("bot-holiday-date");
  if (!input.value || holidays.includes(input.value)) return;
  holidays = [...holidays, input.value].sort();
  input.value = "";
  markDirty();
  renderHolidays();
});

// -- the whole form -----------------------------------------------------------------------------

function fill(settings) {
  hours = Object.fromEntries(DAYS.map((d) => [d, (settings.business_hours[d] || []).map((r) => [...r])]));
  holidays = [...settings.holidays];
  const zone = $("bot-timezone");
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  if (!zones.includes(settings.timezone)) zones.unshift(settings.timezone);
  zone.replaceChildren(...zones.map((z) => h("option", { value: z, text: z.replaceAll("_", " "), selected: z === settings.timezone })));
  for (const name of [...TEXTS, ...NUMBERS]) form.elements[name].value = settings[name];
  form.elements.handoff_words.value = settings.handoff_words.join(", ");
  const pause = form.elements.pause_minutes;
  const options = PAUSES.includes(settings.pause_minutes) ? PAUSES : [...PAUSES, settings.pause_minutes];
  pause.replaceChildren(...options.map((m) => h("option", { value: m, selected: m === settings.pause_minutes,
    text: m === 0 ? t("botui.pause.0") : m === 60 ? t("botui.pause.hour") : m % 60 === 0 && m >= 60 ? t("botui.pause.hours", { n: m / 60 })
      : t("botui.pause.minutes", { n: m }) })));
  keywords.set(settings.keywords);
  renderHours();
  renderHolidays();
}

/** The settings as the form shows them now (saved by PUT, or tried as a draft). */
export function draft() {
  const number = (name) => (form.elements[name].value === "" ? -1 : Number(form.elements[name].value));
  return {
    timezone: $("bot-timezone").value,
    business_hours: Object.fromEntries(DAYS.map((d) => [d, hours[d].map((r) => [...r])])),
    holidays: [...holidays],
    ...Object.fromEntries(TEXTS.map((n) => [n, form.elements[n].value])),
    ...Object.fromEntries(NUMBERS.map((n) => [n, number(n)])),
    keywords: keywords.value(),
    handoff_words: form.elements.handoff_words.value.split(",").map((w) => w.trim()).filter(Boolean),
    pause_minutes: Number(form.elements.pause_minutes.value),
  };
}

/** Field errors of a 400 next to their controls; the first one gets the focus. */
export function showErrors(fields) {
  clearErrors();
  let first = null;
  for (const [path, code] of Object.entries(fields || {})) {
    const control = form.querySelector(`[data-path="${CSS.escape(path)}"]`)
      ?? form.querySelector(`[data-path="${CSS.escape(path.replace(/\[\d+\]$/, ""))}"]`);
    if (!control) continue;
    const id = `err-${path.replace(/[^\w-]/g, "_")}`;
    const message = h("p", { class: "field-error error", id, text: t(`botui.err.${code}`) || t("botui.err.invalid") });
    control.setAttribute("aria-invalid", "true");
    control.setAttribute("aria-describedby", id);
    (control.closest("label, .day, .range") ?? control).after(message);
    first ??= control;
  }
  first?.focus();
}

function clearErrors() {
  for (const node of form.querySelectorAll(".field-error")) node.remove();
  for (const node of form.querySelectorAll("[aria-invalid]")) {
    node.removeAttribute("aria-invalid");
    node.removeAttribute("aria-describedby");
  }
}

form.addEventListener("input", (ev) => { if (!ev.target.closest("#bot-keywords")) markDirty(); });
form.addEventListener("change", (ev) => { if (ev.target.matches("select, input[type=number]")) markDirty(); });
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (form.dataset.admin !== "1") return;
  const button = $("bot-save");
  button.disabled = true;
  status.textContent = t("botui.saving");
  try {
    const resp = await fetch("/api/v1/bot", { method: "PUT", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(draft()) });
    const body = await resp.json();
    if (resp.status === 400) {
      showErrors(body.error?.fields);
      status.textContent = t("botui.save_failed");
      status.className = "form-status error";
      return;
    }
    if (!resp.ok) throw new Error(`bot ${resp.status}`);
    clearErrors();
    fill(body);
    dirty = false;
    status.textContent = t("botui.saved");
    status.className = "form-status ok";
  } catch (err) {
    console.warn(err);
    status.textContent = t("botui.save_offline");
    status.className = "form-status error";
  } finally {
    button.disabled = false;
  }
});

window.addEventListener("beforeunload", (ev) => { if (dirty) ev.preventDefault(); });
$("bot-add-keyword").addEventListener("click", () => keywords.add());
if (form.dataset.admin !== "1") {
  for (const control of form.querySelectorAll("input, select, textarea, button")) control.disabled = true;
}
fill(initial);
setupTry(draft, showErrors);
