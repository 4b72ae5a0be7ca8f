// The dashboard: figures that count up when they change, the first-run checklist, today's
// activity chart; the WhatsApp card lives in wa_card.js. Everything stays live.
import { realtime } from "./realtime.js";
import { formatNumber } from "./i18n.js";
import { onLinkState } from "./wa_card.js";
import { drawChart } from "./activity_chart.js";
import "./bot_card.js";

const STAT_KEYS = ["conversations_open", "unread", "messages_today_in", "messages_today_out", "contacts", "bulk_active"];
const COUNT_MS = 400;
const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

/** Count from the shown value to `to` over ~400 ms; the final text is always exact. */
function animateTo(el, to) {
  const from = Number(el.dataset.value ?? to);
  el.dataset.value = String(to);
  cancelAnimationFrame(Number(el.dataset.frame ?? 0));
  if (from === to || reducedMotion.matches || document.hidden) { el.textContent = formatNumber(to); return; }
  el.classList.add("changed");
  const start = performance.now();
  const step = (now) => {
    const k = Math.min(1, (now - start) / COUNT_MS);
    const eased = 1 - (1 - k) ** 3;
    el.textContent = formatNumber(Math.round(from + (to - from) * eased));
    if (k < 1) el.dataset.frame = String(requestAnimationFrame(step));
    else el.classList.remove("changed");
  };
  el.dataset.frame = String(requestAnimationFrame(step));
}

function showStats(stats) {
  for (const key of STAT_KEYS) {
    const el = document.getElementById(`stat-${key}`);
    if (el && typeof stats[key] === "number") animateTo(el, stats[key]);
  }
  if (stats.contacts > 0) checkDone("first_message");
  refreshChartIfBehind(stats);
}

// -- first-run checklist ----------------------------------------------------------------------

function checkDone(key) {
  const item = document.getElementById(`check-${key}`);
  if (!item || item.classList.contains("done")) return;
  item.classList.add("done");
  const list = document.getElementById("checklist");
  if (list && !list.querySelector("li:not(.done)")) setTimeout(() => list.remove(), 1500);
}

onLinkState((state) => { if (state === "connected") checkDone("whatsapp"); });

// -- activity chart ---------------------------------------------------------------------------

const chartBox = document.getElementById("chart");
const caption = document.getElementById("chart-summary");
let shown = { in: 0, out: 0 };
let chartTimer = null;

function draw(data) { shown = drawChart(chartBox, caption, data); }

async function loadChart() {
  const resp = await fetch("/api/v1/stats/hourly", { credentials: "same-origin", cache: "no-store" });
  if (!resp.ok) throw new Error(`hourly ${resp.status}`);
  const data = await resp.json();
  draw(data);
  return data.seq;
}

/** The figures say more (or fewer) messages than the chart: reload it, at most once a second. */
function refreshChartIfBehind(stats) {
  if (stats.messages_today_in === shown.in && stats.messages_today_out === shown.out) return;
  if (chartTimer) return;
  chartTimer = setTimeout(() => { chartTimer = null; loadChart().catch((err) => console.warn(err)); }, 1000);
}

draw(JSON.parse(document.getElementById("hourly-data").textContent));

const rt = realtime();
rt.on("stats_updated", showStats);
rt.onResync(async () => {
  const resp = await fetch("/api/v1/stats", { credentials: "same-origin", cache: "no-store" });
  const stats = await resp.json();
  showStats(stats);
  await loadChart();
  return stats.seq;
});
