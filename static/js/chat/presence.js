// Teammates: typing indicators (sent debounced through the `typing` call, expiring by
// themselves) and presence dots from `presence_changed`.
import { t } from "./strings.js";

const TYPING_REPEAT_MS = 3000;     // while typing, say "start" again at most this often
const TYPING_IDLE_MS = 4000;       // no keystroke this long: "stop"
const TYPING_EXPIRE_MS = 6000;     // a teammate's "start" without a repeat or "stop" expires

export class Typing {
  /** @param {{rt: object, meId: string, onChange: Function}} opts  onChange(conversationId) */
  constructor({ rt, meId, onChange }) {
    this.rt = rt;
    this.meId = meId;
    this.onChange = onChange;
    this.others = new Map();       // conversation id -> Map(user id -> {name, timer})
    this.mine = null;              // conversation id I am typing in
    this.lastStart = 0;
    this.idle = 0;
    rt.on("typing", (data) => this.onEvent(data));
  }

  /** A keystroke in the composer of `conversationId` (`active` false when the box emptied). */
  local(conversationId, active) {
    clearTimeout(this.idle);
    if (!active) { this.stop(); return; }
    if (this.mine !== conversationId) this.stop();
    const now = Date.now();
    if (this.mine !== conversationId || now - this.lastStart > TYPING_REPEAT_MS) {
      this.mine = conversationId;
      this.lastStart = now;
      this.send(conversationId, "start");
    }
    this.idle = setTimeout(() => this.stop(), TYPING_IDLE_MS);
  }

  stop() {
    clearTimeout(this.idle);
    if (this.mine === null) return;
    const id = this.mine;
    this.mine = null;
    this.lastStart = 0;
    this.send(id, "stop");
  }

  send(conversationId, state) {
    // Best effort: over long-polling there is no socket, and a lost indicator harms nobody.
    this.rt.call("typing", { conversation_id: conversationId, state }).catch(() => {});
  }

  onEvent(data) {
    const user = data?.user;
    if (!user || user.id === this.meId || !data.conversation_id) return;
    const conv = data.conversation_id;
    if (!this.others.has(conv)) this.others.set(conv, new Map());
    const users = this.others.get(conv);
    clearTimeout(users.get(user.id)?.timer);
    if (data.state === "stop") {
      users.delete(user.id);
    } else {
      const timer = setTimeout(() => { users.delete(user.id); this.onChange(conv); }, TYPING_EXPIRE_MS);
      users.set(user.id, { name: user.name || "", timer });
    }
    this.onChange(conv);
  }

  /** The line to show in a thread ("Ana está escribiendo…"), or "". */
  text(conversationId) {
    const users = this.others.get(conversationId);
    if (!users || users.size === 0) return "";
    if (users.size > 1) return t("typing_many");
    const [{ name }] = users.values();
    return t("typing_one", { name: name || "…" });
  }

  /** A new message from that teammate ends their typing. */
  clearUser(conversationId, userId) {
    const users = this.others.get(conversationId);
    if (users?.has(userId)) { clearTimeout(users.get(userId).timer); users.delete(userId); this.onChange(conversationId); }
  }
}

export class Presence {
  /** @param {{rt: object, meId: string, root: HTMLElement}} opts */
  constructor({ rt, meId, root }) {
    this.rt = rt;
    this.meId = meId;
    this.root = root;
    this.online = new Set();
    this.names = new Map();        // user id -> name, learned from messages and typing
    rt.on("presence_changed", (d) => {
      if (d.online) this.online.add(String(d.user_id)); else this.online.delete(String(d.user_id));
      this.render();
    });
    rt.on("typing", (d) => { if (d?.user?.name) this.learn(d.user.id, d.user.name); });
    rt.onState((state) => { if (state === "live") this.refresh(); });
  }

  async refresh() {
    try {
      const data = await this.rt.call("presence");
      this.online = new Set((data?.online ?? []).map(String));
      this.render();
    } catch { /* not on a socket: dots stay as they were */ }
  }

  learn(id, name) {
    if (!id || !name || this.names.get(String(id)) === name) return;
    this.names.set(String(id), name);
    this.render();
  }

  isOnline(id) { return this.online.has(String(id)); }

  /** The teammates strip: a dot and a name (or initials) per teammate online. */
  render() {
    const others = [...this.online].filter((id) => id !== this.meId);
    this.root.hidden = others.length === 0;
    const list = this.root.querySelector(".team-list");
    list.replaceChildren();
    for (const id of others) {
      const item = document.createElement("li");
      item.className = "team-member";
      const dot = document.createElement("span");
      dot.className = "presence-dot online";
      dot.setAttribute("aria-hidden", "true");
      item.append(dot, this.names.get(id) ?? "•");
      item.title = `${this.names.get(id) ?? ""} · ${t("online")}`.replace(/^ · /, "");
      list.append(item);
    }
  }
}
