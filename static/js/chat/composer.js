// The composer and the sender: Enter sends, Shift+Enter is a newline; each send gets one
// Idempotency-Key kept across its retries, so a retry never sends twice.
import { ApiError, newKey, sendMessage } from "./api.js";
import { t } from "./strings.js";

const MAX_LINES = 6;
const RETRIES = 4;                  // automatic retries of a send that failed in transit
const RETRY_BASE_MS = 400;

/** Network failures, 5xx and 429 are worth retrying with the same key; other 4xx are final. */
function retryable(err) {
  return !(err instanceof ApiError) || err.status >= 500 || err.status === 429;
}

export class Composer {
  /**
   * @param {HTMLFormElement} form
   * @param {{onSubmit: Function, onTyping: Function}} opts
   */
  constructor(form, { onSubmit, onTyping, attacher = null }) {
    this.form = form;
    this.attacher = attacher;       // a photo or document waiting to go (attach.js)
    this.input = form.querySelector("textarea");
    this.button = form.querySelector("button[type=submit]");
    this.reason = form.parentElement.querySelector(".composer-reason");
    this.onSubmit = onSubmit;
    this.enabled = true;
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => { this.grow(); onTyping(this.input.value !== ""); });
    form.addEventListener("submit", (ev) => { ev.preventDefault(); this.submit(); });
  }

  async submit() {
    const body = this.input.value.trim();
    if (!this.enabled) return;
    if (this.attacher?.file) {      // the text goes as the file's caption
      if (await this.attacher.send(body)) { this.input.value = ""; this.grow(); this.input.focus(); }
      return;
    }
    if (!body) return;
    this.input.value = "";
    this.grow();
    this.onSubmit(body);
    this.input.focus();
  }

  /** Auto-grow up to six lines, then scroll inside. */
  grow() {
    const s = this.input.style;
    s.height = "auto";
    const line = parseFloat(getComputedStyle(this.input).lineHeight) || 20;
    const max = line * MAX_LINES + 16;
    s.height = `${Math.min(this.input.scrollHeight, max)}px`;
  }

  /** Enable, or disable with the reason in words (e.g. WhatsApp not connected). */
  setEnabled(enabled, reason = "") {
    this.enabled = enabled;
    this.input.disabled = !enabled;
    this.button.disabled = !enabled;
    this.attacher?.setEnabled(enabled);
    this.reason.hidden = enabled;
    this.reason.querySelector(".reason-text").textContent = reason;
    this.form.setAttribute("aria-disabled", String(!enabled));
  }

  focus() { if (this.enabled) this.input.focus(); }
}

/**
 * Sends messages: optimistic first, then POST with the message's key, retried in transit.
 * `onEvent(kind, local, detail)` reports "confirmed" (server message) and "failed" (reason).
 */
export class Sender {
  constructor({ meId, meName, onEvent }) {
    this.meId = meId;
    this.meName = meName;
    this.onEvent = onEvent;
    this.pending = new Map();     // temp id -> optimistic message (until the server answers)
  }

  /** The optimistic message for a new send. */
  create(conversationId, body) {
    const key = newKey();
    const local = {
      id: `local-${key}`, key, local: true, conversation_id: conversationId, direction: "out",
      type: "text", body, status: "queued", created_at: Date.now(),
      author: { kind: "user", id: this.meId, name: this.meName },
    };
    this.pending.set(local.id, local);
    return local;
  }

  /** POST it, retrying network and server failures with the same Idempotency-Key. */
  async deliver(local) {
    local.status = "queued";
    local.errorText = "";
    for (let attempt = 0; ; attempt++) {
      try {
        const message = await sendMessage(local.conversation_id, local.body, local.key);
        this.settle(local, message);
        return;
      } catch (err) {
        if (!this.pending.has(local.id)) return;
        if (!retryable(err) || attempt >= RETRIES) {
          this.pending.delete(local.id);
          if (local.serverId) return;   // its event showed the server has it: not a failure
          local.status = "failed";
          local.errorText = err instanceof ApiError ? t("failed_unknown") : t("failed_network");
          this.onEvent("failed", local, err);
          return;
        }
        await new Promise((r) => setTimeout(r, RETRY_BASE_MS * 2 ** attempt));
      }
    }
  }

  /** The retry button of a failed send: the same key again. */
  retry(local) {
    this.pending.set(local.id, local);
    return this.deliver(local);
  }

  settle(local, message) {
    if (!this.pending.delete(local.id)) return;
    this.onEvent("confirmed", local, message);
  }

  /**
   * A new_message event for an outbound message of mine may arrive before the POST answer
   * (events are published before the REST reply): match it to the oldest pending send with the
   * same body in the same conversation so the bubble is not shown twice.
   */
  claim(message) {
    if (message.direction !== "out" || message.author?.id !== this.meId) return null;
    for (const local of this.pending.values()) {
      if (!local.serverId && local.conversation_id === message.conversation_id && local.body === message.body) {
        // Stays pending: a POST that failed in transit is still retried with its key, and the
        // server answers the same message (Idempotent-Replayed) instead of storing another.
        local.serverId = message.id;
        return local;
      }
    }
    return null;
  }
}
