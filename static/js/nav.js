// The top bar's live parts on every page: the connection indicator (#live-indicator) and the
// unread count on "Chats" (#nav-unread). base.html loads this module on every signed-in page;
// it subscribes to the tab's one realtime client (realtime.js `realtime()`), as pages do.
import { realtime } from "./realtime.js";
import { t } from "./i18n.js";

const indicator = document.getElementById("live-indicator");
const unreadBadge = document.getElementById("nav-unread");

/** Show a connection state (live, reconnecting, syncing, polling, stopped...) as dot and word. */
export function showLiveState(state) {
  if (!indicator || !state) return;
  indicator.dataset.state = state;
  const word = indicator.querySelector(".word");
  if (word) word.textContent = t(`rt.${state}`);
  const hint = state === "stopped" ? "rt.stopped_hint" : state === "polling" ? "rt.polling_hint" : null;
  indicator.title = hint ? t(hint) : "";
}

/** The unread count on the "Chats" tab (hidden at zero). */
export function showUnread(count) {
  if (!unreadBadge || typeof count !== "number") return;
  unreadBadge.dataset.count = String(count);
  unreadBadge.textContent = count > 99 ? "99+" : String(count);
  unreadBadge.title = t("nav.unread", { n: count });
  unreadBadge.hidden = count <= 0;
}

// DESIGN "Connection": after 10 s without a socket, a thin banner says so; it goes away by itself.
const BANNER_AFTER_MS = 10000;
let bannerTimer = 0;
let banner = null;

/** Show the "no live connection" banner after a while in polling / reconnecting; hide it when live. */
function updateBanner(state) {
  const offline = state === "polling" || state === "reconnecting";
  if (!offline) {
    clearTimeout(bannerTimer);
    bannerTimer = 0;
    banner?.remove();
    banner = null;
    return;
  }
  if (banner) { banner.textContent = t(state === "polling" ? "rt.polling_hint" : "rt.reconnecting_hint"); return; }
  if (bannerTimer) return;
  bannerTimer = setTimeout(() => {
    bannerTimer = 0;
    banner = document.createElement("div");
    banner.className = "live-banner";
    banner.setAttribute("role", "status");
    banner.textContent = t(indicator.dataset.state === "polling" ? "rt.polling_hint" : "rt.reconnecting_hint");
    document.querySelector(".topbar")?.after(banner);
  }, BANNER_AFTER_MS);
}

if (indicator) {
  const rt = realtime();
  rt.onState(showLiveState);
  rt.onState(updateBanner);
  rt.on("stats_updated", (data) => showUnread(data.unread));
  rt.onResync(async () => {
    const resp = await fetch("/api/v1/stats", { credentials: "same-origin", cache: "no-store" });
    if (!resp.ok) throw new Error(`stats ${resp.status}`);
    const stats = await resp.json();
    showUnread(stats.unread);
    return stats.seq;
  });
}

// The user menu is a <details>: it works without script; this closes it on a click elsewhere
// and on Escape (focus back on its button), as a menu should.
const menu = document.querySelector(".usermenu");
if (menu) {
  document.addEventListener("click", (ev) => { if (menu.open && !menu.contains(ev.target)) menu.open = false; });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && menu.open) { menu.open = false; menu.querySelector("summary").focus(); }
  });
}
