// The bot card (dashboard and /bot): the on/off switch and today's figures, live through
// bot_status_changed, so a change made in one browser shows in every other of the business.
import { realtime } from "./realtime.js";
import { t, formatNumber } from "./i18n.js";

const card = document.getElementById("bot-card");
const $ = (id) => document.getElementById(id);
let changes = 0;  // status events seen: an answer read before one of them is stale
const listeners = new Set();

/** Be told when the bot is switched on or off (the /bot page mirrors it). */
export function onBotStatus(fn) { listeners.add(fn); }

function show(status) {
  if (!card) return;
  const on = Boolean(status.enabled);
  card.dataset.enabled = on ? "1" : "0";
  $("bot-toggle").setAttribute("aria-checked", String(on));
  const pill = $("bot-state");
  pill.textContent = t(on ? "botui.on" : "botui.off");
  pill.classList.toggle("ok", on);
  for (const [id, key] of [["bot-answered", "answered_today"], ["bot-handed", "handed_off_today"],
                           ["bot-attention", "needs_attention"]]) {
    if (typeof status[key] === "number") $(id).textContent = formatNumber(status[key]);
  }
  for (const fn of listeners) fn(status);
}

async function toggle() {
  const button = $("bot-toggle");
  const want = button.getAttribute("aria-checked") !== "true";
  const seen = changes;
  const error = $("bot-error");
  error.hidden = true;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const resp = await fetch("/api/v1/bot", {
      method: "PUT", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ enabled: want }),
    });
    if (!resp.ok) throw new Error(`bot ${resp.status}`);
    const body = await resp.json();
    if (changes === seen) show(body.status);  // else a newer event already said it
  } catch (err) {
    console.warn(err);
    error.textContent = t("botui.toggle_failed");
    error.hidden = false;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

if (card) {
  const button = $("bot-toggle");
  if (!button.disabled) button.addEventListener("click", toggle);
  const rt = realtime();
  rt.on("bot_status_changed", (status) => { changes += 1; show(status); });
  rt.onResync(async () => {
    const resp = await fetch("/api/v1/bot", { credentials: "same-origin", cache: "no-store" });
    const body = await resp.json();
    show(body.status);
    return body.seq;
  });
}
