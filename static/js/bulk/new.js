// /bulk/new: name, message with variable chips, recipients (CSV, pasted, contacts) checked by
// POST /bulk/preview, problems table, preview bubbles, start now or at a time; then POST /bulk.
import { control, createCampaign, previewFile, previewJson } from "./api.js";
import { el, errorText, formatNumber, render, t, unknownVariables } from "./format.js";
import { lang } from "../i18n.js";

const $ = (id) => document.getElementById(id);
const form = $("new-form");
const body = $("f-body");
const chips = $("chips");
const PROBLEMS_SHOWN = 200;      // rows in the problems table; the rest are counted
const MAX_BODY = 4096;

let checked = null;              // the last preview answer
let checkedFor = null;           // what it was asked for (source + input); a change makes it stale

const source = () => form.querySelector("input[name=source]:checked").value;
const when = () => form.querySelector("input[name=when]:checked").value;

function sourceInput() {
  const s = source();
  if (s === "csv") { const f = $("f-file").files[0]; return f ? `csv:${f.name}:${f.size}:${f.lastModified}` : "csv:"; }
  if (s === "pasted") return `pasted:${$("f-numbers").value}`;
  return `contacts:${$("f-contacts").value}`;
}

// -- message and variable chips ---------------------------------------------------------------

function insertVar(name) {
  const token = `{{${name}}}`;
  const start = body.selectionStart ?? body.value.length;
  const end = body.selectionEnd ?? start;
  body.setRangeText(token, start, end, "end");
  body.focus();
  onBodyChange();
}

function showChips(columns) {
  const names = [lang === "en" ? "name" : "nombre", ...columns.filter((c) => c !== "nombre" && c !== "name")];
  chips.replaceChildren(...names.map((name) => {
    const b = el("button", "chip", `{{${name}}}`);
    b.type = "button";
    b.dataset.var = name;
    b.setAttribute("aria-label", t("bulk.f.insert", { var: name }));
    return b;
  }));
}

chips.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-var]");
  if (b) insertVar(b.dataset.var);
});

function onBodyChange() {
  $("body-count").textContent = t("bulk.f.chars", { n: formatNumber(body.value.length) });
  if (checked) showPreview();
}
body.addEventListener("input", onBodyChange);

// -- recipients ---------------------------------------------------------------------------------

function showSource() {
  for (const panel of form.querySelectorAll(".source-panel")) panel.hidden = panel.dataset.source !== source();
}
function showWhen() {
  $("at-box").hidden = when() !== "later";
  $("create").querySelector("span").textContent = t(when() === "later" ? "bulk.f.create_schedule" : "bulk.f.create_start");
}
for (const radio of form.querySelectorAll("input[name=source]")) radio.addEventListener("change", showSource);
for (const radio of form.querySelectorAll("input[name=when]")) radio.addEventListener("change", showWhen);
// A choice made before this module ran (slow network) is shown as made.
showSource();
showWhen();
// A new file is checked at once: that is what the shop expects after choosing it.
$("f-file").addEventListener("change", () => { if ($("f-file").files.length) check(); });

function reasonText(p) {
  return p.reason === "duplicate" ? t("bulk.reason.duplicate", { first: p.first_row }) : t(`bulk.reason.${p.reason}`);
}

function showProblems(problems) {
  const tbody = $("problems").querySelector("tbody");
  const shown = problems.slice(0, PROBLEMS_SHOWN).map((p) => {
    const tr = el("tr");
    tr.dataset.row = String(p.row);
    tr.dataset.reason = p.reason;
    tr.append(el("td", "num", String(p.row)), el("td", "value", p.value || "—"), el("td", "", reasonText(p)));
    return tr;
  });
  if (problems.length > PROBLEMS_SHOWN) {
    const tr = el("tr");
    const td = el("td", "muted", t("bulk.problems_more", { n: formatNumber(problems.length - PROBLEMS_SHOWN) }));
    td.colSpan = 3;
    tr.append(td);
    shown.push(tr);
  }
  tbody.replaceChildren(...shown);
  $("problems-box").hidden = problems.length === 0;
}

function showPreview() {
  const items = checked.recipients.slice(0, 3).map((r) => {
    const li = el("li", "bubble-row");
    li.append(el("span", "to num", r.name ? `${r.name} · ${r.display}` : r.display), el("p", "bubble", render(body.value, r) || "…"));
    return li;
  });
  $("preview").replaceChildren(...items);
  const unknown = unknownVariables(body.value, checked.columns ?? []);
  $("unknown-vars").textContent = unknown.length ? t("bulk.unknown_vars", { vars: unknown.map((v) => `{{${v}}}`).join(", ") }) : "";
  $("unknown-vars").hidden = unknown.length === 0;
}

function showResult(data) {
  const c = data.counts;
  const parts = [t("bulk.sum", { n: formatNumber(c.valid) })];
  if (c.invalid) parts.push(t("bulk.sum_invalid", { n: formatNumber(c.invalid) }));
  if (c.duplicate) parts.push(t("bulk.sum_dup", { n: formatNumber(c.duplicate) }));
  if (data.phone_column) parts.push(t("bulk.sum_file", { column: data.phone_column }));
  $("summary").textContent = parts.join(" · ");
  $("summary").dataset.valid = String(c.valid);
  showProblems(data.problems);
  showChips(data.columns ?? []);
  showPreview();
  $("result").hidden = false;
}

async function check() {
  const button = $("check");
  const input = sourceInput();
  $("check-error").hidden = true;
  button.disabled = true;
  $("check-status").textContent = t("bulk.f.checking");
  try {
    const s = source();
    let data;
    if (s === "csv") {
      const file = $("f-file").files[0];
      if (!file) throw Object.assign(new Error("no file"), { code: "missing_source" });
      data = await previewFile(file, body.value);
    } else if (s === "pasted") {
      data = await previewJson({ body: body.value, numbers: $("f-numbers").value });
    } else {
      data = await previewJson({ body: body.value, contacts: { q: $("f-contacts").value } });
    }
    checked = data;
    checkedFor = input;
    showResult(data);
  } catch (err) {
    checked = null;
    $("result").hidden = true;
    $("check-error").textContent = errorText(err);
    $("check-error").hidden = false;
  } finally {
    button.disabled = false;
    $("check-status").textContent = "";
  }
}
$("check").addEventListener("click", check);

// -- create (and start) ------------------------------------------------------------------------

function fail(message, focus) {
  $("create-error").textContent = message;
  $("create-error").hidden = false;
  focus?.focus();
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("create-error").hidden = true;
  const name = $("f-name").value.trim();
  if (!name) return fail(t("bulk.err.name"), $("f-name"));
  if (!body.value.trim() || body.value.length > MAX_BODY) return fail(t("bulk.err.body"), body);
  if (!checked || !checked.recipients.length) return fail(t("bulk.err.no_recipients"), $("check"));
  if (checkedFor !== sourceInput()) return fail(t("bulk.err.stale"), $("check"));
  const payload = {
    name, body: body.value,
    recipients: checked.recipients.map((r) => ({ phone: r.phone, name: r.name || undefined, vars: r.vars })),
  };
  if (when() === "later") {
    const at = new Date($("f-at").value);
    if (isNaN(at) || at.getTime() <= Date.now()) return fail(t("bulk.err.at"), $("f-at"));
    payload.start_at = at.getTime();
  }
  const button = $("create");
  button.disabled = true;
  button.querySelector("span").textContent = t("bulk.f.creating");
  try {
    const campaign = await createCampaign(payload);
    // "Send now" starts it; a scheduled one starts by itself at its time. Once created we go to
    // its page whatever the start answered: retrying here would create a second campaign, and
    // the page offers "Send now" on a draft.
    if (when() === "now") await control(campaign.id, "start").catch((err) => console.warn("start", err));
    location.assign(`/bulk/${encodeURIComponent(campaign.id)}`);
  } catch (err) {
    fail(errorText(err));
    button.disabled = false;
    button.querySelector("span").textContent = t(when() === "later" ? "bulk.f.create_schedule" : "bulk.f.create_start");
  }
});

onBodyChange();
