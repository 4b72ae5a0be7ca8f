// Settings: own profile, the team (add with a one-time password, role, disable, reset), the
// business. Every name and e-mail is inserted as text.
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const resp = await fetch(path, {
    method, credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = resp.headers.get("content-type")?.includes("json") ? await resp.json() : null;
  if (!resp.ok) throw Object.assign(new Error(data?.error?.message ?? `${resp.status}`), { code: data?.error?.code, field: data?.error?.field });
  return data;
}

/** Words for an API error: a specific message when we have one, else the generic one. */
function errorText(err, prefix) {
  const key = `${prefix}.err.${err.code}`;
  const specific = err.code ? t(key) : key;
  return specific !== key ? specific : t("settings.error");
}

function status(form, text, isError = false) {
  const el = form.querySelector(".form-status");
  el.textContent = text;
  el.classList.toggle("error", isError);
  el.classList.toggle("ok", !isError && Boolean(text));
}

function node(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

// -- profile ------------------------------------------------------------------------------------

const profile = $("profile-form");
profile?.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(profile);
  const before = profile.dataset.lang ?? profile.elements.lang.defaultValue;
  try {
    await api("PATCH", "/api/v1/me", { name: form.get("name"), lang: form.get("lang") });
    if (form.get("lang") !== before) { location.reload(); return; }   // the page in the new language
    status(profile, t("settings.saved"));
  } catch (err) {
    status(profile, errorText(err, "settings"), true);
  }
});
if (profile) profile.dataset.lang = profile.elements.lang.value;

// -- team ---------------------------------------------------------------------------------------

const teamData = $("team-data");
const team = teamData ? JSON.parse(teamData.textContent) : null;
const rows = $("team-rows");

function showOtp(user, password) {
  $("otp-who").textContent = t("team.otp_for", { name: user.name || user.email });
  $("otp").textContent = password;
  $("otp-copy").textContent = t("team.copy");
  $("otp-box").hidden = false;
  $("otp-box").scrollIntoView({ block: "nearest" });
}

function row(user) {
  const me = user.id === team.me;
  const li = node("li", "member");
  li.id = `member-${user.id}`;
  li.dataset.disabled = String(user.disabled);
  li.setAttribute("aria-busy", "false");
  const avatar = node("span", "avatar", (user.name || user.email).slice(0, 1).toUpperCase());
  avatar.setAttribute("aria-hidden", "true");
  const who = node("div", "member-who");
  const name = node("strong", "member-name", user.name);
  if (me) name.append(node("span", "muted", ` (${t("team.you")})`));
  who.append(name, node("span", "member-email muted", user.email));
  const role = node("select", "member-role");
  role.setAttribute("aria-label", t("team.role_of", { name: user.name || user.email }));
  for (const value of ["agent", "admin"]) {
    const opt = node("option", "", t(`nav.role_${value}`));
    opt.value = value;
    opt.selected = user.role === value;
    role.append(opt);
  }
  role.disabled = me;
  if (me) role.dataset.locked = "1";
  role.addEventListener("change", () => update(user, { role: role.value }, li));
  const state = user.disabled ? ["danger", "team.disabled"] : user.must_change_password ? ["warn", "team.must_change"] : ["ok", "team.active"];
  const pill = node("span", `pill ${state[0]} member-state`, t(state[1]));
  const actions = node("div", "member-actions");
  if (!me) {
    const reset = node("button", "secondary member-reset", t("team.reset"));
    reset.type = "button";
    reset.addEventListener("click", () => resetPassword(user, li));
    const toggle = node("button", user.disabled ? "secondary member-toggle" : "danger member-toggle",
                        t(user.disabled ? "team.enable" : "team.disable"));
    toggle.type = "button";
    toggle.addEventListener("click", () => update(user, { disabled: !user.disabled }, li));
    actions.append(reset, toggle);
  }
  const error = node("p", "error member-error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  li.append(avatar, who, role, pill, actions, error);
  return li;
}

function replaceRow(user) {
  const index = team.items.findIndex((u) => u.id === user.id);
  if (index >= 0) team.items[index] = user; else team.items.push(user);
  const fresh = row(user);
  const old = $(`member-${user.id}`);
  if (old) old.replaceWith(fresh); else rows.append(fresh);
}

function rowError(li, err) {
  busy(li, false);
  const el = li.querySelector(".member-error");
  el.textContent = errorText(err, "team");
  el.hidden = false;
}

/** One change at a time per person: answers arriving out of order must not undo a later one. */
function busy(li, on) {
  li.setAttribute("aria-busy", String(on));
  for (const control of li.querySelectorAll("button, select")) control.disabled = on || control.dataset.locked === "1";
}

async function update(user, change, li) {
  busy(li, true);
  try { replaceRow(await api("PATCH", `/api/v1/users/${encodeURIComponent(user.id)}`, change)); }
  catch (err) { rowError(li, err); }
}

async function resetPassword(user, li) {
  busy(li, true);
  try {
    const answer = await api("POST", `/api/v1/users/${encodeURIComponent(user.id)}/password-reset`);
    const { one_time_password: password, ...fresh } = answer;
    replaceRow(fresh);
    showOtp(fresh, password);
  } catch (err) { rowError(li, err); }
}

if (team) {
  rows.replaceChildren(...team.items.map(row));
  const addForm = $("add-form");
  const toggle = $("add-toggle");
  toggle.addEventListener("click", () => {
    addForm.hidden = !addForm.hidden;
    toggle.setAttribute("aria-expanded", String(!addForm.hidden));
    if (!addForm.hidden) addForm.elements.name.focus();
  });
  addForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = new FormData(addForm);
    status(addForm, "");
    try {
      const answer = await api("POST", "/api/v1/users", { name: form.get("name"), email: form.get("email"), role: form.get("role") });
      const { one_time_password: password, ...user } = answer;
      replaceRow(user);
      addForm.reset();
      addForm.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
      showOtp(user, password);
    } catch (err) {
      status(addForm, errorText(err, "team"), true);
    }
  });
  $("otp-copy").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText($("otp").textContent); $("otp-copy").textContent = t("team.copied"); }
    catch { window.getSelection()?.selectAllChildren($("otp")); }   // no clipboard: select it instead
  });
}

// -- business -----------------------------------------------------------------------------------

const business = $("business-form");
business?.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(business);
  try {
    await api("PATCH", "/api/v1/tenant", { name: form.get("name"), default_lang: form.get("default_lang"),
                                           timezone: form.get("timezone"),
                                           default_country: form.get("default_country") });
    status(business, t("settings.saved"));
  } catch (err) {
    status(business, err.field === "timezone" ? t("business.err.timezone") : errorText(err, "settings"), true);
  }
});
