/*
 * retention.js: the gallery's side of tiered retention (issue 9) and of the notifier
 * (issue 14), kept apart from the grid and the detail view, which call in through a few hooks:
 *
 *   tierLabel(tier)             "Full size expired 3 h ago: thumbnail only" ("" with its full size)
 *   tierStrip(item)             the card's label for a thumbnail-only picture (or null)
 *   renderDetailTier(data)      the detail view's label, download text and image badge
 *   retentionField(name, value) the detail's label and value of a retention field
 *   startRetention()            the retention panel: forecast per camera, warnings, movies,
 *                               the budgets dialog, and the notifier's targets
 */
import { ApiError, apiUrl, getJson, postJson } from "./api.js";
import { $, el, show } from "./dom.js";
import { fmtFull, fmtHourMin, fmtInt, relative } from "./format.js";
import { toast } from "./toast.js";

// --- Tiers ------------------------------------------------------------------------------------

/** Whether a list item or detail has lost its full size (only its thumbnail is shown). */
export function thumbnailOnly(item) {
  return Boolean(item && item.tier && item.tier.state !== "full");
}

/** Why a picture has only its thumbnail, for people: "" when it has its full size. */
export function tierLabel(tier) {
  if (!tier || tier.state === "full") return "";
  if (tier.state === "unchanged") {
    const since = tier.unchanged_since ? fmtHourMin.format(new Date(tier.unchanged_since * 1000)) : null;
    return (since ? "Unchanged since " + since : "Unchanged") + ": thumbnail only";
  }
  const when = tier.full_until ? " " + relative(tier.full_until) : "";
  if (tier.state === "trimmed") return "Full size dropped by the budget" + when + ": thumbnail only";
  if (tier.state === "expired") return "Full size expired" + when + ": thumbnail only";
  return "Full size gone: thumbnail only";
}

/** The strip a card shows over a thumbnail-only picture, or null. */
export function tierStrip(item) {
  if (!thumbnailOnly(item)) return null;
  const label = tierLabel(item.tier);
  const t = item.tier;
  let why = "full size gone";
  if (t.state === "unchanged") why = t.unchanged_since ? "unchanged since " + fmtHourMin.format(new Date(t.unchanged_since * 1000)) : "unchanged";
  else if (t.state === "expired") why = "expired" + (t.full_until ? " " + relative(t.full_until) : "");
  else if (t.state === "trimmed") why = "budget" + (t.full_until ? ", " + relative(t.full_until) : "");
  return el("span", { className: "card-tier tier-" + t.state, title: label, "aria-label": label },
    el("strong", { text: "Thumbnail only" }), " · " + why);
}

/** Label the detail view of `data` (a detail answer): the note, the image badge, download. */
export function renderDetailTier(data) {
  let note = $("detail-tier");
  if (!note) {
    note = el("p", { id: "detail-tier", className: "detail-tier", role: "note" });
    $("detail-ttl").before(note);
  }
  let badge = $("detail-tier-badge");
  if (!badge) {
    badge = el("span", { id: "detail-tier-badge", className: "detail-tier-badge" });
    $("detail-img").after(badge);
  }
  const only = thumbnailOnly(data);
  const t = data.tier || {};
  // Two tiers: say when a full size still here will go (before the picture does).
  const upcoming = !only && t.full_until && !t.full_kept && !data.kept &&
    (data.expires_at === null || t.full_until < data.expires_at - 1);
  note.textContent = only ? tierLabel(t) : upcoming
    ? "Full size until " + fmtHourMin.format(new Date(t.full_until * 1000)) + " (" + relative(t.full_until) +
      "), then thumbnail only. Keep it to keep the full size."
    : "";
  if (only && t.same_as) {
    note.append(" (the same as ", el("code", { text: t.same_as }), ")");
  }
  note.classList.toggle("is-upcoming", Boolean(upcoming));
  show(note, only || Boolean(upcoming));
  $("detail-img").classList.toggle("is-thumbnail-only", only);
  badge.textContent = only ? "Thumbnail only" : "";
  show(badge, only);
  $("detail-download").textContent = only ? "Download thumbnail" : "Download";
}

const RETENTION_FIELDS = {
  thumbnail_mime: "Thumbnail type",
  full_until: "Full size until",
  plan_full_until: "Full size planned until",
  plan_history_until: "Picture planned until",
  unchanged_since: "Unchanged since",
  same_as: "Same as",
};

function when(value) {
  const ts = Number(value);
  if (!Number.isFinite(ts)) return String(value);
  return fmtFull.format(new Date(ts * 1000)) + " (" + relative(ts) + ")";
}

/** The detail's [label, value] for a retention field; null for any other field. */
export function retentionField(name, value) {
  if (!Object.prototype.hasOwnProperty.call(RETENTION_FIELDS, name)) return null;
  const label = RETENTION_FIELDS[name];
  if (name === "full_until" && /^\+?inf$/i.test(String(value).trim())) return [label, "kept for ever"];
  if (name === "thumbnail_mime" || name === "same_as") return [label, String(value)];
  return [label, when(value)];
}

// --- The retention panel: forecast, warnings, movies --------------------------------------------

/** Sizes as the budgets take them: decimal units ("64 MB"), as the forecast's MB/min. */
export function fmtSize(bytes) {
  if (bytes === null || bytes === undefined) return "none";
  const units = [[1e9, "GB"], [1e6, "MB"], [1e3, "KB"]];
  for (const [size, unit] of units) {
    if (bytes >= size) return (bytes / size).toLocaleString(undefined, { maximumFractionDigits: 1 }) + " " + unit;
  }
  return fmtInt.format(bytes) + " B";
}

/** A size as text the budgets form accepts back: "64mb", "1.5gb", "12000". */
function sizeInput(bytes) {
  if (bytes === null || bytes === undefined) return "";
  for (const [size, unit] of [[1e9, "gb"], [1e6, "mb"], [1e3, "kb"]]) {
    if (bytes >= size && Number.isInteger((bytes / size) * 1000)) return String(bytes / size) + unit;
  }
  return String(bytes);
}

function ageInput(seconds) {
  if (!seconds) return "";
  for (const [size, unit] of [[86400, "d"], [3600, "h"], [60, "m"]]) {
    if (seconds % size === 0) return seconds / size + unit;
  }
  return String(seconds);
}

const report = { data: null, cameras: [] };

function renderForecast(data) {
  report.data = data;
  const list = $("forecast");
  list.replaceChildren();
  if (!data.cameras.length) {
    list.append(el("li", { className: "forecast-empty", text: "No pictures in the last hour: nothing to forecast yet." }));
  }
  for (const cam of data.cameras) {
    const [name, ...rest] = cam.describe.split(": ");
    list.append(el("li", { className: "forecast-camera" + (cam.warnings.length ? " has-warning" : ""), dataset: { camera: cam.camera } },
      el("span", { className: "forecast-name", text: name }),
      el("span", { className: "forecast-reach", text: rest.join(": ") }),
      cam.budget !== null ? el("span", { className: "forecast-budget", text: "budget " + fmtSize(cam.budget) }) : null));
  }
  const movies = data.timelapse;
  $("forecast-movies").textContent = movies.count
    ? fmtInt.format(movies.count) + (movies.count === 1 ? " time-lapse movie" : " time-lapse movies") + " in Redis: " + fmtSize(movies.bytes)
    : "No time-lapse movies in Redis.";
  const warnings = $("forecast-warnings");
  warnings.replaceChildren(...data.warnings.map((w) => el("li", { text: w })));
  show(warnings, data.warnings.length > 0);
  const b = data.budgets;
  const parts = [];
  if (b.total !== null) parts.push("total " + fmtSize(b.total));
  if (b.default !== null) parts.push("each " + fmtSize(b.default));
  for (const [cam, size] of Object.entries(b.cameras)) parts.push(cam + " " + fmtSize(size));
  if (b.min_age) parts.push("kept whole for at least " + ageInput(b.min_age));
  $("budgets-summary").textContent = parts.length ? "Full-size budgets: " + parts.join(" · ") : "No full-size budgets: full sizes last IMAGE_EXPIRY.";
}

export async function loadRetention() {
  try {
    renderForecast(await getJson(apiUrl("api/retention")));
  } catch (err) {
    $("forecast").replaceChildren(el("li", { className: "forecast-empty", text: "Forecast unavailable: " + err.message }));
  }
}

// --- The budgets dialog -------------------------------------------------------------------------

const dialog = () => $("budgets-modal");

function budgetRow(name, label, value, hint) {
  const id = "budget-" + name.replace(/[^A-Za-z0-9_-]/g, "-");
  return el("div", { className: "field budget-field" },
    el("label", { className: "label is-small", for: id, text: label }),
    el("input", { className: "input is-small", id: id, name: name, value: value, placeholder: hint,
      autocomplete: "off", spellcheck: "false", "aria-describedby": id + "-error" }),
    el("p", { className: "help is-danger is-hidden", id: id + "-error", role: "alert" }));
}

async function openBudgets() {
  const data = report.data || await getJson(apiUrl("api/retention")).catch(() => null);
  if (!data) return;
  report.data = data;
  let names = data.cameras.map((c) => c.camera).concat(Object.keys(data.budgets.cameras));
  try {
    const facets = await getJson(apiUrl("api/facets"));
    names = names.concat(facets.cameras);
  } catch { /* the cameras with pictures are enough */ }
  report.cameras = [...new Set(names.filter((n) => /^[A-Za-z0-9_-]{1,32}$/.test(n)))].sort();
  const b = data.budgets;
  const rows = [
    budgetRow("total", "Total for all cameras", sizeInput(b.total), "e.g. 128mb; empty: no total"),
    budgetRow("default", "Each camera without its own", sizeInput(b.default), "e.g. 32mb; empty: none"),
    budgetRow("min_age", "Never trim pictures younger than", ageInput(b.min_age), "e.g. 30m, 2h; empty: 0"),
  ];
  for (const cam of report.cameras) {
    rows.push(budgetRow("camera:" + cam, "Camera " + cam + " (its own, reserved)", sizeInput(b.cameras[cam]), "empty: shares the total"));
  }
  $("budgets-fields").replaceChildren(...rows);
  showBudgetError("", "");
  dialog().classList.add("is-active");
  $("budgets-fields").querySelector("input").focus();
}

function closeBudgets() {
  dialog().classList.remove("is-active");
  $("budgets-open").focus();
}

function showBudgetError(parameter, message) {
  for (const input of $("budgets-fields").querySelectorAll("input")) {
    const bad = message && input.name === parameter;
    input.classList.toggle("is-danger", Boolean(bad));
    input.setAttribute("aria-invalid", bad ? "true" : "false");
    const help = $(input.id + "-error");
    help.textContent = bad ? message : "";
    show(help, Boolean(bad));
  }
  const general = $("budgets-error");
  const shown = message && !$("budgets-fields").querySelector('[aria-invalid="true"]');
  general.textContent = shown ? message : "";
  show(general, Boolean(shown));
}

async function saveBudgets(e) {
  e.preventDefault();
  const body = { cameras: {} };
  for (const input of $("budgets-fields").querySelectorAll("input")) {
    const value = input.value.trim();
    if (input.name.startsWith("camera:")) { if (value) body.cameras[input.name.slice(7)] = value; }
    else body[input.name] = value || null;
  }
  const btn = $("budgets-save");
  btn.classList.add("is-loading");
  try {
    renderForecast(await postJson(apiUrl("api/retention/budgets"), "POST", body));
    closeBudgets();
    toast("Budgets saved: the cameras apply them within 10 s.", "success");
  } catch (err) {
    showBudgetError(err instanceof ApiError ? err.parameter : "", err.message);
  } finally {
    btn.classList.remove("is-loading");
  }
}

// --- The notifier -------------------------------------------------------------------------------

const NOTIFY_STATES = { ok: "running", retrying: "retrying a target", stale: "not reporting", stopped: "stopped", absent: "not set up" };

export async function loadNotify() {
  const box = $("notify-targets");
  let data;
  try { data = await getJson(apiUrl("api/notify")); } catch (err) {
    $("notify-state").textContent = "Notifier status unavailable: " + err.message;
    box.replaceChildren();
    return;
  }
  const line = $("notify-state");
  line.className = "notify-state is-" + data.state;
  line.textContent = "Notifier " + (NOTIFY_STATES[data.state] || data.state) +
    (data.updated_at && data.state !== "absent" ? " · reported " + relative(data.updated_at) : "") +
    (data.message && data.state !== "ok" ? ". " + data.message : "");
  box.replaceChildren(...data.targets.map((t) => {
    const fired = t.last_fired ? "last fired " + relative(t.last_fired) : "not fired yet";
    const row = el("li", { className: "notify-target is-" + (t.state || "unknown"), dataset: { target: t.name } },
      el("span", { className: "notify-name", text: t.name, title: t.describe || t.kind || "" }),
      el("span", { className: "notify-fired", text: fired + " · " + fmtInt.format(t.sent) + " sent" }),
      t.rule ? el("span", { className: "notify-rule", text: t.rule }) : null);
    if (t.last_error) {
      row.append(el("span", { className: "notify-error", text: "Last error" + (t.last_error_at ? " " + relative(t.last_error_at) : "") + ": " + t.last_error }));
    }
    return row;
  }));
  show(box, data.targets.length > 0);
}

/** Start the retention panel: forecast and notifier now and every minute; the budgets dialog. */
export function startRetention() {
  if (!$("retention-panel")) return;
  $("budgets-open").addEventListener("click", openBudgets);
  $("budgets-form").addEventListener("submit", saveBudgets);
  for (const node of dialog().querySelectorAll("[data-budgets-close]")) node.addEventListener("click", closeBudgets);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && dialog().classList.contains("is-active")) { e.preventDefault(); closeBudgets(); }
  });
  loadRetention();
  loadNotify();
  window.setInterval(() => { loadRetention(); loadNotify(); }, 60000);
}
