// Browser-side strings. The server puts every string of the page's language in
// <script type="application/json" id="i18n-data"> (app/i18n.py client_text; the source is
// app/locales/*.json), so Python templates and JS share one table and one test of completeness.

const node = document.getElementById("i18n-data");
const TEXT = node ? JSON.parse(node.textContent) : {};

export const lang = document.documentElement.lang === "en" ? "en" : "es";

/** Translate `key`, filling `{name}` placeholders from `values`; an unknown key shows as itself. */
export function t(key, values = null) {
  const text = TEXT[key];
  if (text === undefined) {
    console.warn(`i18n: missing key ${key}`);
    return key;
  }
  return values ? text.replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m)) : text;
}

/** Whether `key` has a text (for codes from the server that may be new to this page). */
export function has(key) {
  return TEXT[key] !== undefined;
}

const numberFormat = new Intl.NumberFormat(lang === "es" ? "es-CL" : "en");

/** A figure in the reader's convention (1.234 in Spanish, 1,234 in English). */
export function formatNumber(n) {
  return numberFormat.format(n);
}

/** +56 9 8765 4321 from "56987654321" (Chilean mobiles grouped; other numbers in threes). */
export function formatPhone(digits) {
  const d = String(digits ?? "").replace(/\D/g, "");
  if (!d) return "";
  if (d.startsWith("569") && d.length === 11) return `+56 9 ${d.slice(3, 7)} ${d.slice(7)}`;
  if (d.length <= 4) return `+${d}`;
  const cc = d.length > 10 ? d.slice(0, d.length - 10) : d.slice(0, 2);
  const rest = d.slice(cc.length).replace(/(\d{3})(?=\d{3,})/g, "$1 ");
  return `+${cc} ${rest}`;
}
