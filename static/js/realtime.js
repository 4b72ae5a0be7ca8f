// The realtime client: WebSocket v1 with resume, backoff and a long-poll fallback (PROTOCOL §3–4).
// One client per tab: every module gets it from `realtime()` and subscribes by wire event name.
//   const rt = realtime();
//   const off = rt.on("new_message", (data, frame) => ...);   // returns an unsubscribe function
//   rt.onState((state) => ...);     // "connecting" | "live" | "reconnecting" | "syncing" | "polling" | "stopped"
//   rt.onResync(async () => seq);   // reload what is shown over REST; return the seq it was read at
//   await rt.call("typing", {conversation_id, state: "start"});   // rejects when there is no socket
// Durable events are deduplicated by seq, so handlers see each one once, in order.

const STORE_KEY = "condorito.rt";
const MODE_KEY = "condorito.rt.mode";
const WELCOME_TIMEOUT_MS = 3000;          // no welcome in time: try long-polling (Phoenix: 2.5 s)
const WS_PROBE_FROM_POLL_MS = 5 * 60 * 1000;  // while polling, try the socket again this often
const RECONNECTING_AFTER_MS = 5000;       // show "reconnecting" only after a real outage
const POLL_TIMEOUT_S = 25;
const POLL_CLIENT_TIMEOUT_MS = (POLL_TIMEOUT_S + 10) * 1000;  // above the server's wait (Zulip)

/** What to do on each close code (PROTOCOL §3.3); codes not listed follow their range. */
export const CLOSE_CODES = Object.freeze({
  1000: { name: "normal", action: "reconnect" },
  1001: { name: "going_away", action: "spread" },
  1006: { name: "abnormal", action: "reconnect" },
  1009: { name: "message_too_big", action: "reconnect" },
  1011: { name: "internal_error", action: "reconnect" },
  4000: { name: "reconnect", action: "spread" },
  4001: { name: "slow_consumer", action: "reconnect" },
  4002: { name: "no_pong", action: "reconnect" },
  4003: { name: "token_expired", action: "login" },
  4004: { name: "hello_timeout", action: "reconnect" },
  4500: { name: "bad_frame", action: "stop" },
  4501: { name: "unauthorized", action: "login" },
  4502: { name: "unsupported_version", action: "reload" },
  4503: { name: "forbidden", action: "stop" },
  4504: { name: "too_many_connections", action: "stop" },
});

/** The action for a close code: the table first, then the range rule (4500–4999 stop). */
export function closeAction(code) {
  const known = CLOSE_CODES[code];
  if (known) return known.action;
  return code >= 4500 && code <= 4999 ? "stop" : "reconnect";
}

/** Full-jitter backoff: random(0, min(30 s, 0.5 s · 2^attempt)). */
function backoff(attempt) {
  return Math.random() * Math.min(30000, 500 * 2 ** attempt);
}

function readSaved() {
  try { return JSON.parse(sessionStorage.getItem(STORE_KEY) || "null"); } catch { return null; }
}

export class Realtime {
  /**
   * @param {{seq?: number|null, epoch?: string|null, handlers?: Object<string, Function>,
   *          onState?: Function, onResync?: Function}} options  handlers and callbacks are
   *          optional shortcuts for on() / onState() / onResync().
   */
  constructor({ seq = null, epoch = null, handlers = {}, onState = null, onResync = null } = {}) {
    const saved = readSaved();
    // A server-rendered page knows the seq its data was read at; it wins over an older tab cursor.
    const fromPage = seq !== null && epoch;
    this.epoch = fromPage ? epoch : saved?.epoch ?? null;
    this.lastSeq = fromPage ? seq : saved?.seq ?? null;
    this.subscribers = new Map();     // wire event name -> Set of handlers
    this.stateListeners = new Set();
    this.resyncers = new Set();
    this.attempt = 0;
    this.failedHandshakes = 0;
    this.callId = 0;
    this.pending = new Map();
    this.ws = null;
    this.probe = null;                // a trial socket opened while polling
    this.pollAbort = null;
    this.stopped = false;
    this.started = false;
    this.mode = sessionStorage.getItem(MODE_KEY) === "poll" ? "poll" : "ws";
    this.buffer = null;               // events held while a resync reloads state
    this.state = "connecting";
    this.user = null;
    shared ??= this;                  // the first client made is the tab's one (see realtime())
    for (const [name, fn] of Object.entries(handlers)) this.on(name, fn);
    if (onState) this.onState(onState);
    if (onResync) this.onResync(onResync);
  }

  // -- public API ----------------------------------------------------------------------------

  /** Subscribe to a wire event ("new_message", ...); returns the unsubscribe function. */
  on(event, fn) {
    if (!this.subscribers.has(event)) this.subscribers.set(event, new Set());
    this.subscribers.get(event).add(fn);
    return () => this.subscribers.get(event)?.delete(fn);
  }

  /** Listen to state changes; called at once with the current state. */
  onState(fn) {
    this.stateListeners.add(fn);
    try { fn(this.state); } catch (err) { console.error(err); }
    return () => this.stateListeners.delete(fn);
  }

  /** Register a reloader run on resync_required; it returns the seq its snapshot was read at. */
  onResync(fn) {
    this.resyncers.add(fn);
    return () => this.resyncers.delete(fn);
  }

  /** A call over the socket (typing, presence); rejects when the socket is not open. */
  call(method, params = {}) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.mode !== "ws") {
      return Promise.reject(new Error("offline"));
    }
    const id = ++this.callId;
    ws.send(JSON.stringify({ type: "call", id, method, params }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  start() {
    if (this.started) return this;
    this.started = true;
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.state === "reconnecting") this.reconnectNow();
    });
    this.outageTimer = setTimeout(() => this.markOutage(), RECONNECTING_AFTER_MS);
    if (this.mode === "poll") this.startPolling(); else this.connect();
    return this;
  }

  isLive() { return this.state === "live" || this.state === "polling"; }

  // -- state ---------------------------------------------------------------------------------

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    for (const fn of this.stateListeners) {
      try { fn(state); } catch (err) { console.error(err); }
    }
  }

  /** The outage timer fired: say "reconnecting" unless a transport works by now. */
  markOutage() {
    this.outageTimer = null;
    if (this.state === "connecting" || (this.mode === "ws" && !this.ws?.welcomed)) this.setState("reconnecting");
  }

  armOutage() {
    if (this.outageTimer || this.stopped) return;
    this.outageTimer = setTimeout(() => this.markOutage(), RECONNECTING_AFTER_MS);
  }

  clearOutage() {
    clearTimeout(this.outageTimer);
    this.outageTimer = null;
  }

  save() {
    sessionStorage.setItem(STORE_KEY, JSON.stringify({ epoch: this.epoch, seq: this.lastSeq }));
  }

  // -- WebSocket -----------------------------------------------------------------------------

  /** Open a socket; as a probe (while polling) it only takes over once welcomed. */
  connect({ probe = false } = {}) {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try {
      ws = new WebSocket(`${proto}//${location.host}/ws?v=1`);
    } catch (err) {
      console.warn("realtime: cannot open a socket", err);
      if (!probe) this.startPolling();
      return;
    }
    ws.welcomed = false;
    if (probe) this.probe = ws; else this.ws = ws;
    const welcomeTimer = setTimeout(() => {
      if (!ws.welcomed) { ws.handshakeTimedOut = true; ws.close(); }
    }, WELCOME_TIMEOUT_MS);
    ws.onopen = () => {
      const hello = { type: "hello", v: 1, features: ["batch"] };
      if (this.epoch !== null && this.lastSeq !== null) hello.resume = { epoch: this.epoch, seq: this.lastSeq };
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (msg) => {
      if (ws !== this.ws && ws !== this.probe) return;
      this.armWatchdog(ws);
      let data;
      try {
        data = JSON.parse(msg.data);
      } catch (err) {
        // A broken frame is the server's bug; dropping it costs less than dropping the client.
        console.warn("realtime: dropped a frame that is not JSON", err);
        return;
      }
      for (const frame of Array.isArray(data) ? data : [data]) {
        if (!frame || typeof frame !== "object") continue;
        if (frame.type === "welcome") {
          ws.welcomed = true;
          clearTimeout(welcomeTimer);
          if (ws === this.probe) this.adoptProbe(ws);
        }
        try { this.onFrame(frame); } catch (err) { console.error("realtime: frame handling failed", err); }
      }
    };
    ws.onclose = (ev) => {
      clearTimeout(welcomeTimer);
      clearTimeout(ws.watchdog);
      if (ws === this.probe) { this.probe = null; this.scheduleProbe(); return; }
      if (this.ws !== ws) return;
      this.ws = null;
      if (!ws.welcomed) this.failedHandshakes += ws.handshakeTimedOut ? 2 : 1;
      this.onClose(ev.code);
    };
  }

  /** The probe socket was welcomed: stop polling and make it the connection. */
  adoptProbe(ws) {
    this.probe = null;
    this.mode = "ws";
    sessionStorage.removeItem(MODE_KEY);
    clearTimeout(this.probeTimer);
    this.pollAbort?.abort();
    this.ws = ws;
  }

  armWatchdog(ws) {
    clearTimeout(ws.watchdog);
    const ms = ((this.pingInterval ?? 25) + (this.pongTimeout ?? 10)) * 1000;
    ws.watchdog = setTimeout(() => ws.close(), ms);
  }

  onClose(code) {
    for (const { reject } of this.pending.values()) reject(new Error("connection closed"));
    this.pending.clear();
    const action = closeAction(code);
    if (action === "login") { location.assign("/login?next=" + encodeURIComponent(location.pathname)); return; }
    if (action === "reload") { location.reload(); return; }
    if (action === "stop") { this.stopped = true; this.clearOutage(); this.setState("stopped"); return; }
    if (this.failedHandshakes >= 2) { this.startPolling(); return; }
    this.armOutage();
    // After a server restart or a reconnect request, spread the herd over 0–5 s.
    const delay = action === "spread" ? Math.random() * 5000 : backoff(this.attempt);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.stopped || this.mode === "poll" || this.ws) return;
    this.attempt = 0;
    this.connect();
  }

  onFrame(frame) {
    switch (frame.type) {
      case "welcome": this.onWelcome(frame); break;
      case "event": this.dispatch(frame); break;
      case "replay_end": if (!this.buffer) this.setState("live"); break;
      case "ping": this.ws?.send('{"type":"pong"}'); break;
      case "result": this.onResult(frame); break;
      case "error": console.warn("realtime: server error", frame.error?.code); break;
      default: break;  // unknown frame types are ignored (forward compatibility)
    }
  }

  onWelcome(frame) {
    this.attempt = 0;
    this.failedHandshakes = 0;
    this.clearOutage();
    this.pingInterval = frame.ping_interval;
    this.pongTimeout = frame.pong_timeout;
    this.user = frame.user ?? this.user;
    const epochChanged = this.epoch !== null && this.epoch !== frame.epoch;
    this.epoch = frame.epoch;
    if (frame.resume === "replaying") { this.setState("syncing"); return; }
    if (frame.resume === "resync_required" || epochChanged) { this.resync(frame.head); return; }
    if (this.lastSeq === null) this.lastSeq = frame.head;
    this.save();
    this.setState("live");
  }

  /** Reload state over REST while holding live events; apply those newer than the snapshot. */
  async resync(head) {
    this.setState("syncing");
    this.buffer = [];
    let snapshotSeq = head;
    const seqs = await Promise.all([...this.resyncers].map(async (fn) => {
      try { return await fn(); } catch (err) { console.error("realtime: resync failed", err); return null; }
    }));
    // Several screens reload; the oldest snapshot decides which held events are replayed
    // (handlers are idempotent, so a newer screen seeing an event again is harmless).
    const known = seqs.filter((s) => typeof s === "number");
    if (known.length) snapshotSeq = Math.min(...known);
    const held = this.buffer;
    this.buffer = null;
    this.lastSeq = snapshotSeq;
    for (const frame of held) if (frame.seq === null || frame.seq > snapshotSeq) this.dispatch(frame);
    this.save();
    this.setState(this.mode === "poll" ? "polling" : "live");
  }

  dispatch(frame) {
    if (this.buffer) { this.buffer.push(frame); return; }
    const durable = frame.seq !== null && frame.seq !== undefined;
    if (durable && this.lastSeq !== null && frame.seq <= this.lastSeq) return;
    for (const fn of this.subscribers.get(frame.event) ?? []) {
      try { fn(frame.data, frame); } catch (err) { console.error(err); }
    }
    for (const fn of this.subscribers.get("*") ?? []) {
      try { fn(frame.data, frame); } catch (err) { console.error(err); }
    }
    if (durable) { this.lastSeq = frame.seq; this.save(); }  // only after the handlers ran
  }

  onResult(frame) {
    const waiter = this.pending.get(frame.id);
    if (!waiter) return;
    this.pending.delete(frame.id);
    if (frame.ok) waiter.resolve(frame.data);
    else waiter.reject(Object.assign(new Error(frame.error?.message ?? "call failed"), frame.error));
  }

  // -- long-poll fallback --------------------------------------------------------------------

  async startPolling() {
    if (this.stopped) return;
    this.mode = "poll";
    sessionStorage.setItem(MODE_KEY, "poll");
    this.scheduleProbe();
    let failures = 0;
    while (this.mode === "poll" && !this.stopped) {
      this.pollAbort = new AbortController();
      const timer = setTimeout(() => this.pollAbort?.abort(), POLL_CLIENT_TIMEOUT_MS);
      try {
        if (this.lastSeq === null || this.epoch === null) {
          const start = await this.fetchJson("/api/v1/events", this.pollAbort.signal);
          this.epoch = start.epoch; this.lastSeq = start.next; this.save();
        }
        // The first poll asks with timeout=0 so the indicator is honest as soon as polling works.
        const wait = this.state === "polling" ? POLL_TIMEOUT_S : 0;
        const url = `/api/v1/events?since=${this.lastSeq}&epoch=${encodeURIComponent(this.epoch)}&timeout=${wait}`;
        const resp = await fetch(url, { credentials: "same-origin", cache: "no-store", signal: this.pollAbort.signal });
        if (resp.status === 401) { location.assign("/login?next=" + encodeURIComponent(location.pathname)); return; }
        if (resp.status === 410) {
          const body = await resp.json();
          this.epoch = body.error.epoch;
          await this.resync(body.error.head);
          continue;
        }
        if (!resp.ok) throw new Error(`poll ${resp.status}`);
        const body = await resp.json();
        if (this.mode !== "poll") break;   // the socket took over while this poll waited
        failures = 0;
        this.clearOutage();
        this.setState("polling");
        for (const frame of body.events) this.dispatch(frame);
        this.lastSeq = Math.max(this.lastSeq, body.next);
        this.save();
      } catch (err) {
        if (this.mode !== "poll") break;
        failures += 1;
        if (failures > 1) this.setState("reconnecting");
        await new Promise((r) => setTimeout(r, backoff(failures)));
      } finally {
        clearTimeout(timer);
      }
    }
  }

  async fetchJson(url, signal) {
    const resp = await fetch(url, { credentials: "same-origin", cache: "no-store", signal });
    if (!resp.ok) throw new Error(`${url} ${resp.status}`);
    return resp.json();
  }

  scheduleProbe() {
    clearTimeout(this.probeTimer);
    if (this.mode !== "poll" || this.stopped) return;
    this.probeTimer = setTimeout(() => this.connect({ probe: true }), WS_PROBE_FROM_POLL_MS);
  }
}

let shared = null;

/** The tab's one client, created on first use from the page's `<body data-seq data-epoch>`. */
export function realtime() {
  if (!shared) {
    const ds = document.body.dataset;
    const seq = ds.seq !== undefined && ds.seq !== "" ? Number(ds.seq) : null;
    const client = new Realtime({ seq, epoch: ds.epoch || null });
    // Start after the page's modules have subscribed (events only arrive in later tasks anyway).
    queueMicrotask(() => client.start());
  }
  return shared;
}
