// REST calls of the chat (PROTOCOL §2) with errors turned into exceptions carrying the code.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

/** fetch + JSON; a non-2xx answer throws ApiError, a network failure throws TypeError. */
export async function request(method, path, { body, headers = {}, signal } = {}) {
  const init = { method, credentials: "same-origin", cache: "no-store", headers: { ...headers }, signal };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(path, init);
  if (resp.status === 401) {
    location.assign("/login?next=" + encodeURIComponent(location.pathname));
    throw new ApiError(401, "unauthorized");
  }
  if (resp.status === 204) return null;
  let data = null;
  try { data = await resp.json(); } catch { data = null; }
  if (!resp.ok) throw new ApiError(resp.status, data?.error?.code, data?.error?.message);
  return data;
}

export function listConversations({ q = "", unread = false, cursor = null, limit = 50, signal } = {}) {
  const params = new URLSearchParams({ status: "all", limit: String(limit) });
  if (q) params.set("q", q);
  if (unread) params.set("unread", "1");
  if (cursor) params.set("cursor", cursor);
  return request("GET", `/api/v1/conversations?${params}`, { signal });
}

export function getConversation(id) {
  return request("GET", `/api/v1/conversations/${encodeURIComponent(id)}`);
}

export function listMessages(id, { before = null, limit = 50 } = {}) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (before) params.set("before", before);
  return request("GET", `/api/v1/conversations/${encodeURIComponent(id)}/messages?${params}`);
}

export function sendMessage(id, body, key) {
  return request("POST", `/api/v1/conversations/${encodeURIComponent(id)}/messages`,
    { body: { body }, headers: { "Idempotency-Key": key } });
}

export function markRead(id) {
  return request("POST", `/api/v1/conversations/${encodeURIComponent(id)}/read`);
}

export function getWhatsapp() {
  return request("GET", "/api/v1/whatsapp");
}

/** A random key that works outside secure contexts too (crypto.randomUUID needs https). */
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
