// The keyword rules editor of the bot page: one card per rule (how to match, the word, the
// reply, an optional numbered menu), in the order the bot checks them.
import { t } from "./i18n.js";
import { h, field } from "./bot_dom.js";

const MATCHES = ["word", "contains", "regex"];
const MAX_MENU = 9;

export class KeywordsEditor {
  constructor(list, empty, onChange) {
    this.list = list;
    this.empty = empty;
    this.onChange = onChange;
    this.rules = [];
  }

  set(rules) {
    this.rules = rules.map((r) => ({ match: r.match, pattern: r.pattern, reply: r.reply,
                                      menu: (r.menu || []).map((o) => ({ label: o.label, reply: o.reply })) }));
    this.render();
  }

  value() {
    return this.rules.map((r) => ({ match: r.match, pattern: r.pattern, reply: r.reply,
                                     menu: r.menu.map((o) => ({ label: o.label, reply: o.reply })) }));
  }

  add() {
    this.rules.push({ match: "word", pattern: "", reply: "", menu: [] });
    this.render();
    this.onChange();
    this.list.lastElementChild?.querySelector("input")?.focus();
  }

  /** Rebuild the list (rules are few: at most 50), keeping focus on the same control. */
  render(focusPath = null) {
    this.list.replaceChildren(...this.rules.map((rule, i) => this.card(rule, i)));
    this.empty.hidden = this.rules.length > 0;
    if (focusPath) this.list.querySelector(`[data-path="${focusPath}"]`)?.focus();
  }

  change(fn, focusPath = null) {
    fn();
    this.render(focusPath);
    this.onChange();
  }

  card(rule, i) {
    const n = i + 1;
    const path = `keywords[${i}]`;
    const input = (key, tag, attrs) => {
      const control = h(tag, { ...attrs, "data-path": `${path}.${key}`, value: rule[key] });
      control.addEventListener("input", () => { rule[key] = control.value; this.onChange(); });
      return control;
    };
    const select = h("select", { "data-path": `${path}.match` },
      ...MATCHES.map((m) => h("option", { value: m, selected: m === rule.match, text: t(`botui.match.${m}`) })));
    select.addEventListener("change", () => { rule.match = select.value; this.onChange(); });
    const tools = h("div", { class: "rule-tools" },
      h("button", { type: "button", class: "secondary icon-btn", "aria-label": t("botui.move_up", { n }),
                    disabled: i === 0, text: "↑",
                    onclick: () => this.change(() => this.swap(i, i - 1)) }),
      h("button", { type: "button", class: "secondary icon-btn", "aria-label": t("botui.move_down", { n }),
                    disabled: i === this.rules.length - 1, text: "↓",
                    onclick: () => this.change(() => this.swap(i, i + 1)) }),
      h("button", { type: "button", class: "danger", text: t("botui.remove_keyword", { n }),
                    onclick: () => this.change(() => this.rules.splice(i, 1)) }));
    const menu = h("fieldset", { class: "menu-edit" }, h("legend", { text: t("botui.menu") }),
      h("p", { class: "hint", text: t("botui.menu_hint") }),
      ...rule.menu.map((opt, j) => this.option(rule, opt, i, j)));
    if (rule.menu.length < MAX_MENU) {
      menu.append(h("button", { type: "button", class: "secondary", text: t("botui.add_option"),
        onclick: () => this.change(() => rule.menu.push({ label: "", reply: "" }),
                                   `${path}.menu[${rule.menu.length}].label`) }));
    }
    return h("li", { class: "rule" },
      h("div", { class: "rule-head" }, h("h3", { text: t("botui.keyword_n", { n }) }), tools),
      h("div", { class: "rule-grid" },
        field(t("botui.match"), select),
        field(t("botui.pattern"), input("pattern", "input", { type: "text", maxlength: 200, autocomplete: "off" }))),
      field(t("botui.reply"), input("reply", "textarea", { rows: 2 })),
      menu);
  }

  option(rule, opt, i, j) {
    const n = j + 1;
    const path = `keywords[${i}].menu[${j}]`;
    const control = (key, tag, attrs) => {
      const c = h(tag, { ...attrs, "data-path": `${path}.${key}`, value: opt[key] });
      c.addEventListener("input", () => { opt[key] = c.value; this.onChange(); });
      return c;
    };
    return h("div", { class: "option" },
      h("span", { class: "option-key num", "aria-hidden": "true", text: `${n}.` }),
      field(t("botui.option_label", { n }), control("label", "input", { type: "text", maxlength: 100 })),
      field(t("botui.option_reply", { n }), control("reply", "textarea", { rows: 1 })),
      h("button", { type: "button", class: "secondary icon-btn", "aria-label": t("botui.remove_option", { n }),
                    text: "✕", onclick: () => this.change(() => rule.menu.splice(j, 1)) }));
  }

  swap(a, b) {
    [this.rules[a], this.rules[b]] = [this.rules[b], this.rules[a]];
  }
}
