// The dashboard's WhatsApp card: the link state in words, the number, Connect / Unlink, and
// while pairing the QR code (replaced on every whatsapp_qr) with a countdown.
import { realtime } from "./realtime.js";
import { t, formatPhone } from "./i18n.js";

const card = document.getElementById("wa-card");
const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]", "::1", "0.0.0.0"]);
const PILL = { connected: "ok", qr_pending: "warn", starting: "warn", disconnected: "danger",
               logged_out: "danger", failed: "danger" };

const $ = (id) => document.getElementById(id);
let state = card?.dataset.state ?? "stopped";
let qr = null;            // the code on screen: {value, svg, expires_at}
let countdownTimer = null;
let armedUnlink = null;   // the second press of "Unlink" within a few seconds confirms it
let changes = 0;          // link events seen: a REST answer read before one of them is stale
const listeners = new Set();

/** Be told when the link state changes (the checklist ticks its first step). */
export function onLinkState(fn) { listeners.add(fn); }

/** Parse the server's QR SVG and keep only its drawing (svg/path): never markup to run. */
function qrElement(svg) {
  // segno's inline SVG has no xmlns; parsed as XML it would not be SVG without one.
  const source = /^<svg[^>]*\sxmlns=/.test(svg) ? svg : svg.replace(/^<svg\b/, '<svg xmlns="http://www.w3.org/2000/svg"');
  const doc = new DOMParser().parseFromString(source, "image/svg+xml");
  const root = doc.documentElement;
  if (root.nodeName !== "svg" || [...root.querySelectorAll("*")].some((el) => el.nodeName !== "path")) return null;
  for (const attr of [...root.attributes]) if (attr.name.startsWith("on")) root.removeAttribute(attr.name);
  return document.importNode(root, true);
}

function showQr(code) {
  qr = code;
  const box = $("wa-qr");
  const el = qrElement(code.svg);
  box.replaceChildren(...(el ? [el] : []));
  box.dataset.value = code.value;
  box.dataset.expiresAt = String(code.expires_at);
  const link = $("wa-pair-link");
  if (link) link.href = code.value;
  let host = "";
  try { host = new URL(code.value).hostname; } catch { host = ""; }
  $("wa-local-hint").hidden = !LOCAL_HOSTS.has(host);
  tick();
  clearInterval(countdownTimer);
  countdownTimer = setInterval(tick, 1000);
}

function tick() {
  if (!qr) return;
  const left = Math.ceil((qr.expires_at - Date.now()) / 1000);
  $("wa-countdown").textContent = left > 0 ? t("wa.countdown", { s: left }) : t("wa.renewing");
}

function clearQr() {
  qr = null;
  clearInterval(countdownTimer);
  $("wa-qr").replaceChildren();
  delete $("wa-qr").dataset.value;
}

function render({ phone = card.dataset.phone, reason = card.dataset.reason } = {}) {
  card.dataset.state = state;
  card.dataset.phone = phone ?? "";
  const pill = $("wa-state");
  pill.textContent = t(`wa.state.${state}`);
  pill.className = `pill ${PILL[state] ?? ""}`;
  const reasonKey = `wa.reason.${reason}`;
  const failed = ["disconnected", "failed"].includes(state);
  $("wa-desc").textContent = failed && reason && t(reasonKey) !== reasonKey ? t(reasonKey) : t(`wa.desc.${state}`);
  const number = $("wa-number");
  number.hidden = !(state === "connected" && phone);
  number.textContent = phone ? t("wa.number", { phone: formatPhone(phone) }) : "";
  $("wa-qr-box").hidden = state !== "qr_pending" || !qr;
  if (state !== "qr_pending") clearQr();
  const connect = $("wa-connect");
  if (connect) {
    connect.hidden = state === "connected" || state === "qr_pending" || state === "starting";
    connect.querySelector("span").textContent = t(state === "stopped" ? "wa.connect" : "wa.reconnect");
    const unlink = $("wa-disconnect");
    unlink.hidden = !["connected", "qr_pending", "starting"].includes(state);
    if (!armedUnlink) unlink.textContent = t(state === "connected" ? "wa.disconnect" : "wa.cancel");
  }
  for (const fn of listeners) fn(state);
}

function setState(next, extra = {}) {
  state = next;
  render(extra);
}

function showError(message) {
  const el = $("wa-error");
  el.textContent = message ?? "";
  el.hidden = !message;
}

async function post(path) {
  showError(null);
  try {
    const resp = await fetch(path, { method: "POST", credentials: "same-origin" });
    if (!resp.ok) throw new Error(`${path} ${resp.status}`);
    return await resp.json();
  } catch (err) {
    console.warn(err);
    showError(t("wa.error"));
    return null;
  }
}

async function connect() {
  const button = $("wa-connect");
  button.disabled = true;
  const before = changes;
  const link = await post("/api/v1/whatsapp/connect");
  button.disabled = false;
  // The first QR event may arrive before this answer (read as "starting"): it wins.
  if (!link || changes !== before) return;
  if (link.state === "qr_pending" && !qr) await loadCurrent();
  else setState(link.state, { phone: link.phone, reason: link.reason });
}

async function unlink() {
  const button = $("wa-disconnect");
  if (!armedUnlink && state === "connected") {
    button.textContent = t("wa.disconnect_confirm");
    armedUnlink = setTimeout(() => { armedUnlink = null; button.textContent = t("wa.disconnect"); }, 4000);
    return;
  }
  clearTimeout(armedUnlink);
  armedUnlink = null;
  const before = changes;
  const link = await post("/api/v1/whatsapp/logout");
  if (link && changes === before) setState(link.state, { phone: link.phone, reason: link.reason });
}

/** The state (and code on screen) over REST: at start and after a resync. */
async function loadCurrent() {
  const resp = await fetch("/api/v1/whatsapp", { credentials: "same-origin", cache: "no-store" });
  if (!resp.ok) return;
  const link = await resp.json();
  if (link.qr) showQr(link.qr);
  setState(link.state, { phone: link.phone, reason: link.reason });
}

if (card) {
  $("wa-connect")?.addEventListener("click", connect);
  $("wa-disconnect")?.addEventListener("click", unlink);
  const rt = realtime();
  rt.on("whatsapp_qr", (data) => { changes += 1; showQr(data); setState("qr_pending"); });
  rt.on("whatsapp_authenticated", (data) => { changes += 1; setState("connected", { phone: data.phone, reason: "" }); });
  rt.on("whatsapp_disconnected", (data) => { changes += 1; setState(data.state ?? "disconnected", { reason: data.reason }); });
  rt.onResync(async () => { await loadCurrent(); return null; });
  if (state === "qr_pending" || state === "starting") loadCurrent(); else render();
}
