// The dashboard: figures and WhatsApp link state, live.
import { realtime } from "./realtime.js";

const STAT_KEYS = ["conversations_open", "unread", "messages_today_in", "messages_today_out", "contacts", "bulk_active"];

function showStats(stats) {
  for (const key of STAT_KEYS) {
    const el = document.getElementById(`stat-${key}`);
    if (el && key in stats) el.textContent = String(stats[key]);
  }
}

function showLink(state) {
  document.getElementById("wa-state").textContent = state;
}

const rt = realtime();
rt.on("stats_updated", showStats);
rt.on("whatsapp_authenticated", () => showLink("connected"));
rt.on("whatsapp_disconnected", (data) => showLink(data.state ?? "disconnected"));
rt.onResync(async () => {
  const resp = await fetch("/api/v1/stats", { credentials: "same-origin" });
  const stats = await resp.json();
  showStats(stats);
  return stats.seq;
});
