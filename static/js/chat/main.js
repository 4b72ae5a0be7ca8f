// The chat page: wires the list, the thread, the composer, the cache and the realtime client.
// URL is /chat or /chat/{id}; opening a conversation is a history push, not a page load.
import { realtime } from "../realtime.js";
import * as api from "./api.js";
import { ChatCache } from "./cache.js";
import { Attacher } from "./attach.js";
import { Composer, Sender } from "./composer.js";
import { ConversationListView } from "./list.js";
import { Notifier } from "./notify.js";
import { Presence, Typing } from "./presence.js";
import { t } from "./strings.js";
import { TemplatePicker, windowClosed } from "./templates.js";
import { ThreadView } from "./thread.js";

const SEARCH_DEBOUNCE_MS = 250;
const MARK_READ_DELAY_MS = 300;

const root = document.querySelector(".chat");
const ds = document.body.dataset;
const me = { id: ds.userId, name: ds.userName };
const rt = realtime();
const cache = new ChatCache();

const state = {
  filter: "all", q: "", list: null, openId: null, ready: false, held: [],
  waState: ds.waState || "connected", loadingMore: false, loadingOlder: false, listToken: 0,
};

const listView = new ConversationListView(root.querySelector(".conv-scroller"), {
  meId: me.id,
  onOpen: (id) => open(id, { push: true }),
  onNeedMore: () => loadMore(),
});
const threadView = new ThreadView(root.querySelector(".thread"), {
  meId: me.id,
  onLoadOlder: () => loadOlder(),
  onRetry: (id) => retry(id),
  onBack: () => back(),
  onSeenBottom: () => scheduleMarkRead(),
});
const sender = new Sender({ meId: me.id, meName: me.name, onEvent: onSendEvent });
const typing = new Typing({ rt, meId: me.id, onChange: (conv) => { if (conv === state.openId) threadView.setTyping(typing.text(conv)); } });
const presence = new Presence({ rt, meId: me.id, root: root.querySelector(".team") });
const attacher = new Attacher(root.querySelector(".composer-wrap"), { conversation: () => state.openId });
const composer = new Composer(root.querySelector(".composer"), {
  attacher,
  onSubmit: (body) => send(body),
  onTyping: (active) => { if (state.openId) typing.local(state.openId, active); },
});
const picker = new TemplatePicker(root.querySelector(".tpl-picker"), { onSent: (m) => showSent(m) });
const notifier = new Notifier({ button: root.querySelector(".notify-btn"), onOpen: (id) => open(id, { push: true }) });
const emptyNote = root.querySelector(".list-empty");
const listError = root.querySelector(".list-error");

// -- the conversation list -------------------------------------------------------------------

function listKey() { return `${state.filter}|${state.q}`; }

/** A performance mark after the next paint (bench/ui_chat.py reads them). */
function markPainted(name) {
  requestAnimationFrame(() => setTimeout(() => performance.mark(name), 0));
}

function showList() {
  const list = state.list;
  listView.setItems(list.items);
  if (list.items.length && !state.listPainted) { state.listPainted = true; markPainted("chat:list-painted"); }
  const empty = list.items.length === 0 && list.loadedAt > 0;
  emptyNote.hidden = !empty;
  emptyNote.querySelector(".empty-text").textContent = state.q ? t("empty_search", { q: state.q })
    : state.filter === "unread" ? t("empty_unread") : t("empty_list");
  emptyNote.querySelector(".empty-action").hidden = Boolean(state.q) || state.filter === "unread";
}

/** Show the list for the current filter and search: cached at once, fetched when stale. */
async function loadList({ force = false } = {}) {
  const list = cache.list(listKey(), { q: state.q, unread: state.filter === "unread" });
  state.list = list;
  if (list.loadedAt) showList();
  if (list.fresh() && !force) return list.seq;
  const token = ++state.listToken;
  root.classList.toggle("list-loading", !list.loadedAt);
  try {
    const page = await api.listConversations({ q: state.q, unread: state.filter === "unread" });
    if (token !== state.listToken) return page.seq;
    list.reset(page);
    listError.hidden = true;
    if (state.list === list) showList();
    return page.seq;
  } catch (err) {
    if (token === state.listToken && !list.loadedAt) listError.hidden = false;
    throw err;
  } finally {
    if (token === state.listToken) root.classList.remove("list-loading");
  }
}

async function loadMore() {
  const list = state.list;
  if (!list || list.complete || !list.next || state.loadingMore) return;
  state.loadingMore = true;
  try {
    const page = await api.listConversations({ q: list.q, unread: list.unread, cursor: list.next });
    list.append(page);
    if (state.list === list) listView.setItems(list.items);
  } catch (err) {
    console.warn("chat: could not load more conversations", err);
  } finally {
    state.loadingMore = false;
  }
}

/** A conversation item from an event or a fetch: every cached list, the header, the title. */
function applyItem(item) {
  let moved = false;
  for (const list of cache.lists.values()) {
    const change = list.upsert(item);
    if (list === state.list && change) moved = moved || change === "moved";
  }
  if (state.list) {
    if (moved) listView.setItems(state.list.items); else listView.refresh(item.id);
    emptyNote.hidden = state.list.items.length > 0;
  }
  if (item.id === state.openId) {
    threadView.setHeader(item);
    updateWindow();
  }
}

/** Cloud API, customer silent for 24 h: templates instead of the text box (templates.js). */
function updateWindow() {
  const item = state.openId ? cache.item(state.openId) : null;
  const closed = state.waState === "connected" && windowClosed(item, ds.waProvider);
  composer.form.hidden = closed;
  picker.show(closed ? state.openId : null);
}

/** A template the server queued: into the thread now (its event may come before or after). */
function showSent(message) {
  const thread = cache.peekThread(message.conversation_id);
  if (thread?.put(message) === "added" && state.openId === message.conversation_id) {
    threadView.upsert(thread.byId.get(message.id), { announce: true });
  }
}

// -- the thread ------------------------------------------------------------------------------

async function open(id, { push = false } = {}) {
  if (!id) return;
  if (push && location.pathname !== `/chat/${id}`) history.pushState({ id }, "", `/chat/${encodeURIComponent(id)}`);
  if (state.openId !== id) typing.stop();
  state.openId = id;
  root.dataset.view = "thread";
  root.classList.add("has-thread");
  listView.select(id);
  const item = cache.item(id);
  const thread = cache.thread(id);
  threadView.show(item ?? { contact: { name: "", phone: "" } }, thread);
  threadView.setTyping(typing.text(id));
  updateWindow();
  composer.focus();
  if (!item) {
    try { applyItem(await api.getConversation(id)); } catch (err) {
      if (err.status === 404) { back(); return; }
    }
  }
  if (!thread.fresh()) {
    threadView.setLoading(!thread.loadedAt);
    try {
      const page = await api.listMessages(id);
      thread.reset(page);
      if (state.openId === id) {
        threadView.show(cache.item(id) ?? item, thread);
        markPainted(`chat:thread-painted:${id}`);
      }
    } catch (err) {
      console.warn("chat: could not load the thread", err);
    } finally {
      threadView.setLoading(false);
    }
  }
  scheduleMarkRead();
}

async function loadOlder() {
  const id = state.openId;
  const thread = cache.peekThread(id);
  if (!thread || !thread.hasOlder || !thread.older || state.loadingOlder) return;
  state.loadingOlder = true;
  threadView.setLoading(true);
  try {
    const page = await api.listMessages(id, { before: thread.older, limit: 100 });
    const added = thread.prepend(page);
    if (state.openId === id && added) threadView.prependOlder(added);
  } catch (err) {
    console.warn("chat: could not load older messages", err);
  } finally {
    state.loadingOlder = false;
    threadView.setLoading(false);
  }
}

function back() {
  typing.stop();
  state.openId = null;
  root.dataset.view = "list";
  root.classList.remove("has-thread");
  listView.select(null);
  if (location.pathname !== "/chat") history.pushState({}, "", "/chat");
  listView.focus();
}

let readTimer = 0;
/** Mark the open conversation read when it is on screen and has unread messages. */
function scheduleMarkRead() {
  clearTimeout(readTimer);
  readTimer = setTimeout(async () => {
    const id = state.openId;
    const item = id && cache.item(id);
    if (!item || !(item.unread_count > 0) || document.visibilityState !== "visible") return;
    if (!threadView.atBottom()) return;      // unread below the fold stay unread
    try { await api.markRead(id); } catch (err) { console.warn("chat: mark read failed", err); }
  }, MARK_READ_DELAY_MS);
}

// -- sending ---------------------------------------------------------------------------------

function send(body) {
  const id = state.openId;
  if (!id) return;
  typing.stop();
  const local = sender.create(id, body);
  const thread = cache.thread(id);
  thread.put(local);
  threadView.upsert(local);
  sender.deliver(local);
}

function onSendEvent(kind, local, detail) {
  const thread = cache.peekThread(local.conversation_id);
  if (!thread) return;
  if (kind === "confirmed") {
    thread.rekey(local.id, detail);
    if (state.openId === local.conversation_id) threadView.rekey(local.id, thread.byId.get(detail.id));
  } else if (kind === "failed" && state.openId === local.conversation_id) {
    threadView.upsert(local);
  }
}

function retry(id) {
  const thread = cache.peekThread(state.openId);
  const m = thread?.byId.get(id);
  if (!m) return;
  if (m.local) {                       // never reached the server as far as we know: same key
    m.status = "queued";
    threadView.upsert(m);
    sender.retry(m);
  } else if (!m.media) {               // the server failed it: send the text again
    send(m.body);
  }
}

function setWhatsapp(waState) {
  state.waState = waState;
  const ok = waState === "connected";
  composer.setEnabled(ok, ok ? "" : t("wa_not_connected"));
  updateWindow();
}

// -- realtime --------------------------------------------------------------------------------

/** Events that arrive before the first list load are held, then applied (handlers are idempotent). */
function whenReady(fn) {
  return (data, frame) => { if (state.ready) fn(data, frame); else state.held.push(() => fn(data, frame)); };
}

rt.on("new_message", whenReady(({ message, conversation }) => {
  if (conversation) applyItem(conversation);
  const thread = cache.peekThread(message.conversation_id);
  const local = sender.claim(message);
  if (thread) {
    if (local) {
      thread.rekey(local.id, message);
      if (state.openId === message.conversation_id) threadView.rekey(local.id, thread.byId.get(message.id));
    } else if (thread.put(message) === "added" && state.openId === message.conversation_id) {
      threadView.upsert(thread.byId.get(message.id), { announce: true });
    }
  }
  if (message.author?.kind === "user") { presence.learn(message.author.id, message.author.name); typing.clearUser(message.conversation_id, message.author.id); }
  if (message.direction === "in") {
    notifier.inbound(message, conversation, document.visibilityState === "visible" ? state.openId : null);
    if (message.conversation_id === state.openId) scheduleMarkRead();
  }
}));

rt.on("message_status", whenReady((d) => {
  const thread = cache.peekThread(d.conversation_id);
  const m = thread?.setStatus(d.message_id, d.status, d.error);
  if (m && state.openId === d.conversation_id) threadView.upsert(m);
}));

rt.on("message_media", whenReady((d) => {
  // A photo, voice note... finished downloading (or failed): redraw its part of the bubble.
  const m = cache.peekThread(d.conversation_id)?.byId.get(d.message_id);
  if (!m) return;
  m.media = d.media;
  if (state.openId === d.conversation_id) threadView.upsert(m);
}));

rt.on("conversation_updated", whenReady((item) => applyItem(item)));
rt.on("stats_updated", (stats) => notifier.setUnread(stats.unread));
rt.on("whatsapp_authenticated", () => setWhatsapp("connected"));
rt.on("whatsapp_disconnected", (d) => setWhatsapp(d.state ?? "disconnected"));

rt.onResync(async () => {
  // Whatever was cached may have missed events: drop it and reload what is on screen.
  cache.clear();
  const seq = await loadList({ force: true });
  if (state.openId) await open(state.openId);
  return seq;
});

document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") scheduleMarkRead(); });

// -- controls --------------------------------------------------------------------------------

const search = root.querySelector(".conv-search input");
let searchTimer = 0;
search.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    const q = search.value.trim();
    if (q === state.q) return;
    state.q = q;
    listView.scrollToTop();
    loadList().catch(() => {});
  }, SEARCH_DEBOUNCE_MS);
});
search.addEventListener("keydown", (ev) => {
  if (ev.key === "ArrowDown") { ev.preventDefault(); listView.focusIndex(0); }
  if (ev.key === "Escape") { search.value = ""; search.dispatchEvent(new Event("input")); }
});

for (const btn of root.querySelectorAll(".filters button")) {
  btn.addEventListener("click", () => {
    state.filter = btn.dataset.filter;
    for (const b of root.querySelectorAll(".filters button")) b.setAttribute("aria-pressed", String(b === btn));
    listView.scrollToTop();
    loadList().catch(() => {});
  });
}
root.querySelector(".list-error button").addEventListener("click", () => loadList({ force: true }).catch(() => {}));

document.addEventListener("keydown", (ev) => {
  if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "k") { ev.preventDefault(); search.focus(); search.select(); }
  else if (ev.key === "Escape" && state.openId && !ev.target.closest?.(".conv-search")) back();
});

window.addEventListener("popstate", () => {
  const m = location.pathname.match(/^\/chat\/([^/]+)$/);
  if (m) open(decodeURIComponent(m[1])); else if (state.openId) back();
});

// -- start -----------------------------------------------------------------------------------

/** The first page of the list, read with the page at its seq (a JSON data block, never run). */
function firstPage() {
  const node = document.getElementById("chat-first-page");
  try { return node ? JSON.parse(node.textContent) : null; } catch { return null; }
}

async function start() {
  setWhatsapp(state.waState);
  if (ds.unread) notifier.setUnread(ds.unread);
  const initial = ds.conversationId || null;
  const page = firstPage();
  if (page) {
    const list = cache.list(listKey(), { q: "", unread: false });
    list.reset(page);
    state.list = list;
    showList();
  }
  if (initial) open(initial);
  else root.dataset.view = "list";
  try { await loadList(); } catch (err) { console.warn("chat: list failed", err); }
  if (initial) listView.select(initial);
  state.ready = true;
  for (const fn of state.held.splice(0)) fn();
}

start();
