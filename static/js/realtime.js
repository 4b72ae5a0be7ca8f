// The realtime client: WebSocket v1 with resume, backoff and a long-poll fallback (PROTOCOL §3–4).
// Handlers are looked up by wire event name; durable events are deduplicated by seq.

const STORE_KEY = "condorito.rt";
const WELCOME_TIMEOUT_MS = 3000;          // no welcome in time: try long-polling (Phoenix: 2.5 s)
const WS_RETRY_FROM_POLL_MS = 5 * 60 * 1000;
const RECONNECTING_AFTER_MS = 5000;       // show "reconnecting" only after a real outage
const POLL_TIMEOUT_S = 25;

/** Full-jitter backoff: random(0, min(30 s, 0.5 s · 2^attempt)). */
function backoff(attempt) {
  return Math.random() * Math.min(30000, 500 * 2 ** attempt);
}

export class Realtime {
  /**
   * @param {{seq?: number, epoch?: string, handlers: Object<string, Function>,
   *          onState?: Function, onResync?: Function}} options
   */
  constructor({ seq = null, epoch = null, handlers = {}, onState = () => {}, onResync = async () => {} }) {
    const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
    // A server-rendered page knows the seq its data was read at; it wins over an older tab cursor.
    this.epoch = epoch ?? saved?.epoch ?? null;
    this.lastSeq = seq ?? saved?.seq ?? null;
    this.handlers = handlers;
    this.onState = onState;
    this.onResync = onResync;
    this.attempt = 0;
    this.failedHandshakes = 0;
    this.callId = 0;
    this.pending = new Map();
    this.ws = null;
    this.stopped = false;
    this.mode = sessionStorage.getItem(STORE_KEY + ".mode") === "poll" ? "poll" : "ws";
    this.buffer = null;   // events held while a resync reloads state
    this.state = null;
  }

  start() {
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && !this.isLive()) this.reconnectNow();
    });
    if (this.mode === "poll") this.startPolling(); else this.connect();
  }

  isLive() { return this.state === "live" || this.state === "syncing"; }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.onState(state);
  }

  save() {
    sessionStorage.setItem(STORE_KEY, JSON.stringify({ epoch: this.epoch, seq: this.lastSeq }));
  }

  // -- WebSocket ---------------------------------------------------------------------------

  connect() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/ws?v=1`);
    this.ws = ws;
    let welcomed = false;
    this.outageTimer ??= setTimeout(() => this.setState("reconnecting"), RECONNECTING_AFTER_MS);
    const welcomeTimer = setTimeout(() => {
      if (!welcomed) { this.failedHandshakes = 2; ws.close(); }
    }, WELCOME_TIMEOUT_MS);
    ws.onopen = () => {
      const hello = { type: "hello", v: 1, features: ["batch"] };
      if (this.epoch !== null && this.lastSeq !== null) hello.resume = { epoch: this.epoch, seq: this.lastSeq };
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (msg) => {
      this.armWatchdog();
      const data = JSON.parse(msg.data);
      for (const frame of Array.isArray(data) ? data : [data]) {
        if (frame.type === "welcome") { welcomed = true; clearTimeout(welcomeTimer); }
        this.onFrame(frame);
      }
    };
    ws.onclose = (ev) => {
      clearTimeout(welcomeTimer);
      clearTimeout(this.watchdog);
      if (this.ws !== ws) return;
      this.ws = null;
      if (!welcomed) this.failedHandshakes += 1;
      this.onClose(ev.code);
    };
  }

  armWatchdog() {
    clearTimeout(this.watchdog);
    const ms = ((this.pingInterval ?? 25) + (this.pongTimeout ?? 10)) * 1000;
    this.watchdog = setTimeout(() => this.ws?.close(), ms);
  }

  onClose(code) {
    for (const { reject } of this.pending.values()) reject(new Error("connection closed"));
    this.pending.clear();
    if (code === 4501 || code === 4003) { location.assign("/login?next=" + encodeURIComponent(location.pathname)); return; }
    if (code >= 4500 && code <= 4999) { this.stopped = true; this.setState("stopped"); return; }
    if (this.failedHandshakes >= 2) { this.startPolling(); return; }
    // After a server restart or a reconnect request, spread the herd over 0–5 s.
    const delay = code === 1001 || code === 4000 ? Math.random() * 5000 : backoff(this.attempt);
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
      case "replay_end": this.setState("live"); break;
      case "ping": this.ws?.send('{"type":"pong"}'); break;
      case "result": this.onResult(frame); break;
      default: break;  // unknown frame types are ignored (forward compatibility)
    }
  }

  onWelcome(frame) {
    this.attempt = 0;
    this.failedHandshakes = 0;
    clearTimeout(this.outageTimer);
    this.outageTimer = null;
    this.pingInterval = frame.ping_interval;
    this.pongTimeout = frame.pong_timeout;
    this.epoch = frame.epoch;
    if (frame.resume === "replaying") { this.setState("syncing"); return; }
    if (frame.resume === "resync_required") { this.resync(frame.head); return; }
    if (this.lastSeq === null) this.lastSeq = frame.head;
    this.save();
    this.setState("live");
  }

  /** Reload state over REST while holding live events; apply those newer than the snapshot. */
  async resync(head) {
    this.setState("syncing");
    this.buffer = [];
    let snapshotSeq = head;
    try { snapshotSeq = (await this.onResync()) ?? head; } catch (err) { console.error(err); }
    const held = this.buffer;
    this.buffer = null;
    this.lastSeq = snapshotSeq;
    for (const frame of held) if (frame.seq === null || frame.seq > snapshotSeq) this.dispatch(frame);
    this.save();
    this.setState("live");
  }

  dispatch(frame) {
    if (this.buffer) { this.buffer.push(frame); return; }
    const durable = frame.seq !== null && frame.seq !== undefined;
    if (durable && this.lastSeq !== null && frame.seq <= this.lastSeq) return;
    const handler = this.handlers[frame.event];
    if (handler) {
      try { handler(frame.data, frame); } catch (err) { console.error(err); }
    }
    if (durable) { this.lastSeq = frame.seq; this.save(); }  // only after the handler ran
  }

  call(method, params = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error("offline"));
    const id = ++this.callId;
    this.ws.send(JSON.stringify({ type: "call", id, method, params }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  onResult(frame) {
    const waiter = this.pending.get(frame.id);
    if (!waiter) return;
    this.pending.delete(frame.id);
    if (frame.ok) waiter.resolve(frame.data); else waiter.reject(Object.assign(new Error(frame.error.message), frame.error));
  }

  // -- long-poll fallback ----------------------------------------------------------------

  async startPolling() {
    this.mode = "poll";
    sessionStorage.setItem(STORE_KEY + ".mode", "poll");
    this.setState(this.lastSeq === null ? "syncing" : "live");
    setTimeout(() => this.tryUpgrade(), WS_RETRY_FROM_POLL_MS);
    let failures = 0;
    while (this.mode === "poll" && !this.stopped) {
      try {
        if (this.lastSeq === null || this.epoch === null) {
          const start = await this.fetchJson("/api/v1/events");
          this.epoch = start.epoch; this.lastSeq = start.next; this.save();
        }
        const url = `/api/v1/events?since=${this.lastSeq}&epoch=${encodeURIComponent(this.epoch)}&timeout=${POLL_TIMEOUT_S}`;
        const resp = await fetch(url, { credentials: "same-origin", cache: "no-store" });
        if (resp.status === 401) { location.assign("/login"); return; }
        if (resp.status === 410) { const body = await resp.json(); this.epoch = body.error.epoch; await this.resync(body.error.head); continue; }
        if (!resp.ok) throw new Error(`poll ${resp.status}`);
        const body = await resp.json();
        failures = 0;
        this.setState("live");
        for (const frame of body.events) this.dispatch(frame);
        this.lastSeq = Math.max(this.lastSeq, body.next);
        this.save();
      } catch (err) {
        failures += 1;
        this.setState("reconnecting");
        await new Promise((r) => setTimeout(r, backoff(failures)));
      }
    }
  }

  async fetchJson(url) {
    const resp = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!resp.ok) throw new Error(`${url} ${resp.status}`);
    return resp.json();
  }

  /** From long-polling, probe the WebSocket; switch back on a welcome (both share the cursor). */
  tryUpgrade() {
    if (this.mode !== "poll" || this.stopped) return;
    sessionStorage.removeItem(STORE_KEY + ".mode");
    this.mode = "ws";
    this.failedHandshakes = 0;
    this.connect();
  }
}
