// The bot page's "try a message" box: POST /api/v1/bot/try with the form's unsaved settings,
// the same evaluation the real pipeline runs; shows the reply as a bubble and which rule
// answered. A menu the bot just showed stays open for the next try, as in a conversation.
import { t } from "./i18n.js";
import { h } from "./bot_dom.js";

export function setupTry(draft, showErrors) {
  const form = document.getElementById("bot-try");
  const input = document.getElementById("bot-try-text");
  const fresh = document.getElementById("bot-try-new");
  const result = document.getElementById("bot-try-result");
  let menu = null;

  function ruleName(answer, settings) {
    if (answer.rule === "keyword" && answer.keyword !== null) {
      return t("botui.rule.keyword", { pattern: settings.keywords[answer.keyword]?.pattern ?? "" });
    }
    return t(`botui.rule.${answer.rule}`);
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) { input.focus(); return; }
    const settings = draft();
    const button = document.getElementById("bot-try-send");
    button.disabled = true;
    try {
      const resp = await fetch("/api/v1/bot/try", { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text, settings, new_contact: fresh.checked, menu }) });
      const body = await resp.json();
      if (!resp.ok) {
        if (body.error?.fields) showErrors(body.error.fields);
        throw new Error(`try ${resp.status}`);
      }
      menu = body.menu;
      const parts = [h("p", { class: "try-rule", "data-rule": body.rule, text: t("botui.try_rule", { rule: ruleName(body, settings) }) })];
      parts.push(h("div", { class: "try-chat" }, h("div", { class: "bubble in", text })));
      if (body.reply) parts[1].append(h("div", { class: "bubble out", "data-testid": "try-reply", text: body.reply }));
      if (menu !== null && body.rule === "keyword") parts.push(h("p", { class: "hint", text: t("botui.try_menu_open") }));
      result.replaceChildren(...parts);
      input.value = "";
    } catch (err) {
      console.warn(err);
      result.replaceChildren(h("p", { class: "notice danger", text: t("botui.try_failed") }));
    } finally {
      button.disabled = false;
    }
  });
  fresh.addEventListener("change", () => { menu = null; });
}
