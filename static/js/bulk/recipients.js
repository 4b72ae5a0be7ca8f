// The per-recipient table of a campaign: cursor pages from GET /bulk/{id}/recipients, filtered by
// state, virtualised (fixed row height: only the rows in view exist in the DOM, so 10 000
// recipients cost the same as 20).
import { listRecipients } from "./api.js";
import { el, errorText, formatNumber, t } from "./format.js";
import { formatPhone, has } from "../i18n.js";

export const ROW_H = 44;          // px, as .rrow in bulk.css: positions are computed, not measured
const OVERSCAN = 8;               // rows drawn above and below the view (smooth fast scrolls)
const PAGE = 100;                 // rows per request
const NEAR_END = 30;              // rows from the end of what is loaded that fetch the next page
const REFRESH_MS = 3000;          // live refresh of the first page at most this often

export class RecipientTable {
  constructor(campaignId, { scroll, space, status, filter }) {
    this.id = campaignId;
    this.scroll = scroll;
    this.space = space;
    this.status = status;
    this.filter = filter;
    this.items = [];
    this.next = null;
    this.loading = null;
    this.generation = 0;           // a filter change invalidates answers still in flight
    this.drawn = new Map();        // index -> row element
    this.refreshTimer = null;
    scroll.addEventListener("scroll", () => this.onScroll(), { passive: true });
    filter.addEventListener("change", () => this.reset());
  }

  reset() {
    this.generation += 1;
    this.items = [];
    this.next = null;
    this.loading = null;
    this.scroll.scrollTop = 0;
    this.clear();
    this.status.textContent = t("bulk.rec_loading");
    this.status.hidden = false;
    return this.loadMore();
  }

  /** The filter as the API takes it: "pending" also shows those being sent right now. */
  state() { return this.filter.value === "pending" ? "pending,sending" : this.filter.value; }

  clear() {
    for (const row of this.drawn.values()) row.remove();
    this.drawn.clear();
  }

  async loadMore() {
    if (this.loading) return this.loading;
    const generation = this.generation;
    const first = this.items.length === 0;
    if (!first && !this.next) return null;
    this.loading = listRecipients(this.id, { state: this.state(), cursor: this.next, limit: PAGE })
      .then((page) => {
        if (generation !== this.generation) return;
        this.items.push(...(page.items ?? []));
        this.next = page.next ?? null;
        this.showStatus();
        this.draw();
      })
      .catch((err) => {
        if (generation !== this.generation) return;
        this.status.textContent = errorText(err);
        this.status.hidden = false;
      })
      .finally(() => { if (generation === this.generation) this.loading = null; });
    return this.loading;
  }

  showStatus() {
    this.status.hidden = this.items.length > 0;
    this.status.textContent = this.items.length ? "" : t("bulk.rec_empty");
    this.space.parentElement.parentElement.setAttribute("aria-rowcount", this.next ? "-1" : String(this.items.length + 1));
  }

  /** Live figures moved: re-read the first page (only while the reader is near the top). */
  refreshSoon() {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      if (this.scroll.scrollTop > PAGE * ROW_H / 2 || this.loading) return;
      const generation = this.generation;
      listRecipients(this.id, { state: this.state(), limit: PAGE }).then((page) => {
        if (generation !== this.generation) return;
        const fresh = page.items ?? [];
        // Replace the first page; keep later pages (they refresh when scrolled to).
        this.items.splice(0, Math.min(this.items.length, PAGE), ...fresh);
        if (this.items.length <= PAGE) this.next = page.next ?? null;
        this.clear();
        this.showStatus();
        this.draw();
      }).catch(() => {});
    }, REFRESH_MS);
  }

  onScroll() {
    this.draw();
    const last = Math.ceil((this.scroll.scrollTop + this.scroll.clientHeight) / ROW_H);
    if (this.next && last > this.items.length - NEAR_END) this.loadMore();
  }

  row(item, index) {
    const state = item.state ?? item.status ?? "pending";
    const row = el("div", `rrow rstate-${state}`);
    row.setAttribute("role", "row");
    row.setAttribute("aria-rowindex", String(index + 2));
    row.style.transform = `translateY(${index * ROW_H}px)`;
    const stateCell = el("span", "rstate");
    stateCell.append(el("span", `pill ${{ failed: "danger", skipped: "warn", unknown: "warn" }[state] ?? ""}`.trim(), has(`bulk.rstate.${state}`) ? t(`bulk.rstate.${state}`) : t("bulk.status.unknown")));
    row.append(el("span", "num", formatPhone(item.phone)), el("span", "rname", item.name || "—"), stateCell,
      el("span", "rerror muted", item.error || (item.replied ? t("bulk.rstate.replied") : "")));
    for (const cell of row.children) cell.setAttribute("role", "cell");
    return row;
  }

  draw() {
    this.space.style.height = `${this.items.length * ROW_H}px`;
    const top = this.scroll.scrollTop;
    const from = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const to = Math.min(this.items.length, Math.ceil((top + this.scroll.clientHeight) / ROW_H) + OVERSCAN);
    for (const [index, row] of this.drawn) {
      if (index < from || index >= to) { row.remove(); this.drawn.delete(index); }
    }
    for (let i = from; i < to; i++) {
      if (this.drawn.has(i)) continue;
      const row = this.row(this.items[i], i);
      this.drawn.set(i, row);
      this.space.append(row);
    }
  }

  count() { return formatNumber(this.items.length); }
}
