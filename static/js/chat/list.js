// The conversation list: a virtual list of fixed 72 px rows, so only a window of rows is in
// the DOM however many conversations are loaded. Rows are recycled and filled with textContent.
import { avatarColour, contactLabel, el, formatListTime, initials, previewText } from "./format.js";
import { fillAvatar, tick } from "./icons.js";
import { t } from "./strings.js";

export const ROW_HEIGHT = 72;      // DESIGN: fixed height so positions are computed, not measured
const OVERSCAN = 6;                // rows rendered above and below the visible ones
const LOAD_MORE_WITHIN = 20;       // ask for the next page this many rows before the end

export class ConversationListView {
  /**
   * @param {HTMLElement} scroller  the scrolling element
   * @param {{onOpen: Function, onNeedMore: Function, meId: string}} opts
   */
  constructor(scroller, { onOpen, onNeedMore, meId }) {
    this.scroller = scroller;
    this.onOpen = onOpen;
    this.onNeedMore = onNeedMore;
    this.meId = meId;
    this.items = [];
    this.selectedId = null;
    this.rows = new Map();          // index -> row element
    this.spare = [];                // recycled row elements
    this.spacer = document.createElement("div");
    this.spacer.className = "vlist-spacer";
    this.spacer.setAttribute("role", "list");
    this.spacer.setAttribute("aria-label", t("list_label"));
    scroller.append(this.spacer);
    this.frame = 0;
    scroller.addEventListener("scroll", () => this.schedule(), { passive: true });
    new ResizeObserver(() => this.schedule()).observe(scroller);
    scroller.addEventListener("keydown", (ev) => this.onKey(ev));
    scroller.addEventListener("click", (ev) => {
      const a = ev.target.closest("a.conv-row");
      if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
      ev.preventDefault();
      this.onOpen(a.dataset.id);
    });
  }

  /** Show a new array of items (the list's order); rows are refilled in place. */
  setItems(items) {
    this.scroller.querySelector(".ssr-rows")?.remove();   // the server's first rows, now ours
    this.items = items;
    this.spacer.style.height = `${items.length * ROW_HEIGHT}px`;
    for (const [index, row] of this.rows) {
      if (index >= items.length) { this.release(index, row, true); continue; }
      this.fill(row, items[index], index);
    }
    this.render();
  }

  /** One item changed in place (same position). */
  refresh(id) {
    for (const [index, row] of this.rows) {
      if (this.items[index]?.id === id) this.fill(row, this.items[index], index);
    }
  }

  select(id) {
    this.selectedId = id;
    for (const [index, row] of this.rows) this.markSelected(row, this.items[index]);
  }

  scrollToTop() { this.scroller.scrollTop = 0; }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.render(); });
  }

  /** Render the rows of the visible window; recycle the others. */
  render() {
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.items.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    for (const [index, row] of this.rows) if (index < first || index >= last) this.release(index, row);
    for (let i = first; i < last; i++) {
      if (this.rows.has(i)) continue;
      const row = this.spare.pop() ?? this.makeRow();
      this.fill(row, this.items[i], i);
      if (!row.isConnected) this.spacer.append(row);
      this.rows.set(i, row);
    }
    if (last >= this.items.length - LOAD_MORE_WITHIN) this.onNeedMore();
  }

  release(index, row, force = false) {
    if (!force && row.contains(document.activeElement) && index < this.items.length) return;  // keep focus
    this.rows.delete(index);
    row.remove();
    this.spare.push(row);
  }

  makeRow() {
    const li = el("div", "conv-item");
    li.setAttribute("role", "listitem");
    const a = el("a", "conv-row");
    const avatar = el("span", "avatar");
    avatar.setAttribute("aria-hidden", "true");
    const [name, time] = [el("span", "conv-name"), el("time", "conv-time")];
    const [preview, badge] = [el("span", "conv-preview"), el("span", "badge")];
    const attention = el("span", "conv-attention", t("needs_person"));  // the bot's hand-off
    const top = el("span", "conv-top");
    top.append(name, time);
    const bottom = el("span", "conv-bottom");
    bottom.append(preview, attention, badge);
    const main = el("span", "conv-main");
    main.append(top, bottom);
    a.append(avatar, main);
    li.append(a);
    li.parts = { a, avatar, name, time, preview, badge, attention };
    return li;
  }

  /** Fill a row for an item; cheap when nothing changed (the common case while scrolling). */
  fill(row, item, index) {
    const p = row.parts;
    row.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
    const stamp = `${item.id}:${item.updated_at}:${item.unread_count}:${item.last_message?.status}:${item.contact?.name}:${item.needs_attention}`;
    this.markSelected(row, item);
    if (row.stamp === stamp) return;
    row.stamp = stamp;
    p.a.href = `/chat/${encodeURIComponent(item.id)}`;
    p.a.dataset.id = item.id;
    p.a.dataset.index = String(index);
    fillAvatar(p.avatar, initials(item.contact));
    p.avatar.style.backgroundColor = avatarColour(item.contact?.id);
    p.name.textContent = contactLabel(item.contact);
    const last = item.last_message;
    const when = last?.created_at ?? item.updated_at;
    p.time.textContent = when ? formatListTime(when) : "";
    p.preview.replaceChildren();
    if (last) {
      if (last.direction === "out") {
        p.preview.append(tick(last.status));
        const mine = last.author?.kind === "user" && last.author.id === this.meId;
        const who = mine ? t("you") : last.author?.kind === "bot" ? t("bot") : last.author?.name || "";
        if (who) p.preview.append(`${who}: `);
      }
      p.preview.append(previewText(last));
    }
    p.attention.hidden = !item.needs_attention;
    const unread = item.unread_count > 0;
    p.a.classList.toggle("unread", unread);
    p.badge.hidden = !unread;
    p.badge.textContent = unread ? String(item.unread_count) : "";
    p.badge.setAttribute("aria-label", unread ? t("unread_n", { n: item.unread_count }) : "");
  }

  markSelected(row, item) {
    const on = item?.id === this.selectedId;
    row.classList.toggle("selected", on);
    if (on) row.parts.a.setAttribute("aria-current", "true"); else row.parts.a.removeAttribute("aria-current");
  }

  /** ↑/↓ move between rows (rendering them if needed), Enter opens (the link's default). */
  onKey(ev) {
    if (ev.key !== "ArrowDown" && ev.key !== "ArrowUp") return;
    const a = ev.target.closest?.("a.conv-row");
    const current = a ? Number(a.dataset.index) : -1;
    const next = Math.max(0, Math.min(this.items.length - 1, current + (ev.key === "ArrowDown" ? 1 : -1)));
    ev.preventDefault();
    this.focusIndex(next);
  }

  focusIndex(index) {
    const top = index * ROW_HEIGHT;
    const view = this.scroller;
    if (top < view.scrollTop) view.scrollTop = top;
    else if (top + ROW_HEIGHT > view.scrollTop + view.clientHeight) view.scrollTop = top + ROW_HEIGHT - view.clientHeight;
    this.render();
    this.rows.get(index)?.parts.a.focus({ preventScroll: true });
  }

  /** Focus the selected row, or the first one. */
  focus() {
    const index = Math.max(0, this.items.findIndex((x) => x.id === this.selectedId));
    if (this.items.length) this.focusIndex(index);
  }
}
