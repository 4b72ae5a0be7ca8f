// Browser notifications and the title badge "(3) Condorito" for new inbound messages while
// the tab is hidden or another conversation is open. Permission is asked only from a button.
import { contactLabel, previewText } from "./format.js";
import { t } from "./strings.js";

export class Notifier {
  /** @param {{button: HTMLButtonElement, onOpen: Function}} opts */
  constructor({ button, onOpen }) {
    this.baseTitle = document.title.replace(/^\(\d+\)\s*/, "");
    this.button = button;
    this.onOpen = onOpen;
    this.unread = 0;
    const supported = "Notification" in window;
    button.hidden = !supported || Notification.permission !== "default";
    button.addEventListener("click", async () => {
      const answer = await Notification.requestPermission();
      button.hidden = true;
      if (answer === "denied") button.title = t("notify_denied");
    });
  }

  /** The tenant's unread total (stats_updated): the title shows it like WhatsApp Web does. */
  setUnread(n) {
    this.unread = Number(n) || 0;
    document.title = this.unread > 0 ? `(${this.unread}) ${this.baseTitle}` : this.baseTitle;
  }

  /** A new inbound message; `openId` is the conversation on screen (null for none). */
  inbound(message, conversation, openId) {
    const away = document.visibilityState === "hidden" || openId !== message.conversation_id;
    if (!away || !("Notification" in window) || Notification.permission !== "granted") return;
    try {
      const n = new Notification(contactLabel(conversation?.contact) || t("notify_new"), {
        body: previewText(message).slice(0, 140),
        tag: `conv-${message.conversation_id}`,
      });
      n.onclick = () => { window.focus(); this.onOpen(message.conversation_id); n.close(); };
    } catch { /* some browsers only allow notifications from a service worker */ }
  }
}
