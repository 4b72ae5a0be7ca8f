// The open thread: bubbles in / out, day separators, ticks, failed sends with a retry button,
// older pages on scroll up (keeping the position), autoscroll only when at the bottom.
import { contactLabel, dayKey, el, formatDay, formatPhone, formatTime, initials, avatarColour } from "./format.js";
import { fillAvatar, tick } from "./icons.js";
import { t } from "./strings.js";

const GROUP_MS = 5 * 60 * 1000;    // DESIGN: consecutive messages of one side within 5 min group
const NEAR_BOTTOM_PX = 48;
const LOAD_OLDER_WITHIN_PX = 300;

export class ThreadView {
  /**
   * @param {HTMLElement} root  the thread pane
   * @param {{meId: string, onLoadOlder: Function, onRetry: Function, onBack: Function,
   *          onSeenBottom: Function}} opts
   */
  constructor(root, opts) {
    this.root = root;
    this.opts = opts;
    this.thread = null;
    this.nodes = new Map();           // message id -> row element
    this.unseen = 0;
    this.header = root.querySelector(".thread-header");
    this.avatar = root.querySelector(".thread-header .avatar");
    this.title = root.querySelector(".thread-title");
    this.subtitle = root.querySelector(".thread-sub");
    this.typing = root.querySelector(".thread-typing");
    this.scroller = root.querySelector(".messages");
    this.list = root.querySelector(".messages-list");
    this.older = root.querySelector(".messages-older");
    this.pill = root.querySelector(".new-pill");
    this.announcer = root.querySelector(".thread-announce");
    root.querySelector(".back").addEventListener("click", () => opts.onBack());
    this.pill.addEventListener("click", () => this.scrollToBottom());
    this.scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    this.list.addEventListener("click", (ev) => {
      const btn = ev.target.closest("button.retry-send");
      if (btn) opts.onRetry(btn.closest(".msg").dataset.id);
    });
  }

  /** Show a conversation header (list item) and its cached messages. */
  show(item, thread) {
    this.thread = thread;
    this.nodes.clear();
    this.list.replaceChildren();
    this.unseen = 0;
    this.updatePill();
    this.setHeader(item);
    this.setTyping("");
    this.renderAll();
    this.scrollToBottom();
  }

  setHeader(item) {
    if (!item) return;
    fillAvatar(this.avatar, initials(item.contact));
    this.avatar.style.backgroundColor = avatarColour(item.contact?.id);
    this.title.textContent = contactLabel(item.contact);
    this.subtitle.textContent = item.contact?.name ? formatPhone(item.contact.phone) : "";
  }

  setTyping(text) {
    this.typing.textContent = text;
    this.typing.hidden = !text;
    this.subtitle.hidden = Boolean(text) || !this.subtitle.textContent;
  }

  setLoading(on) { this.older.hidden = !on; }

  atBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.unseen = 0;
    this.updatePill();
  }

  onScroll() {
    if (!this.thread) return;
    if (this.scroller.scrollTop < LOAD_OLDER_WITHIN_PX && this.thread.hasOlder) this.opts.onLoadOlder();
    if (this.atBottom() && this.unseen) { this.unseen = 0; this.updatePill(); this.opts.onSeenBottom(); }
  }

  updatePill() {
    this.pill.hidden = this.unseen === 0;
    this.pill.querySelector(".pill-count").textContent = this.unseen > 1 ? String(this.unseen) : "";
  }

  /** Build every row of the thread at once (opening a conversation). */
  renderAll() {
    const frag = document.createDocumentFragment();
    let prev = null;
    for (const m of this.thread.messages) {
      this.appendRow(frag, m, prev);
      prev = m;
    }
    this.list.append(frag);
    if (!this.thread.messages.length) this.list.append(el("p", "thread-empty", t("thread_empty")));
  }

  appendRow(parent, m, prev) {
    if (!prev || dayKey(prev.created_at) !== dayKey(m.created_at)) {
      const sep = el("div", "day-sep");
      sep.append(el("span", "", formatDay(m.created_at)));
      sep.dataset.day = String(dayKey(m.created_at));
      parent.append(sep);
    }
    const row = this.makeRow(m, prev);
    parent.append(row);
    this.nodes.set(m.id, row);
  }

  /** `count` older messages were put at the front of the thread: render them above. */
  prependOlder(count) {
    const s = this.scroller;
    const before = s.scrollHeight - s.scrollTop;
    const msgs = this.thread.messages;
    const frag = document.createDocumentFragment();
    let prev = null;
    for (let i = 0; i < count; i++) { this.appendRow(frag, msgs[i], prev); prev = msgs[i]; }
    // The old first row may now continue the group or share the day of the new last one.
    const oldFirst = msgs[count];
    if (oldFirst && prev && dayKey(prev.created_at) === dayKey(oldFirst.created_at)) {
      const sep = this.list.querySelector(".day-sep");
      if (sep && sep.nextElementSibling === this.nodes.get(oldFirst.id)) sep.remove();
    }
    this.list.prepend(frag);
    if (oldFirst) this.regroup(oldFirst, prev);
    s.scrollTop = s.scrollHeight - before;    // the reader stays on the same message
  }

  /** A new or changed message of the open thread. */
  upsert(m, { announce = false } = {}) {
    const existing = this.nodes.get(m.id);
    if (existing) { this.updateRow(existing, m); return; }
    const msgs = this.thread.messages;
    const index = msgs.indexOf(m);
    if (index < 0) return;
    const wasBottom = this.atBottom();
    this.list.querySelector(".thread-empty")?.remove();
    const next = msgs[index + 1];
    const nextNode = next ? this.nodes.get(next.id) : null;
    if (nextNode) {
      // Out of order (rare): place it before its successor and keep the day separators right.
      const frag = document.createDocumentFragment();
      this.appendRow(frag, m, msgs[index - 1]);
      const sep = nextNode.previousElementSibling?.classList.contains("day-sep") ? nextNode.previousElementSibling : null;
      this.list.insertBefore(frag, sep && dayKey(m.created_at) === Number(sep.dataset.day) ? sep : nextNode);
      if (sep && dayKey(m.created_at) === Number(sep.dataset.day)) sep.remove();
    } else {
      this.appendRow(this.list, m, msgs[index - 1]);
    }
    this.nodes.get(m.id)?.classList.add("fresh");
    const mine = m.direction === "out" && m.author?.id === this.opts.meId;
    if (wasBottom || mine) {
      this.scrollToBottom();
    } else {
      this.unseen += 1;
      this.updatePill();
    }
    if (announce && m.direction === "in") this.announcer.textContent = `${t("new_messages")}: ${m.body ?? ""}`;
  }

  /** Replace an optimistic row's id after the server confirmed it. */
  rekey(tempId, m) {
    const node = this.nodes.get(tempId);
    if (!node) return;
    this.nodes.delete(tempId);
    if (this.nodes.has(m.id)) { node.remove(); this.updateRow(this.nodes.get(m.id), m); return; }
    node.dataset.id = m.id;
    this.nodes.set(m.id, node);
    this.updateRow(node, m);
  }

  remove(id) {
    this.nodes.get(id)?.remove();
    this.nodes.delete(id);
  }

  regroup(m, prev) {
    const node = this.nodes.get(m.id);
    if (node) node.classList.toggle("cont", this.continues(m, prev));
  }

  continues(m, prev) {
    return Boolean(prev) && prev.direction === m.direction && dayKey(prev.created_at) === dayKey(m.created_at)
      && m.created_at - prev.created_at < GROUP_MS && this.authorKey(prev) === this.authorKey(m);
  }

  authorKey(m) { return m.direction === "in" ? "in" : `${m.author?.kind}:${m.author?.id ?? ""}`; }

  makeRow(m, prev) {
    const row = el("div", `msg ${m.direction === "out" ? "out" : "in"}`);
    row.dataset.id = m.id;
    if (this.continues(m, prev)) row.classList.add("cont");
    const bubble = el("div", "bubble");
    const author = this.authorName(m);
    if (author) bubble.append(el("div", "author", author));
    if (m.type && m.type !== "text") {
      const media = el("div", "media");
      media.append(el("span", "media-kind", t(`media_${m.type}`) || t("media_other")));
      media.append(el("span", "media-note", t("media_placeholder")));
      bubble.append(media);
    }
    if (m.body) bubble.append(el("div", "text", m.body));
    const meta = el("span", "meta");
    const time = el("time", "", formatTime(m.created_at));
    meta.append(time);
    bubble.append(meta);
    row.append(bubble);
    row.parts = { bubble, meta };
    this.updateRow(row, m);
    return row;
  }

  authorName(m) {
    if (m.direction !== "out" || !m.author) return "";
    if (m.author.kind === "bot") return t("bot");
    if (m.author.kind === "campaign" || m.author.kind === "bulk") return t("campaign");
    if (m.author.kind === "user" && m.author.id !== this.opts.meId) return m.author.name || "";
    return "";
  }

  /** Status-dependent parts: the tick, the failure line and its retry button. */
  updateRow(row, m) {
    if (m.direction !== "out") return;
    const { bubble, meta } = row.parts;
    const status = m.local && m.status !== "failed" ? "queued" : m.status;
    const old = meta.querySelector(".tick");
    if (old?.dataset.status !== status) {
      const fresh = tick(status);
      if (old) old.replaceWith(fresh); else meta.append(fresh);
    }
    row.dataset.status = m.local && m.status !== "failed" ? "sending" : m.status;
    let fail = bubble.querySelector(".fail");
    if (m.status === "failed") {
      if (!fail) {
        fail = el("div", "fail");
        fail.setAttribute("role", "alert");
        fail.append(el("span", "fail-reason"));
        bubble.append(fail);
      }
      // Never a raw code on screen: known codes have words, the rest a plain "not sent".
      const reason = m.errorText || (m.error ? t(`err_${m.error}`) : "");
      fail.querySelector(".fail-reason").textContent = reason ? t("failed_reason", { reason }) : t("failed_unknown");
      const canRetry = true;
      let btn = fail.querySelector("button.retry-send");
      if (canRetry && !btn) {
        btn = el("button", "retry-send", t("retry_send"));
        btn.type = "button";
        fail.append(btn);
      } else if (!canRetry && btn) {
        btn.remove();
      }
    } else if (fail) {
      fail.remove();
    }
  }
}
