// The chat's browser-side strings: app/locales/chat.json, sent by the page in a JSON data
// block (keys "chat.*"), so templates and scripts share one table.

function load() {
  for (const id of ["i18n-data", "chat-text"]) {
    const node = document.getElementById(id);
    if (node) {
      try { return JSON.parse(node.textContent); } catch { /* fall through */ }
    }
  }
  return {};
}

const TEXT = load();

/** Translate a chat key ("today" → "chat.today"); `{name}` placeholders come from `vars`. Unknown keys give "". */
export function t(key, vars = null) {
  let text = TEXT[`chat.${key}`];
  if (text === undefined) return "";
  if (vars) for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}
