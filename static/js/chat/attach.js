// Attaching a photo or document to the open conversation: the clip button opens the file
// picker (a real button, so Tab + Enter reach it), the chosen file waits in a bar above the
// composer with its name and size (and a remove button) until Send; the composer's text then
// goes as its caption. The upload carries one Idempotency-Key across its retries, like a text
// send, so a retry never sends twice. The server checks everything again.
import { ApiError, newKey } from "./api.js";
import { formatSize } from "./media.js";
import { t } from "./strings.js";

const IMAGE_TYPES = ["image/jpeg", "image/png"];
// The document types the server takes (UPLOAD_DOCUMENT_TYPES), by the name's extension.
const DOCUMENT_EXT = /\.(pdf|txt|csv|zip|docx?|xlsx?|pptx?|odt|ods)$/i;
const IMAGE_MAX = 5 * 1024 * 1024;        // app/services/media.py UPLOAD_LIMITS
const DOCUMENT_MAX = 16 * 1024 * 1024;
const RETRIES = 3;

function limitFor(file) { return IMAGE_TYPES.includes(file.type) ? IMAGE_MAX : DOCUMENT_MAX; }

/** POST the file as multipart; a non-2xx answer throws ApiError, a network failure TypeError. */
async function upload(conversationId, file, caption, key) {
  const form = new FormData();
  if (caption) form.append("caption", caption);
  form.append("file", file, file.name);
  const resp = await fetch(`/api/v1/conversations/${encodeURIComponent(conversationId)}/media`, {
    method: "POST", body: form, credentials: "same-origin", headers: { "Idempotency-Key": key },
  });
  let data = null;
  try { data = await resp.json(); } catch { data = null; }
  if (!resp.ok) throw new ApiError(resp.status, data?.error?.code, data?.error?.message);
  return data;
}

export class Attacher {
  /** @param {HTMLElement} wrap the composer's wrapper (holds the bar, the button and the input) */
  constructor(wrap, { conversation }) {
    this.conversation = conversation;     // () => the open conversation id
    this.button = wrap.querySelector(".attach-btn");
    this.input = wrap.querySelector(".attach-input");
    this.bar = wrap.querySelector(".attach-bar");
    this.name = this.bar.querySelector(".attach-name");
    this.note = this.bar.querySelector(".attach-note");
    this.file = null;
    this.key = "";
    this.busy = false;
    this.button.addEventListener("click", () => this.input.click());
    this.input.addEventListener("change", () => { if (this.input.files[0]) this.pick(this.input.files[0]); });
    this.bar.querySelector(".attach-remove").addEventListener("click", () => { this.clear(); this.button.focus(); });
  }

  /** A file was chosen: checked here first so the shop owner hears at once what is wrong. */
  pick(file) {
    this.input.value = "";
    this.file = file;
    this.key = newKey();
    this.bar.hidden = false;
    this.name.textContent = `${file.name} · ${formatSize(file.size)}`;
    const kindOk = IMAGE_TYPES.includes(file.type) || (!file.type.startsWith("image/") && DOCUMENT_EXT.test(file.name));
    if (!kindOk) return this.problem(t("attach_err_unsupported_media_type"));
    if (file.size > limitFor(file)) return this.problem(t("attach_err_file_too_large", { mb: limitFor(file) / 1048576 }));
    this.setNote(t("attach_ready"), false);
    return true;
  }

  problem(text) {
    this.setNote(text, true);
    this.file = null;
    return false;
  }

  setNote(text, isError) {
    this.note.textContent = text;
    this.note.classList.toggle("attach-error", isError);
  }

  clear() {
    this.file = null;
    this.bar.hidden = true;
    this.bar.removeAttribute("aria-busy");
  }

  setEnabled(enabled) { this.button.disabled = !enabled; }

  /** Send the waiting file with `caption`; true when it is on its way (the composer then clears). */
  async send(caption) {
    const conv = this.conversation();
    if (!this.file || this.busy || !conv) return false;
    this.busy = true;
    this.bar.setAttribute("aria-busy", "true");
    this.setNote(t("attach_sending"), false);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await upload(conv, this.file, caption, this.key);
          this.clear();
          return true;
        } catch (err) {
          const again = !(err instanceof ApiError) || err.status >= 500 || err.status === 429;
          if (!again || attempt >= RETRIES) {
            const known = err instanceof ApiError && t(`attach_err_${err.code}`, { mb: limitFor(this.file) / 1048576 });
            this.setNote(known || t("attach_err_other"), true);
            this.bar.removeAttribute("aria-busy");
            return false;
          }
          await new Promise((r) => setTimeout(r, 400 * 2 ** attempt));
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
