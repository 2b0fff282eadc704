/*
 * filters.js: the filter form (time range, camera, trigger, lux, sort) and the URL it writes.
 *
 * Every change ends in the document event "gallery:filterchange" (detail: currentFilter()),
 * on which the grid, the chart and the time-lapse dialog follow.
 */
import { apiUrl, getJson } from "./api.js";
import { $, el } from "./dom.js";
import { fromLocalInput, toLocalInput } from "./format.js";
import { TIME_LIMITS, currentFilter, filterIsEmpty, state, urlFor } from "./state.js";
import { placeToasts } from "./toast.js";

/** Make the form show `state`. */
export function syncForm() {
  for (const btn of document.querySelectorAll("#range-buttons [data-range]")) {
    const on = btn.dataset.range === state.range;
    btn.classList.toggle("is-link", on);
    btn.classList.toggle("is-selected", on);
    btn.setAttribute("aria-pressed", on ? "true" : "false");
  }
  $("custom-range").classList.toggle("is-hidden", state.range !== "custom");
  $("f-since").value = state.since !== null ? toLocalInput(state.since) : "";
  $("f-until").value = state.until !== null ? toLocalInput(state.until) : "";
  ensureOption($("f-camera"), state.camera);
  ensureOption($("f-trigger"), state.trigger);
  $("f-camera").value = state.camera;
  $("f-trigger").value = state.trigger;
  $("f-lux-min").value = state.luxMin;
  $("f-lux-max").value = state.luxMax;
  $("f-sort").value = state.sort;
  $("f-full").value = state.fullSize;
  $("f-reset").classList.toggle("is-invisible", filterIsEmpty());
  setFieldError("custom-range-error", ["f-since", "f-until"], "");
  setFieldError("lux-error", ["f-lux-min", "f-lux-max"], "");
  renderChips();
}

const RANGE_NAMES = { "1h": "Last hour", today: "Today", "24h": "Last 24 h", "7d": "Last 7 days" };
const fmtChipTime = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
const SORT_NAMES = { oldest: "Oldest first", brightest: "Brightest first", darkest: "Darkest first" };

/** The active filters as chips; each one's × takes that filter away. */
function renderChips() {
  const chips = [];
  const chip = (label, clear) => {
    const btn = el("button", { type: "button", "aria-label": "Remove the filter " + label, text: "×" });
    btn.addEventListener("click", () => { clear(); filterChanged(); });
    chips.push(el("span", { className: "filter-chip" }, el("span", { text: label }), btn));
  };
  if (state.range in RANGE_NAMES) chip(RANGE_NAMES[state.range], () => { state.range = "all"; });
  if (state.range === "custom") {
    if (state.since !== null) chip("From " + fmtChipTime.format(new Date(state.since * 1000)), () => { state.since = null; if (state.until === null) state.range = "all"; });
    if (state.until !== null) chip("Until " + fmtChipTime.format(new Date(state.until * 1000)), () => { state.until = null; if (state.since === null) state.range = "all"; });
  }
  if (state.camera) chip("Camera: " + state.camera, () => { state.camera = ""; });
  if (state.trigger) chip("Trigger: " + state.trigger, () => { state.trigger = ""; });
  if (state.luxMin !== "") chip("Light ≥ " + state.luxMin + " lx", () => { state.luxMin = ""; });
  if (state.luxMax !== "") chip("Light ≤ " + state.luxMax + " lx", () => { state.luxMax = ""; });
  if (state.sort in SORT_NAMES) chip(SORT_NAMES[state.sort], () => { state.sort = "newest"; });
  $("filter-chips").replaceChildren(...chips);
  $("filters-badge").textContent = chips.length ? " (" + chips.length + ")" : "";
}

/** The phone's filter drawer (a sheet): open it, and go to the filters with "/". */
function openDrawer() {
  const drawer = $("filter-drawer");
  if (window.getComputedStyle($("filters-open")).display === "none") {
    $("f-camera").focus();  // wide screens: the filters are in the bar already
    return;
  }
  drawer.setAttribute("role", "dialog");
  drawer.setAttribute("aria-modal", "true");
  drawer.classList.add("is-active");
  const backdrop = el("div", { className: "drawer-backdrop", id: "drawer-backdrop" });
  backdrop.addEventListener("click", closeDrawer);
  drawer.before(backdrop);
}

export function closeDrawer() {
  const drawer = $("filter-drawer");
  if (!drawer.classList.contains("is-active")) return;
  drawer.classList.remove("is-active");
  drawer.removeAttribute("role");
  drawer.removeAttribute("aria-modal");
  const backdrop = $("drawer-backdrop");
  if (backdrop) backdrop.remove();
}

// Shows (or, with an empty message, clears) a problem next to the inputs it is about.
function setFieldError(boxId, inputIds, message) {
  const box = $(boxId);
  box.textContent = message;
  box.classList.toggle("is-hidden", !message);
  for (const id of inputIds) {
    $(id).classList.toggle("is-danger", !!message);
    $(id).setAttribute("aria-invalid", message ? "true" : "false");
  }
  placeToasts();
}

function ensureOption(select, value) {
  if (!value) return;
  for (const opt of select.options) if (opt.value === value) return;
  select.append(el("option", { value: value, text: value }));
}

/** After `state` changed: a new history entry, and everything follows (unless nothing changed). */
export function filterChanged() {
  const url = urlFor(null);
  if (url === window.location.pathname + window.location.search) { syncForm(); return; }
  window.history.pushState({ gallery: true }, "", url);
  afterFilterChange();
}

/** The form, the grid, the chart and the other panels follow the filter in `state`. */
export function afterFilterChange() {
  syncForm();
  document.dispatchEvent(new CustomEvent("gallery:filterchange", { detail: currentFilter() }));
}

/** Narrow the gallery to a time range (the chart's bars do this). */
export function showTimeRange(since, until) {
  state.range = "custom";
  state.since = since;
  state.until = until;
  filterChanged();
}

/** Show only one camera (the camera bar's chips do this). */
export function showCamera(name) {
  state.camera = name;
  filterChanged();
}

export function bindFilters() {
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  $("filters-open").addEventListener("click", openDrawer);
  for (const node of $("filter-drawer").querySelectorAll("[data-dismiss]")) node.addEventListener("click", closeDrawer);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeDrawer();
    const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || e.target instanceof HTMLTextAreaElement;
    if (e.key === "/" && !typing && !document.querySelector(".modal.is-active, .pswp")) { e.preventDefault(); openDrawer(); }
  });
  document.addEventListener("gallery:focusfilters", openDrawer);
  for (const btn of document.querySelectorAll("#range-buttons [data-range]")) {
    btn.addEventListener("click", () => {
      const range = btn.dataset.range;
      if (range === "custom") {
        const f = currentFilter();
        const now = Math.floor(Date.now() / 1000);
        state.since = f.since !== null ? f.since : now - 86400;
        state.until = f.until !== null ? f.until : now;
      } else { state.since = null; state.until = null; }
      state.range = range;
      filterChanged();
    });
  }
  // A custom range is checked here and applied only when it makes sense: until then the
  // grid, chart and URL keep showing the last good filter, and the problem shows by the inputs.
  const onCustom = () => {
    const sinceText = $("f-since").value;
    const untilText = $("f-until").value;
    const since = fromLocalInput(sinceText);
    const until = fromLocalInput(untilText);
    let problem = "";
    if ((sinceText && since === null) || (untilText && until === null)) problem = "Enter a whole date and time.";
    else if ([since, until].some((t) => t !== null && !(t >= TIME_LIMITS[0] && t <= TIME_LIMITS[1]))) {
      problem = "Pick a time between 1970 and 5138.";
    } else if (since !== null && until !== null && since > until) {
      problem = "The start is after the end: pick an earlier start or a later end.";
    }
    if (problem) {
      setFieldError("custom-range-error", ["f-since", "f-until"], problem);
      return;
    }
    showTimeRange(since, until);
  };
  $("f-since").addEventListener("change", onCustom);
  $("f-until").addEventListener("change", onCustom);
  $("f-camera").addEventListener("change", (e) => showCamera(e.target.value));
  $("f-trigger").addEventListener("change", (e) => { state.trigger = e.target.value; filterChanged(); });
  $("f-sort").addEventListener("change", (e) => { state.sort = e.target.value; filterChanged(); });
  $("f-full").addEventListener("change", (e) => { state.fullSize = e.target.value; filterChanged(); });
  const onLux = () => {
    const min = $("f-lux-min").value.trim();
    const max = $("f-lux-max").value.trim();
    if (min !== "" && max !== "" && Number(min) > Number(max)) {
      setFieldError("lux-error", ["f-lux-min", "f-lux-max"], "The lowest lux is above the highest.");
      return;
    }
    state.luxMin = min;
    state.luxMax = max;
    filterChanged();
  };
  $("f-lux-min").addEventListener("change", onLux);
  $("f-lux-max").addEventListener("change", onLux);
  const clear = () => {
    Object.assign(state, { range: "all", since: null, until: null, camera: "", trigger: "", luxMin: "", luxMax: "", fullSize: "" });
    filterChanged();
  };
  $("f-reset").addEventListener("click", clear);
  $("empty-clear").addEventListener("click", clear);
}

/** Fill the camera and trigger menus with what the store holds. */
export async function loadFacets() {
  try {
    const data = await getJson(apiUrl("api/facets"));
    fillSelect($("f-camera"), data.cameras, "All cameras");
    fillSelect($("f-trigger"), data.triggers, "Any trigger");
    syncForm();
  } catch { /* the grid shows Redis problems; menus keep their defaults */ }
}

function fillSelect(select, values, label) {
  const current = select.value;
  select.replaceChildren(el("option", { value: "", text: label }));
  for (const v of values) select.append(el("option", { value: v, text: v }));
  select.value = current;
}
