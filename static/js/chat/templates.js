// The template picker: on the Cloud API, once the customer's last message is more than 24 h
// old, WhatsApp only delivers approved templates (131047 otherwise), so the composer gives way
// to a choice of template, one field per {{n}} parameter and a preview of what will be sent.
import { newKey, request } from "./api.js";
import { t } from "./strings.js";

export const WINDOW_MS = 24 * 3600 * 1000;
const PLACEHOLDER = /\{\{\s*(\d{1,2})\s*\}\}/g;

/** True when only templates can reach this conversation's customer. */
export function windowClosed(item, provider, now = Date.now()) {
  if (provider !== "cloud" || !item) return false;
  return !item.last_inbound_at || now - item.last_inbound_at > WINDOW_MS;
}

/** The template body with the parameters typed so far ("{{2}}" stays while empty). */
export function render(body, params) {
  return body.replace(PLACEHOLDER, (m, n) => params[Number(n) - 1] || m);
}

export class TemplatePicker {
  /** @param {HTMLFormElement} form  @param {{onSent: Function}} opts */
  constructor(form, { onSent }) {
    this.form = form;
    this.select = form.querySelector("select");
    this.params = form.querySelector(".tpl-params");
    this.preview = form.querySelector(".tpl-preview");
    this.button = form.querySelector("button[type=submit]");
    this.error = form.querySelector(".tpl-error");
    this.onSent = onSent;
    this.templates = null;     // loaded once per page, when first needed
    this.conversationId = null;
    this.key = null;           // one Idempotency-Key per send, kept across its retries
    this.select.addEventListener("change", () => this.build());
    form.addEventListener("input", (ev) => { if (ev.target.matches(".tpl-params input")) this.update(); });
    form.addEventListener("submit", (ev) => { ev.preventDefault(); this.submit(); });
  }

  /** Show (for a conversation) or hide the picker. */
  async show(conversationId) {
    this.form.hidden = conversationId === null;
    if (conversationId === null || conversationId === this.conversationId) return;
    this.conversationId = conversationId;
    this.key = null;
    this.setError("");
    if (this.templates === null) await this.load();
  }

  async load() {
    this.select.replaceChildren(new Option(t("tpl_loading"), ""));
    this.select.disabled = true;
    try {
      this.templates = (await request("GET", "/api/v1/whatsapp/templates")).items;
    } catch (err) {
      this.templates = null;
      this.select.replaceChildren();
      this.setError(t(`tpl_err_${err.code}`) || t("tpl_err_load"));
      this.update();
      return;
    }
    const options = this.templates.map((tpl, i) => new Option(`${tpl.name} (${tpl.language})`, String(i)));
    this.select.replaceChildren(...options);
    this.select.disabled = options.length === 0;
    if (options.length === 0) this.setError(t("tpl_none"));
    this.build();
  }

  current() {
    return this.templates?.[Number(this.select.value)] ?? null;
  }

  /** One labelled field per parameter of the chosen template. */
  build() {
    const tpl = this.current();
    const fields = [];
    for (let n = 1; tpl && n <= tpl.params; n += 1) {
      const label = document.createElement("label");
      const id = `tpl-param-${n}`;
      label.htmlFor = id;
      label.textContent = t("tpl_param", { n });
      const input = document.createElement("input");
      input.id = id;
      input.required = true;
      input.maxLength = 1024;
      input.autocomplete = "off";
      const row = document.createElement("div");
      row.className = "tpl-param";
      row.append(label, input);
      fields.push(row);
    }
    this.params.replaceChildren(...fields);
    this.key = null;
    this.update();
  }

  values() {
    return Array.from(this.params.querySelectorAll("input"), (i) => i.value.trim());
  }

  update() {
    const tpl = this.current();
    this.preview.textContent = tpl ? render(tpl.body, this.values()) : "";
    this.preview.hidden = !tpl;
    this.button.disabled = !tpl || this.values().some((v) => !v);
  }

  setError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }

  async submit() {
    const tpl = this.current();
    if (!tpl || this.button.disabled || this.conversationId === null) return;
    this.key = this.key || newKey();
    this.button.disabled = true;
    this.setError("");
    try {
      const message = await request("POST", `/api/v1/conversations/${encodeURIComponent(this.conversationId)}/messages`, {
        body: { template: { name: tpl.name, language: tpl.language, params: this.values() } },
        headers: { "Idempotency-Key": this.key },
      });
      this.key = null;
      for (const input of this.params.querySelectorAll("input")) input.value = "";
      this.onSent(message);
    } catch (err) {
      this.setError(t(`tpl_err_${err.code}`) || t("tpl_err_send"));
    } finally {
      this.update();
    }
  }
}
