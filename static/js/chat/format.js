// Formatting for the chat: times and days in the browser's locale and time zone, initials,
// avatar colours, phone numbers. Pure functions, no DOM.
import { lang } from "../i18n.js";
import { t } from "./strings.js";

const locale = lang === "en" ? "en" : "es";
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const weekdayFmt = new Intl.DateTimeFormat(locale, { weekday: "long" });
const shortDateFmt = new Intl.DateTimeFormat(undefined, { day: "2-digit", month: "2-digit", year: "2-digit" });
const longDateFmt = new Intl.DateTimeFormat(locale, { day: "numeric", month: "long", year: "numeric" });
const DAY_MS = 86400000;

/** Server timestamps are epoch milliseconds; tolerate seconds too. */
export function toDate(ts) {
  const n = Number(ts);
  return new Date(n < 1e12 ? n * 1000 : n);
}

function startOfDay(d) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

/** A key that is equal for two timestamps on the same local day. */
export function dayKey(ts) {
  return startOfDay(toDate(ts));
}

export function formatTime(ts) {
  return timeFmt.format(toDate(ts));
}

/** The list's time column: the time today, "Ayer", the weekday within a week, else the date. */
export function formatListTime(ts, now = Date.now()) {
  const d = toDate(ts);
  const days = Math.round((startOfDay(new Date(now)) - startOfDay(d)) / DAY_MS);
  if (days <= 0) return formatTime(ts);
  if (days === 1) return t("yesterday");
  if (days < 7) return weekdayFmt.format(d);
  return shortDateFmt.format(d);
}

/** The thread's day separator: "Hoy", "Ayer", the weekday within a week, then the date. */
export function formatDay(ts, now = Date.now()) {
  const d = toDate(ts);
  const days = Math.round((startOfDay(new Date(now)) - startOfDay(d)) / DAY_MS);
  if (days <= 0) return t("today");
  if (days === 1) return t("yesterday");
  const text = days < 7 ? weekdayFmt.format(d) : longDateFmt.format(d);
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Digits as +56 9 8765 4321 for Chilean mobiles, else grouped in threes after the country code. */
export function formatPhone(digits) {
  const s = String(digits ?? "").replace(/\D/g, "");
  if (!s) return "";
  if (/^569\d{8}$/.test(s)) return `+56 9 ${s.slice(3, 7)} ${s.slice(7)}`;
  if (s.length > 8) {
    const cc = s.length > 11 ? s.slice(0, 3) : s.slice(0, 2);
    const rest = s.slice(cc.length).replace(/(\d{3})(?=\d{3,})/g, "$1 ");
    return `+${cc} ${rest}`;
  }
  return "+" + s;
}

/** The name to show for a contact: its name, else its formatted phone. */
export function contactLabel(contact) {
  const name = (contact?.name ?? "").trim();
  return name || formatPhone(contact?.phone);
}

/** Up to two initials from the name; "" for a number without a name (a person icon shows). */
export function initials(contact) {
  const name = (contact?.name ?? "").trim();
  if (!name) return "";
  const parts = name.split(/\s+/u).filter(Boolean);
  const first = [...parts[0]][0] ?? "";
  const last = parts.length > 1 ? [...parts[parts.length - 1]][0] ?? "" : "";
  return (first + last).toUpperCase();
}

// Avatar colours dark enough for white initials (≥ 4.5:1).
const AVATAR_COLOURS = ["#0b7a55", "#1f6fb2", "#8a4baf", "#b3541e", "#2d7d8c", "#6b5d1f", "#a33a5d", "#4a5a8c"];

/** A stable colour derived from the contact id. */
export function avatarColour(id) {
  let h = 0;
  for (const ch of String(id ?? "")) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return AVATAR_COLOURS[h % AVATAR_COLOURS.length];
}

/** A short text for a non-text message ("📷 Foto") or the body. */
export function previewText(message) {
  if (!message) return "";
  if (message.type && message.type !== "text") return t(`media_${message.type}`) || t("media_other");
  return message.body ?? "";
}

/** An element with a class and, when given, its text (always as textContent). */
export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}
