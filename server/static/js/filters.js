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
