// /bulk/{id}: live progress from bulk_message_progress (the latest campaign object), counts, rate,
// ETA, pause/resume/cancel, the completion notice and the recipients table.
import { realtime } from "../realtime.js";
import { control, getCampaign } from "./api.js";
import { DONE, done, el, errorText, etaText, formatDate, formatNumber, percent, rateText, statusClass,
  statusText, t } from "./format.js";
import { RecipientTable } from "./recipients.js";

const $ = (id) => document.getElementById(id);
const id = document.body.dataset.campaign;
const COUNTS = ["total", "pending", "sent", "delivered", "read", "replied", "failed", "skipped"];
const CANCEL_ARM_MS = 5000;      // the second click that confirms a cancel must come within this

let current = null;
let announcedDone = false;        // the completion notice is shown once per page

const table = new RecipientTable(id, { scroll: $("r-scroll"), space: $("r-space"), status: $("r-status"),
  filter: $("r-filter") });

/** A newer snapshot or event replaces the shown one; an older one (fewer done) never undoes it. */
function accept(c) {
  if (!current) return true;
  if (DONE.has(current.status) && !DONE.has(c.status)) return false;
  return done(c) >= done(current) || c.status !== current.status;
}

function etaSeconds(c) {
  if (typeof c.eta !== "number") return null;
  return c.eta > 1e11 ? (c.eta - Date.now()) / 1000 : c.eta;   // unix ms, or seconds from now
}

const seconds = (s) => formatNumber(Math.round(s));
const minutes = (s) => formatNumber(Math.round(s / 6) / 10);

/** The campaign's own pacing settings in words (the mode follows the WhatsApp connection). */
function pacingText(p) {
  if (!p) return "";
  if (p.mode === "human") {
    return t("bulk.pacing.human_figures", { min: seconds(p.min_gap_s), max: seconds(p.max_gap_s), every: formatNumber(p.pause_every),
      pmin: minutes(p.pause_min_s), pmax: minutes(p.pause_max_s), cap: formatNumber(p.daily_cap),
      start: formatNumber(p.warmup_start), days: formatNumber(p.warmup_days) });
  }
  if (p.mode === "rate" && typeof p.rate === "number") return t("bulk.pacing.rate_figures", { n: formatNumber(p.rate) });
  return "";
}

function segment(cls, n, total) {
  document.querySelector(`#c-bar .${cls}`).style.width = total ? `${(n * 100) / total}%` : "0";
}

function show(c) {
  const before = current;
  current = c;
  document.title = `${c.name} · ${t("bulk.title")}`;
  $("c-name").textContent = c.name;
  $("c-card").setAttribute("aria-busy", "false");
  const pill = $("c-status");
  pill.className = `pill ${statusClass(c.status)}`.trim();
  pill.textContent = statusText(c.status);
  pill.dataset.status = c.status;
  $("c-when").textContent = c.status === "scheduled" && c.start_at
    ? t("bulk.scheduled_for", { when: formatDate(c.start_at) }) : t("bulk.created", { when: formatDate(c.created_at) });
  const p = percent(c);
  const total = c.total ?? 0;
  const ok = Math.max(0, done(c) - (c.failed ?? 0) - (c.skipped ?? 0));
  segment("seg-ok", ok, total);
  segment("seg-failed", c.failed ?? 0, total);
  segment("seg-skipped", c.skipped ?? 0, total);
  $("c-bar").setAttribute("aria-valuenow", String(p));
  $("c-bar").setAttribute("aria-valuetext", `${p} %`);
  $("c-percent").textContent = `${p} %`;
  $("c-of").textContent = t("bulk.progress_of", { done: formatNumber(done(c)), total: formatNumber(total) });
  const running = c.status === "running";
  $("c-rate").textContent = running ? rateText(c.rate) : "";
  const eta = running ? etaText(etaSeconds(c)) : "";
  $("c-eta").textContent = eta ? t("bulk.eta", { when: eta }) : "";
  for (const k of COUNTS) {
    const n = k === "pending" && c.pending === undefined ? total - done(c) : c[k];
    $(`n-${k}`).textContent = typeof n === "number" ? formatNumber(n) : "–";
  }
  document.querySelector(".count-failed").classList.toggle("bad", (c.failed ?? 0) > 0);
  $("c-paused").hidden = c.status !== "paused";
  $("c-paused").textContent = c.status === "paused" && c.pause_reason && c.pause_reason !== "user"
    ? t("bulk.paused_by_whatsapp") : t("bulk.paused_note");
  $("c-pacing").textContent = pacingText(c.pacing);
  const can = {
    start: c.status === "draft" || c.status === "scheduled",
    pause: c.status === "running" || c.status === "starting" || c.status === "queued",
    resume: c.status === "paused",
    cancel: !DONE.has(c.status),
  };
  for (const [action, visible] of Object.entries(can)) $(`c-${action}`).hidden = !visible;
  if (DONE.has(c.status)) finished(c, before);
  if (before && done(before) !== done(c)) table.refreshSoon();
}

/** The completion (or failure, or cancel) notice; a browser notification too when allowed. */
function finished(c, before) {
  if (announcedDone) return;
  announcedDone = true;
  const values = { sent: formatNumber(c.sent ?? 0), failed: formatNumber(c.failed ?? 0), skipped: formatNumber(c.skipped ?? 0) };
  const text = t(`bulk.done.${c.status}`, values);
  const box = $("c-done");
  box.className = `notice toast ${c.status === "completed" ? "ok" : "danger"}`;
  box.dataset.status = c.status;
  box.textContent = text;
  box.hidden = false;
  if (before && !DONE.has(before.status)) {       // it finished while the page was open
    table.reset();
    if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
      try { new Notification(c.name, { body: text, tag: `bulk-${c.id}` }); } catch { /* not allowed here */ }
    }
  }
}

async function act(action) {
  const status = $("c-action-status");
  const buttons = $("c-actions").querySelectorAll("button");
  for (const b of buttons) b.disabled = true;
  status.textContent = "";
  $("c-error").hidden = true;
  try {
    const c = await control(id, action);
    if (c && accept(c)) show(c);
  } catch (err) {
    $("c-error").textContent = errorText(err);
    $("c-error").hidden = false;
    if (err?.status === 409) reload().catch(() => {});
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

$("c-start").addEventListener("click", () => act("start"));
$("c-pause").addEventListener("click", () => act("pause"));
$("c-resume").addEventListener("click", () => act("resume"));

// Cancel asks first, in the page (no blocking dialog): the first click arms, the second confirms.
let armTimer = null;
$("c-cancel").addEventListener("click", () => {
  const b = $("c-cancel");
  if (b.dataset.armed === "1") {
    clearTimeout(armTimer);
    delete b.dataset.armed;
    b.textContent = t("bulk.cancel");
    $("c-action-status").textContent = "";
    act("cancel");
    return;
  }
  b.dataset.armed = "1";
  $("c-action-status").textContent = t("bulk.cancel_confirm");
  armTimer = setTimeout(() => { delete b.dataset.armed; $("c-action-status").textContent = ""; }, CANCEL_ARM_MS);
});

async function reload() {
  const c = await getCampaign(id);
  // A live event may have shown newer figures while this answer was on its way (it was read
  // before that event's commit): the same rule as for events keeps the bar from going back.
  if (accept(c)) show(c);
  return c.seq ?? null;
}

async function start() {
  try {
    await reload();
  } catch (err) {
    $("c-card").hidden = true;
    $("r-card").hidden = true;
    if (err?.status === 404) {
      $("c-name").textContent = t("bulk.err.not_found");
      $("c-missing").hidden = false;
    } else {
      $("c-name").textContent = t("bulk.title");
      $("c-error").replaceChildren(el("span", "", errorText(err)));
      $("c-error").hidden = false;
    }
    return;
  }
  table.reset();
}

const rt = realtime();
rt.on("bulk_message_progress", (c) => {
  if (!c || String(c.id) !== String(id)) return;
  if (accept(c)) show(c);
});
rt.onResync(reload);
start();
