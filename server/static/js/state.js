/*
 * state.js: what the gallery shows (filter, sort, the listed items) and how it is written in
 * the page's URL, so a link shows the same pictures.
 */

export const RANGES = { "1h": 3600, "24h": 86400, "7d": 7 * 86400 };
/** Unix seconds the page accepts in a link (the API's own limits: 1970 to the year 5138). */
export const TIME_LIMITS = [0, 1e11];
export const SORTS = ["newest", "oldest", "brightest", "darkest"];
export const PAGE_SIZE = parseInt(document.body.dataset.pageSize || "24", 10);

export const state = {
  range: "all", since: null, until: null, camera: "", trigger: "", luxMin: "", luxMax: "",
  fullSize: "", sort: "newest",
  cursor: null, done: false, loading: false, failed: false, generation: 0,
  items: [], ids: new Set(), count: null, streamId: null, pendingNew: 0,
};

/**
 * Read the filter from the URL into `state`. A value the gallery can't use (not a number, a
 * time out of range, a range that ends before it starts) is left unset and named in
 * `problems`. Returns {imageId, problems}: the image the link opens, if any.
 */
export function readUrl() {
  const q = new URLSearchParams(window.location.search);
  const problems = [];
  const num = (name) => {
    const v = q.get(name);
    if (v === null || v === "") return null;
    if (!Number.isFinite(Number(v))) { problems.push(name + " is not a number"); return null; }
    return Number(v);
  };
  const time = (name) => {
    const v = num(name);
    if (v !== null && !(v >= TIME_LIMITS[0] && v <= TIME_LIMITS[1])) {
      problems.push(name + " is not a time the gallery can show");
      return null;
    }
    return v;
  };
  state.range = q.get("range") || "all";
  if (!(state.range in RANGES) && !["all", "today", "custom"].includes(state.range)) state.range = "all";
  state.since = time("since");
  state.until = time("until");
  if (state.since !== null && state.until !== null && state.since > state.until) {
    problems.push("the time range ends before it starts");
    state.since = null;
    state.until = null;
  }
  if (state.since !== null || state.until !== null) state.range = "custom";
  else if (state.range === "custom") state.range = "all";
  state.camera = q.get("camera") || "";
  state.trigger = q.get("trigger") || "";
  let luxMin = num("lux_min");
  let luxMax = num("lux_max");
  if (luxMin !== null && luxMax !== null && luxMin > luxMax) {
    problems.push("the lowest lux is above the highest");
    luxMin = null;
    luxMax = null;
  }
  state.luxMin = luxMin === null ? "" : String(luxMin);
  state.luxMax = luxMax === null ? "" : String(luxMax);
  state.fullSize = ["1", "0"].includes(q.get("full_size")) ? q.get("full_size") : "";
  state.sort = SORTS.includes(q.get("sort")) ? q.get("sort") : "newest";
  return { imageId: q.get("image"), problems: problems };
}

/** The page's URL for the current filter, opening `imageId` when given. */
export function urlFor(imageId) {
  const q = new URLSearchParams();
  if (state.range === "custom") {
    if (state.since !== null) q.set("since", state.since);
    if (state.until !== null) q.set("until", state.until);
  } else if (state.range !== "all") q.set("range", state.range);
  if (state.camera) q.set("camera", state.camera);
  if (state.trigger) q.set("trigger", state.trigger);
  if (state.luxMin !== "") q.set("lux_min", state.luxMin);
  if (state.luxMax !== "") q.set("lux_max", state.luxMax);
  if (state.fullSize) q.set("full_size", state.fullSize);
  if (state.sort !== "newest") q.set("sort", state.sort);
  if (imageId) q.set("image", imageId);
  const text = q.toString();
  return window.location.pathname + (text ? "?" + text : "");
}

/**
 * The filter the grid shows now, as the API takes it: {since, until, camera, trigger,
 * lux_min, lux_max, full_size}. Times are Unix seconds, presets such as "last hour" resolved against
 * now; every unset value is null.
 */
export function currentFilter() {
  const now = Math.floor(Date.now() / 1000);
  let since = null;
  let until = null;
  if (state.range in RANGES) since = now - RANGES[state.range];
  else if (state.range === "today") {
    const d = new Date();
    since = Math.floor(new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime() / 1000);
  } else if (state.range === "custom") { since = state.since; until = state.until; }
  const lux = (v) => (v === "" || v === null ? null : Number(v));
  return {
    since: since, until: until, camera: state.camera || null, trigger: state.trigger || null,
    lux_min: lux(state.luxMin), lux_max: lux(state.luxMax), full_size: state.fullSize || null,
  };
}

export function filterIsEmpty() {
  return Object.values(currentFilter()).every((v) => v === null);
}

/** The filter and sort as API query parameters, with `extra` ones. */
export function queryParams(extra) {
  return Object.assign({}, currentFilter(), { sort: state.sort }, extra || {});
}

/** Whether the grid is grouped under day headers (time sorts only). */
export function grouped() { return state.sort === "newest" || state.sort === "oldest"; }
