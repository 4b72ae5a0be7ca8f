// REST calls of the bulk pages (PROTOCOL §2 /bulk routes, /bulk/preview, /suppressions).
import { ApiError, request } from "../chat/api.js";

export { ApiError, request };

const enc = encodeURIComponent;

export function listCampaigns() { return request("GET", "/api/v1/bulk"); }
export function getCampaign(id) { return request("GET", `/api/v1/bulk/${enc(id)}`); }
export function createCampaign(body) { return request("POST", "/api/v1/bulk", { body }); }
/** start / pause / resume / cancel: 202 with the campaign object. */
export function control(id, action) { return request("POST", `/api/v1/bulk/${enc(id)}/${action}`); }

export function listRecipients(id, { state = "", cursor = null, limit = 100 } = {}) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (state) params.set("state", state);
  if (cursor) params.set("cursor", cursor);
  return request("GET", `/api/v1/bulk/${enc(id)}/recipients?${params}`);
}

/** JSON preview: {"numbers"} or {"contacts": {"q"}}, with the message `body`. */
export function previewJson(body) { return request("POST", "/api/v1/bulk/preview", { body }); }

/** CSV preview: multipart, so the file goes as it is (the server sniffs its encoding). */
export async function previewFile(file, body) {
  const form = new FormData();
  form.append("body", body);
  form.append("file", file, file.name);
  const resp = await fetch("/api/v1/bulk/preview", { method: "POST", body: form, credentials: "same-origin" });
  let data = null;
  try { data = await resp.json(); } catch { data = null; }
  if (!resp.ok) throw new ApiError(resp.status, data?.error?.code, data?.error?.message);
  return data;
}

export function listSuppressions(cursor = null) {
  const params = new URLSearchParams({ limit: "100" });
  if (cursor) params.set("cursor", cursor);
  return request("GET", `/api/v1/suppressions?${params}`);
}
export function addSuppression(phone) { return request("POST", "/api/v1/suppressions", { body: { phone } }); }
export function removeSuppression(phone) { return request("DELETE", `/api/v1/suppressions/${enc(phone)}`); }
export function getOptout() { return request("GET", "/api/v1/optout"); }
export function putOptout(words) { return request("PUT", "/api/v1/optout", { body: { words } }); }
