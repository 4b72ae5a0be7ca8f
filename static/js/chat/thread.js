// The open thread: bubbles in / out, day separators, ticks, failed sends with a retry button,
// older pages on scroll up (keeping the position), autoscroll only when at the bottom.
//
// Only a window of the thread's messages is in the DOM (at most WINDOW rows): scrolling toward
// either end renders a slice there and drops one at the far end. Inserting a page above a few
// thousand laid-out bubbles made the slowest frames of a long scroll up (bench/ui_chat.py); with
// a bounded DOM each frame's work stays the same however long the thread grows. The sizes were
// measured side by side (bench/ui_chat.py): small slices keep the frame that renders one short
// (70/15: p95 13 ms; 100/20: 14; 200/40: 19), smaller still only adds frames that do work.
import { contactLabel, dayKey, el, formatDay, formatPhone, formatTime, initials, avatarColour } from "./format.js";
import { fillAvatar, tick } from "./icons.js";
import { mediaKey, renderMedia } from "./media.js";
import { t } from "./strings.js";

const GROUP_MS = 5 * 60 * 1000;    // DESIGN: consecutive messages of one side within 5 min group
const NEAR_BOTTOM_PX = 48;
const LOAD_OLDER_WITHIN_PX = 300;   // also how near an edge of the window a slice is rendered
const WINDOW = 70;                  // rows in the DOM at most (~6 screens)
const SLICE = 15;                   // rows rendered (and dropped) at a time
const FIRST_ROWS = 60;              // rows rendered when a conversation opens
const PREFETCH_ROWS = 3 * SLICE;    // the older page is asked for this many rows before the top
const NATIVE_ANCHORING = globalThis.CSS?.supports?.("overflow-anchor", "auto") ?? false;

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
    this.loading = false;
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
    this.renderTail();
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

  /** An older page is on its way: said at the top only once the reader has reached it. */
  setLoading(on) {
    this.loading = on;
    this.showLoading();
  }

  showLoading() {
    const show = this.loading && this.range()[0] === 0;
    if (this.older.hidden === show) this.older.hidden = !show;
  }

  atBottom() { return this.range()[1] === this.thread?.messages.length && this.atBottomPx(); }

  atBottomPx() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    if (this.thread && this.range()[1] < this.thread.messages.length) this.renderTail();
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.unseen = 0;
    this.updatePill();
  }

  onScroll() {
    if (!this.thread) return;
    // Geometry is read once, while layout is still clean from the scroll: after a slice is
    // rendered nothing here reads it again, so the frame lays out once, not twice.
    const s = this.scroller;
    const top = s.scrollTop;
    const below = s.scrollHeight - top - s.clientHeight;
    const [lo, hi] = this.range();
    const total = this.thread.messages.length;
    if (top < LOAD_OLDER_WITHIN_PX) {
      // Ask for the next older page a few slices ahead, so it is there before the reader is:
      // no wait pinned at the top, and it joins the thread without touching the DOM.
      if (this.thread.hasOlder && lo <= PREFETCH_ROWS) this.opts.onLoadOlder();
      if (lo > 0) { this.extendUp(lo, hi); return; }
      this.showLoading();
    }
    if (below < LOAD_OLDER_WITHIN_PX && hi < total) { this.extendDown(lo, hi); return; }
    if (hi === total && below < NEAR_BOTTOM_PX && this.unseen) {
      this.unseen = 0;
      this.updatePill();
      this.opts.onSeenBottom();
    }
  }

  updatePill() {
    this.pill.hidden = this.unseen === 0;
    this.pill.querySelector(".pill-count").textContent = this.unseen > 1 ? String(this.unseen) : "";
  }

  /** The rendered rows as [first, end) indexes into the thread's messages ([0, 0) when none). */
  range() {
    const msgs = this.thread?.messages ?? [];
    let first = this.list.firstElementChild;
    while (first && !first.msg) first = first.nextElementSibling;
    let last = this.list.lastElementChild;
    while (last && !last.msg) last = last.previousElementSibling;
    if (!first || !last) return [msgs.length, msgs.length];
    return [msgs.indexOf(first.msg), msgs.indexOf(last.msg) + 1];
  }

  /** Render the newest rows afresh (opening a conversation, jumping to the bottom). */
  renderTail() {
    this.nodes.clear();
    this.list.replaceChildren();
    const msgs = this.thread.messages;
    const frag = document.createDocumentFragment();
    for (let i = Math.max(0, msgs.length - FIRST_ROWS); i < msgs.length; i++) this.appendRow(frag, msgs[i], msgs[i - 1]);
    this.list.append(frag);
    if (!msgs.length) this.list.append(el("p", "thread-empty", t("thread_empty")));
  }

  /** A row (and the day separator above it, when its day differs from the message before). */
  appendRow(parent, m, prev) {
    const row = this.makeRow(m, prev);
    if (!prev || dayKey(prev.created_at) !== dayKey(m.created_at)) {
      const sep = el("div", "day-sep");
      sep.append(el("span", "", formatDay(m.created_at)));
      sep.dataset.day = String(dayKey(m.created_at));
      parent.append(sep);
      row.sep = sep;
    }
    parent.append(row);
    this.nodes.set(m.id, row);
  }

  dropRow(row) {
    row.sep?.remove();
    row.remove();
    this.nodes.delete(row.dataset.id);
  }

  /** Change the DOM above the reader without moving what they are reading. Where the browser
   *  anchors scrolling itself (CSS overflow-anchor), it does so in the frame's own layout; reading
   *  the height here would lay the window out a second time. Safari (no overflow-anchor), a page
   *  that turns it off, and a reader pinned at the very top (where anchoring does not apply) get
   *  the measured correction. */
  keepPlace(change) {
    const s = this.scroller;
    if (NATIVE_ANCHORING && s.scrollTop > 0 && getComputedStyle(s).overflowAnchor !== "none") { change(); return; }
    const fromEnd = s.scrollHeight - s.scrollTop;
    change();
    s.scrollTop = s.scrollHeight - fromEnd;
  }

  /** Render a slice above the first row; drop rows far below when over the window. `restyle`
   *  changes the old first row, in the same kept place. */
  extendUp(lo, hi, restyle = null) {
    const msgs = this.thread.messages;
    const from = Math.max(0, lo - SLICE);
    const frag = document.createDocumentFragment();
    // Built against each message's true predecessor: groups and day separators come out right.
    for (let i = from; i < lo; i++) this.appendRow(frag, msgs[i], msgs[i - 1]);
    this.keepPlace(() => { restyle?.(); this.list.prepend(frag); });
    let extra = hi - from - WINDOW;
    for (let row = this.list.lastElementChild; extra > 0 && row;) {
      // Step over the row's own separator, which goes with it.
      const up = (row.sep ?? row).previousElementSibling;
      if (row.msg) { this.dropRow(row); extra -= 1; }
      row = up;
    }
  }

  /** Render a slice below the last row; drop rows far above when over the window. */
  extendDown(lo, hi) {
    const msgs = this.thread.messages;
    const to = Math.min(msgs.length, hi + SLICE);
    const frag = document.createDocumentFragment();
    for (let i = hi; i < to; i++) this.appendRow(frag, msgs[i], msgs[i - 1]);
    this.list.append(frag);
    let extra = to - lo - WINDOW;
    if (extra <= 0) return;
    this.keepPlace(() => {
      for (let row = this.list.firstElementChild; extra > 0 && row;) {
        const down = row.nextElementSibling;
        if (row.msg) { this.dropRow(row); extra -= 1; }
        row = down;
      }
    });
  }

  /** `count` older messages were put at the front of the thread: render a slice of them above. */
  prependOlder(count) {
    const msgs = this.thread.messages;
    const [lo, hi] = this.range();
    if (lo !== count) return;               // the reader is not at the top: they render on the way
    // The old first row may now continue the group or share the day of the message before it.
    const oldFirst = msgs[count];
    const prev = msgs[count - 1];
    const node = this.nodes.get(oldFirst.id);
    this.extendUp(lo, hi, () => {
      if (node?.sep && dayKey(prev.created_at) === dayKey(oldFirst.created_at)) {
        node.sep.remove();
        node.sep = null;
      }
      this.regroup(oldFirst, prev);
    });
  }

  /** A new or changed message of the open thread. */
  upsert(m, { announce = false } = {}) {
    const existing = this.nodes.get(m.id);
    if (existing) { this.updateRow(existing, m); return; }
    const msgs = this.thread.messages;
    const index = msgs.indexOf(m);
    if (index < 0) return;
    const [lo, hi] = this.range();
    const mine = m.direction === "out" && (m.local || m.author?.id === this.opts.meId);
    const wasBottom = hi >= msgs.length - 1 && this.atBottomPx();
    if (index < lo) return;                  // above the window: rendered when scrolled to
    if (index >= hi && hi < msgs.length - 1) {
      // Below the window (the reader is far up): a new one waits behind the pill; mine jumps.
      if (mine && index === msgs.length - 1) this.scrollToBottom();
      else if (announce) { this.unseen += 1; this.updatePill(); }
      return;
    }
    this.list.querySelector(".thread-empty")?.remove();
    const next = msgs[index + 1];
    const nextNode = next ? this.nodes.get(next.id) : null;
    if (nextNode) {
      // Out of order (rare): place it before its successor, whose separator and group follow it.
      const frag = document.createDocumentFragment();
      this.appendRow(frag, m, msgs[index - 1]);
      this.list.insertBefore(frag, nextNode.sep ?? nextNode);
      if (nextNode.sep && dayKey(m.created_at) === dayKey(next.created_at)) { nextNode.sep.remove(); nextNode.sep = null; }
      this.regroup(next, m);
    } else {
      this.appendRow(this.list, m, msgs[index - 1]);
    }
    this.nodes.get(m.id)?.classList.add("fresh");
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
    if (this.nodes.has(m.id)) { this.dropRow(node); this.nodes.get(m.id).msg = m; this.updateRow(this.nodes.get(m.id), m); return; }
    node.dataset.id = m.id;
    node.msg = m;
    this.nodes.set(m.id, node);
    this.updateRow(node, m);
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
    row.msg = m;                      // the message it shows: the window's bounds are read from rows
    if (this.continues(m, prev)) row.classList.add("cont");
    const bubble = el("div", "bubble");
    const author = this.authorName(m);
    if (author) bubble.append(el("div", "author", author));
    if (m.media) {
      bubble.append(renderMedia(m));
      bubble.dataset.media = mediaKey(m.media);
    } else if (m.type && m.type !== "text") {
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
    const { bubble, meta } = row.parts;
    if (m.media && bubble.dataset.media !== mediaKey(m.media)) {
      // The file became ready (or failed): redraw just that part, in place.
      bubble.querySelector(".media-slot")?.replaceWith(renderMedia(m));
      bubble.dataset.media = mediaKey(m.media);
    }
    if (m.direction !== "out") return;
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
      // A file cannot be sent again from here (the page no longer has it): attach it anew.
      const canRetry = !m.media;
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
