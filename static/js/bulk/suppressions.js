// /bulk/suppressions: the do-not-send list (see, add, remove) and the stop words.
// A typed number goes through POST /bulk/preview first, so "9 8765 4321" is read with the
// business's default country exactly as a campaign would read it.
import { addSuppression, getOptout, listSuppressions, previewJson, putOptout, removeSuppression } from "./api.js";
import { el, errorText as bulkError, formatDate, formatNumber, t } from "./format.js";
import { formatPhone } from "../i18n.js";

const $ = (id) => document.getElementById(id);
// Here a 404 is a list that is not there (never "this campaign does not exist").
const errorText = (err) => (err?.status === 404 ? t("bulk.err.generic") : bulkError(err));
const list = $("sup-list");
let next = null;
let total = 0;

function showCount() {
  $("sup-count").textContent = total === 1 ? t("sup.count_one") : t("sup.count", { n: formatNumber(total) });
  $("sup-empty").hidden = list.children.length > 0;
}

function row(item) {
  const li = el("li", "sup-item");
  li.dataset.phone = item.phone;
  const who = el("span", "sup-who");
  who.append(el("strong", "num", formatPhone(item.phone)));
  if (item.name) who.append(el("span", "", item.name));
  const meta = el("span", "muted sup-meta", [t(`sup.source.${item.source}`), formatDate(item.created_at)].filter(Boolean).join(" · "));
  const remove = el("button", "secondary", t("sup.remove"));
  remove.type = "button";
  remove.setAttribute("aria-label", t("sup.remove_label", { phone: formatPhone(item.phone) }));
  remove.addEventListener("click", async () => {
    remove.disabled = true;
    try {
      await removeSuppression(item.phone);
      li.remove();
      total = Math.max(0, total - 1);
      say(t("sup.removed"));
      showCount();
    } catch (err) {
      remove.disabled = false;
      say(errorText(err), true);
    }
  });
  li.append(who, meta, remove);
  return li;
}

function say(text, bad = false) {
  const s = $("sup-status");
  s.textContent = text;
  s.classList.toggle("error", bad);
}

async function loadPage(reset) {
  $("sup-error").hidden = true;
  list.setAttribute("aria-busy", "true");
  try {
    const page = await listSuppressions(reset ? null : next);
    if (reset) list.replaceChildren();
    list.append(...(page.items ?? []).map(row));
    next = page.next ?? null;
    total = page.total ?? list.children.length;
    $("sup-more").hidden = !next;
    showCount();
    return page.seq ?? null;
  } catch (err) {
    $("sup-error").textContent = errorText(err);
    $("sup-error").hidden = false;
    return null;
  } finally {
    list.setAttribute("aria-busy", "false");
  }
}

$("sup-more").addEventListener("click", () => loadPage(false));

$("sup-add").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("sup-phone");
  if (!input.value.trim()) { input.focus(); return; }
  try {
    const checked = await previewJson({ numbers: input.value });
    const problem = checked.problems[0];
    if (problem || !checked.recipients.length) {
      say(t("sup.bad_phone", { reason: t(`bulk.reason.${problem?.reason ?? "invalid"}`).toLowerCase() }), true);
      input.focus();
      return;
    }
    const phone = checked.recipients[0].phone;
    const item = await addSuppression(`+${phone}`);   // with "+": no country guessing twice
    const old = list.querySelector(`li[data-phone="${CSS.escape(item.phone ?? phone)}"]`);
    if (old) {
      say(t("sup.already"));
    } else {
      list.prepend(row({ source: "agent", ...item, phone: item.phone ?? phone }));
      total += 1;
      say(t("sup.added"));
    }
    input.value = "";
    showCount();
  } catch (err) {
    say(err?.code === "empty_list" ? t("sup.bad_phone", { reason: t("bulk.reason.empty").toLowerCase() }) : errorText(err), true);
  }
});

const words = $("words");
getOptout().then((data) => { words.value = (data.words ?? []).join(", "); }).catch(() => {});
$("words-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const status = $("words-status");
  if (!status) return;
  try {
    const data = await putOptout(words.value.split(",").map((w) => w.trim()).filter(Boolean));
    words.value = (data.words ?? []).join(", ");
    status.textContent = t("sup.saved");
    status.classList.remove("error");
  } catch (err) {
    status.textContent = errorText(err);
    status.classList.add("error");
  }
});

loadPage(true);
