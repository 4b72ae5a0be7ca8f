// The client cache: conversation lists (per filter and search) and threads, kept current by
// events, with a TTL as a safety net. A resync_required clears everything.

const LIST_TTL_MS = 2 * 60 * 1000;     // older than this: show at once, then revalidate
const THREAD_TTL_MS = 2 * 60 * 1000;
const MAX_THREADS = 30;                // threads kept in memory (LRU)
const STATUS_RANK = { queued: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

/** Newest first by updated_at, then id (the server's order). */
function newerFirst(a, b) {
  if (a.updated_at !== b.updated_at) return b.updated_at - a.updated_at;
  return Number(b.id) - Number(a.id);
}

/** One conversation list: items in server order plus the cursor to load more. */
export class ConversationList {
  constructor(key, { q = "", unread = false } = {}) {
    this.key = key;
    this.q = q;
    this.unread = unread;
    this.items = [];
    this.byId = new Map();
    this.next = null;
    this.complete = false;
    this.loadedAt = 0;
    this.seq = null;
  }

  fresh() { return this.loadedAt > 0 && Date.now() - this.loadedAt < LIST_TTL_MS; }

  /** Replace with a first page from the server. */
  reset(page) {
    this.items = [];
    this.byId.clear();
    this.append(page);
    this.loadedAt = Date.now();
    this.seq = page.seq;
  }

  /** Add a following page (infinite scroll). */
  append(page) {
    for (const item of page.items) {
      if (this.byId.has(item.id)) continue;
      this.byId.set(item.id, item);
      this.items.push(item);
    }
    this.next = page.next;
    this.complete = !page.next;
  }

  /**
   * Apply a conversation item from an event. Returns "moved" when its position changed,
   * "updated" when only its content did, null when this list does not show it.
   */
  upsert(item) {
    const old = this.byId.get(item.id);
    if (old && old.updated_at > item.updated_at) return null;   // an older snapshot: ignore
    if (!old) {
      // A search shows what the server matched; a live event cannot decide the match.
      if (this.q) return null;
      if (this.unread && !(item.unread_count > 0)) return null;
      // Past the loaded part of a longer list it will come with a later page.
      const last = this.items[this.items.length - 1];
      if (!this.complete && last && newerFirst(item, last) > 0) return null;
    }
    const index = old ? this.items.indexOf(old) : -1;
    if (old) this.items.splice(index, 1);
    this.byId.set(item.id, item);
    let at = this.items.findIndex((x) => newerFirst(item, x) < 0);
    if (at < 0) at = this.items.length;
    this.items.splice(at, 0, item);
    return at === index ? "updated" : "moved";
  }

  get(id) { return this.byId.get(id); }
}

/** One thread: messages oldest → newest, by numeric id, plus the cursor for older ones. */
export class Thread {
  constructor(id) {
    this.id = id;
    this.messages = [];
    this.byId = new Map();
    this.older = null;          // `before` cursor for the previous page
    this.hasOlder = true;
    this.loadedAt = 0;
  }

  fresh() { return this.loadedAt > 0 && Date.now() - this.loadedAt < THREAD_TTL_MS; }

  reset(page) {
    // Messages an event delivered while the page was in flight are newer than the page: keep them.
    const newest = page.items.length ? Number(page.items[page.items.length - 1].id) : -1;
    const keep = this.messages.filter((m) => m.local || Number(m.id) > newest);
    this.messages = [];
    this.byId.clear();
    for (const m of page.items) this.put(m);
    for (const m of keep) this.put(m);
    this.older = page.next;
    this.hasOlder = Boolean(page.next);
    this.loadedAt = Date.now();
  }

  /** Older messages from a previous page; returns how many were new. */
  prepend(page) {
    const fresh = page.items.filter((m) => !this.byId.has(m.id));
    for (const m of fresh) this.byId.set(m.id, m);
    this.messages = fresh.concat(this.messages);
    this.older = page.next;
    this.hasOlder = Boolean(page.next);
    return fresh.length;
  }

  /** Insert or update a message; returns "added", "updated" or null (nothing changed). */
  put(message) {
    const old = this.byId.get(message.id);
    if (old) {
      if ((STATUS_RANK[message.status] ?? 0) < (STATUS_RANK[old.status] ?? 0)) return null;
      Object.assign(old, message);
      return "updated";
    }
    this.byId.set(message.id, message);
    const n = Number(message.id);
    let at = this.messages.length;
    // Confirmed messages keep id order; optimistic ones (non-numeric ids) stay at the end.
    while (at > 0 && !Number.isNaN(n) && (Number.isNaN(Number(this.messages[at - 1].id))
           || Number(this.messages[at - 1].id) > n)) at -= 1;
    this.messages.splice(at, 0, message);
    return "added";
  }

  /** A status change (never backwards, PROTOCOL §3.2). */
  setStatus(id, status, error) {
    const m = this.byId.get(id);
    if (!m) return null;
    if ((STATUS_RANK[status] ?? 0) < (STATUS_RANK[m.status] ?? 0)) return null;
    m.status = status;
    if (error) m.error = error;
    return m;
  }

  /** An optimistic message got its server id (the optimistic object itself is left alone). */
  rekey(tempId, message) {
    const m = this.byId.get(tempId);
    if (m) {
      this.byId.delete(tempId);
      this.messages.splice(this.messages.indexOf(m), 1);
    }
    return this.put({ ...message });
  }

  remove(id) {
    const m = this.byId.get(id);
    if (!m) return;
    this.byId.delete(id);
    this.messages.splice(this.messages.indexOf(m), 1);
  }
}

/** Everything cached for this tab. */
export class ChatCache {
  constructor() {
    this.lists = new Map();
    this.threads = new Map();
  }

  list(key, opts) {
    if (!this.lists.has(key)) this.lists.set(key, new ConversationList(key, opts));
    return this.lists.get(key);
  }

  thread(id) {
    let th = this.threads.get(id);
    if (th) { this.threads.delete(id); this.threads.set(id, th); return th; }   // LRU touch
    th = new Thread(id);
    this.threads.set(id, th);
    while (this.threads.size > MAX_THREADS) this.threads.delete(this.threads.keys().next().value);
    return th;
  }

  peekThread(id) { return this.threads.get(id) ?? null; }

  /** Find a conversation item in any cached list. */
  item(id) {
    for (const list of this.lists.values()) {
      const it = list.get(id);
      if (it) return it;
    }
    return null;
  }

  clear() {
    this.lists.clear();
    this.threads.clear();
  }
}
