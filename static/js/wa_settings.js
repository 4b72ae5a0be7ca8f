// Settings, WhatsApp: the provider (sandbox, Cloud API, QR) and the Cloud API credentials.
// Secrets are write-only: their fields always start empty, what is stored only shows as the
// server's mask, and an empty field keeps the stored value (it is not sent at all).
import { t } from "./i18n.js";

const SECRETS = ["access_token", "app_secret", "verify_token"];
const form = document.getElementById("wa-form");
const $ = (id) => document.getElementById(id);

async function api(method, body) {
  const resp = await fetch("/api/v1/whatsapp/config", {
    method, credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = resp.headers.get("content-type")?.includes("json") ? await resp.json() : null;
  if (!resp.ok) throw Object.assign(new Error(data?.error?.message ?? `${resp.status}`), { code: data?.error?.code, field: data?.error?.field });
  return data;
}

function status(text, isError = false) {
  const el = form.querySelector(".form-status");
  el.textContent = text;
  el.classList.toggle("error", isError);
  el.classList.toggle("ok", !isError && Boolean(text));
}

// Errors with words of their own (PUT /api/v1/whatsapp/config); any other is the generic one.
const FIELD_ERRORS = new Set(["phone_number_id", "waba_id", "api_base"]);
const CODE_ERRORS = new Set(["phone_number_taken", "provider_unavailable", "api_base_not_allowed"]);

function errorText(err) {
  if (err.code === "invalid_field" && FIELD_ERRORS.has(err.field)) return t(`wa.err.${err.field}`);
  if (CODE_ERRORS.has(err.code)) return t(`wa.err.${err.code}`);
  return t("settings.error");
}

function showParts() {
  const choice = form.elements.provider.value;
  $("wa-cloud").hidden = choice !== "cloud";
  $("wa-web").hidden = choice !== "web";
}

function fill(config) {
  form.elements.phone_number_id.value = config.phone_number_id ?? "";
  form.elements.waba_id.value = config.waba_id ?? "";
  for (const name of SECRETS) {
    form.elements[name].value = "";
    const mask = config[name];
    $(`wa-${name}-state`).textContent = mask ? t("wa.secret_saved", { mask }) : t("wa.secret_missing");
  }
  $("wa-webhook").textContent = config.webhook_url;
  $("wa-provider-now").textContent = t(`wa.provider.${config.provider}`);
}

function markInvalid(field) {
  for (const input of form.querySelectorAll("input[aria-invalid]")) input.removeAttribute("aria-invalid");
  const input = field ? form.elements[field] : null;
  if (input instanceof HTMLInputElement) { input.setAttribute("aria-invalid", "true"); input.focus(); }
}

if (form) {
  for (const radio of form.elements.provider) radio.addEventListener("change", showParts);
  api("GET").then(fill).catch((err) => status(errorText(err), true));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { provider: form.elements.provider.value };
    if (body.provider === "cloud") {
      body.phone_number_id = form.elements.phone_number_id.value.trim();
      body.waba_id = form.elements.waba_id.value.trim();
      for (const name of SECRETS) {
        const value = form.elements[name].value.trim();
        if (value) body[name] = value;   // empty: keep what is stored
      }
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    status("");
    try {
      fill(await api("PUT", body));
      markInvalid(null);
      status(body.provider === "sandbox" ? t("settings.saved") : t("wa.saved"));
    } catch (err) {
      markInvalid(err.field);
      status(errorText(err), true);
    } finally {
      button.disabled = false;
    }
  });

  $("wa-webhook-copy").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText($("wa-webhook").textContent); $("wa-webhook-copy").textContent = t("team.copied"); }
    catch { window.getSelection()?.selectAllChildren($("wa-webhook")); }   // no clipboard: select it instead
  });
}
