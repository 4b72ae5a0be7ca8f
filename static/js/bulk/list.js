// /bulk: the campaign list, kept live by bulk_message_progress (the latest campaign object).
import { realtime } from "../realtime.js";
import { listCampaigns } from "./api.js";
import { el, errorText, formatDate, formatNumber, done, percent, statusClass, statusText, t } from "./format.js";

const list = document.getElementById("campaigns");
const status = document.getElementById("campaigns-status");
const empty = document.getElementById("campaigns-empty");
const errorBox = document.getElementById("campaigns-error");
const rows = new Map();          // campaign id -> <li>
const SLOW_MS = 3000;            // past this a loading list says it is slow

function sortKey(c) { return c.created_at ?? 0; }

/** One row: name, status pill, progress bar and "120 of 300"; updated in place by id. */
function fill(li, c) {
  li.dataset.status = c.status;
  li.dataset.created = String(sortKey(c));
  const link = li.querySelector("a");
  link.href = `/bulk/${encodeURIComponent(c.id)}`;
  li.querySelector(".c-name").textContent = c.name || t("bulk.new");
  const pill = li.querySelector(".pill");
  pill.className = `pill ${statusClass(c.status)}`.trim();
  pill.textContent = statusText(c.status);
  const p = percent(c);
  const bar = li.querySelector(".bar");
  bar.setAttribute("aria-valuenow", String(p));
  li.querySelector(".bar .fill").style.width = `${p}%`;
  li.querySelector(".c-of").textContent = t("bulk.progress_of", { done: formatNumber(done(c)), total: formatNumber(c.total ?? 0) });
  const when = c.start_at && c.status === "scheduled" ? t("bulk.scheduled_for", { when: formatDate(c.start_at) })
    : t("bulk.created", { when: formatDate(c.created_at) });
  li.querySelector(".c-when").textContent = when;
}

function row(c) {
  const li = el("li", "campaign");
  li.dataset.id = String(c.id);
  const a = el("a", "campaign-link");
  const top = el("span", "c-top");
  top.append(el("span", "c-name"), el("span", "pill"));
  const bar = el("span", "bar");
  bar.setAttribute("role", "progressbar");
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  bar.setAttribute("aria-label", t("bulk.progress_label"));
  bar.append(el("span", "fill"));
  const bottom = el("span", "c-bottom");
  bottom.append(el("span", "c-of num"), el("span", "c-when muted"));
  a.append(top, bar, bottom);
  li.append(a);
  fill(li, c);
  return li;
}

function upsert(c) {
  let li = rows.get(String(c.id));
  if (li) { fill(li, c); return; }
  li = row(c);
  rows.set(String(c.id), li);
  // newest first: before the first row created earlier
  const before = [...list.children].find((n) => Number(n.dataset.created) < sortKey(c));
  list.insertBefore(li, before ?? null);
  empty.hidden = true;
}

async function load() {
  errorBox.hidden = true;
  list.setAttribute("aria-busy", "true");
  const slow = setTimeout(() => { status.textContent = t("bulk.slow"); }, SLOW_MS);
  try {
    const data = await listCampaigns();
    list.replaceChildren();
    rows.clear();
    for (const c of data.items ?? []) upsert(c);
    empty.hidden = rows.size > 0;
    status.textContent = "";
    status.hidden = true;
    return data.seq ?? null;
  } catch (err) {
    status.hidden = true;
    list.replaceChildren();
    errorBox.querySelector(".msg").textContent = errorText(err);
    errorBox.hidden = false;
    throw err;
  } finally {
    clearTimeout(slow);
    list.setAttribute("aria-busy", "false");
  }
}

document.getElementById("campaigns-retry").addEventListener("click", () => { load().catch(() => {}); });

const rt = realtime();
rt.on("bulk_message_progress", (c) => { if (c && c.id !== undefined) upsert(c); });
// WhatsApp flagged the number (admins only): every running campaign paused; say so on top.
rt.on("bulk_alert", (alert) => {
  if (alert?.kind !== "paused") return;
  const box = document.getElementById("campaigns-alert");
  box.textContent = t("bulk.paused_by_whatsapp");
  box.hidden = false;
});
rt.onResync(load);
load().catch((err) => console.warn("bulk list", err));
