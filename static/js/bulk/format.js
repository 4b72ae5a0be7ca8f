// What the bulk pages share: campaign figures as text, message variables, small DOM helpers.
import { formatNumber, has, lang, t } from "../i18n.js";

export { formatNumber, t };

/** An element with a class and, when given, its text (always as textContent, never HTML). */
export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

export const ACTIVE = new Set(["running", "scheduled", "paused", "queued", "starting"]);
export const DONE = new Set(["completed", "cancelled", "failed"]);

/** The status of a campaign in words ("En curso"); unknown states say so, never a raw code. */
export function statusText(status) {
  const key = `bulk.status.${status}`;
  return has(key) ? t(key) : t("bulk.status.unknown");
}

/** The pill colour of a status. */
export function statusClass(status) {
  if (status === "completed") return "ok";
  if (status === "failed" || status === "cancelled") return "danger";
  if (status === "paused") return "warn";
  return "";
}

/** Recipients that are finished (whatever the outcome), out of the total. */
export function done(c) {
  const total = c.total ?? 0;
  if (c.pending !== undefined && c.pending !== null) return Math.max(0, total - c.pending);
  return (c.sent ?? 0) + (c.failed ?? 0) + (c.skipped ?? 0);
}

/** Whole percent done; 100 only when nothing is left. */
export function percent(c) {
  const total = c.total ?? 0;
  if (!total) return DONE.has(c.status) ? 100 : 0;
  const p = Math.floor((done(c) * 100) / total);
  return done(c) >= total ? 100 : Math.min(99, p);
}

const rtf = new Intl.RelativeTimeFormat(lang === "es" ? "es" : "en", { numeric: "auto" });

/** "about 5 minutes" style text for an ETA in seconds; empty when unknown. */
export function etaText(seconds) {
  if (typeof seconds !== "number" || !isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return t("bulk.eta_soon");
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return rtf.format(minutes, "minute");
  return rtf.format(Math.round(minutes / 60), "hour");
}

/** Messages a minute, from the campaign's rate (messages a second). */
export function rateText(rate) {
  if (typeof rate !== "number" || !(rate > 0)) return "";
  const perMinute = rate * 60;
  return t("bulk.rate", { n: formatNumber(perMinute >= 10 ? Math.round(perMinute) : Math.round(perMinute * 10) / 10) });
}

const dateFormat = new Intl.DateTimeFormat(lang === "es" ? "es-CL" : "en", { dateStyle: "medium", timeStyle: "short" });

/** A unix-ms time (or ISO string) in the reader's time zone. */
export function formatDate(value) {
  if (value === null || value === undefined || value === "") return "";
  const d = new Date(typeof value === "number" ? value : String(value));
  return isNaN(d) ? "" : dateFormat.format(d);
}

// -- variables: the same rules as app/services/bulk_import.py (key, render) -------------------

const VARIABLE = /\{\{\s*([^{}]{1,60}?)\s*\}\}/g;

/** A column name as a variable name: "Fecha de cita" -> "fecha_de_cita". */
export function varKey(name) {
  return name.trim().normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase()
    .replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
}

/** The message one recipient reads: {{nombre}}/{{name}} and any column filled in. */
export function render(body, recipient) {
  const vars = recipient.vars ?? {};
  return body.replace(VARIABLE, (m, raw) => {
    const k = varKey(raw);
    if ((k === "nombre" || k === "name") && !(k in vars)) return recipient.name ?? "";
    return vars[k] ?? "";
  });
}

/** Variables the message uses that no column fills. */
export function unknownVariables(body, columns) {
  const known = new Set([...columns, "nombre", "name"]);
  const used = [...body.matchAll(VARIABLE)].map((m) => varKey(m[1]));
  return [...new Set(used)].filter((k) => !known.has(k));
}

/** An API error in words for the user, from the `bulk.err.<code>` table. */
export function errorText(err) {
  if (err instanceof TypeError) return t("bulk.err.network");
  const key = `bulk.err.${err?.code}`;
  return has(key) ? t(key) : t("bulk.err.generic");
}
