/*
 * gallery.js: the gallery page. No libraries and no network but the gallery's own API.
 * Every value from Redis goes into the page through textContent or an attribute, never
 * through innerHTML, so metadata always shows as text.
 *
 * Hooks for the other panels (timelapse.js, live.js load after this file, with defer):
 *
 *   window.gallery.currentFilter()
 *       -> {since, until, camera, trigger, lux_min, lux_max}: the filter the grid shows now.
 *          Times are Unix seconds, presets such as "last hour" resolved against now; every
 *          unset value is null.
 *   window.gallery.csrfFetch(url, options)
 *       -> fetch() with the page's CSRF token in the X-CSRF-Token header and same-origin
 *          credentials. Use it for every POST and DELETE.
 *   window.gallery.apiUrl(path, params)
 *       -> the URL of `path` ("api/stats") under the app's root, with `params` as a query.
 *   window.gallery.toast(message, kind)
 *       -> a short notification at the bottom of the page (kind: "info", "success", "danger").
 *   window.gallery.toLocalInput(ts) / fromLocalInput(text)
 *       -> Unix seconds to a datetime-local input's value (browser's zone), and back (or null).
 *   document event "gallery:filterchange", detail = currentFilter(), after every change.
 */
(function () {
  "use strict";

  const body = document.body;
  const ROOT = body.dataset.root || "/";
  const PAGE_SIZE = parseInt(body.dataset.pageSize || "24", 10);
  const CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const RANGES = { "1h": 3600, "24h": 86400, "7d": 7 * 86400 };
  const FIELD_LABELS = {
    timestamp: "Unix time", captured_at: "Captured (UTC)", camera: "Camera", trigger: "Trigger",
    mime_type: "Type", lux: "Light (lux)", width: "Width (px)", height: "Height (px)",
    size_bytes: "Size", exposure_time: "Exposure (µs)", analogue_gain: "Analogue gain",
    colour_temperature: "Colour temperature (K)", lens_position: "Lens position (dioptres)",
    // The further metadata the capture daemon stores (pi/metadata.py EXTRA_FIELDS, EXTRA_TEXT).
    digital_gain: "Digital gain", focus_fom: "Focus figure of merit",
    sensor_temperature: "Sensor temperature (°C)", f_number: "Aperture (f-number)",
    focal_length: "Focal length (mm)", source_file: "Source file",
  };
  // Unix seconds the page accepts in a link (the API's own limits: 1970 to the year 5138).
  const TIME_LIMITS = [0, 1e11];
  // "Let it expire" on a kept picture gives it this many seconds to live again.
  const UNKEEP_SECONDS = 24 * 3600;
  const UNKEEP_TEXT = "24 h";

  // --- Small helpers ------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "className") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function icon(name, className) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "icon-inline " + (className || ""));
    svg.setAttribute("aria-hidden", "true");
    const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    use.setAttribute("href", "#" + name);
    svg.append(use);
    return svg;
  }

  function apiUrl(path, params) {
    const url = new URL(ROOT + path.replace(/^\//, ""), window.location.origin);
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
    }
    return url.pathname + url.search;
  }

  class ApiError extends Error {
    constructor(message, status, code) { super(message); this.status = status; this.code = code; }
  }

  async function asJson(response) {
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const err = (data && data.error) || {};
      throw new ApiError(err.message || ("The gallery answered " + response.status + "."),
        response.status, err.code || "http_" + response.status);
    }
    return data;
  }

  async function getJson(url) {
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (e) {
      throw new ApiError("The gallery server does not answer. Check that it is running, then reload.", 0, "offline");
    }
    return asJson(response);
  }

  function csrfFetch(url, options) {
    const opts = Object.assign({ credentials: "same-origin" }, options || {});
    opts.headers = Object.assign({ "X-CSRF-Token": CSRF, Accept: "application/json" }, opts.headers || {});
    return fetch(url, opts);
  }

  async function postJson(url, method, payload) {
    const options = { method: method };
    if (payload !== undefined) {
      options.headers = { "Content-Type": "application/json" };
      options.body = JSON.stringify(payload);
    }
    let response;
    try { response = await csrfFetch(url, options); } catch (e) {
      throw new ApiError("The gallery server does not answer. Check that it is running.", 0, "offline");
    }
    return asJson(response);
  }

  // --- Formatting -----------------------------------------------------------------------

  const fmtClock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const fmtDay = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
  const fmtShortDay = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
  const fmtFull = new Intl.DateTimeFormat(undefined, {
    weekday: "short", day: "numeric", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  });
  const fmtHourMin = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const fmtHourMinSec = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const fmtShort = new Intl.DateTimeFormat(undefined, {
    weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
  });
  const fmtInt = new Intl.NumberFormat();

  function relative(ts) {
    const diff = Date.now() / 1000 - ts;
    const future = diff < 0;
    const s = Math.abs(diff);
    let text;
    if (s < 45) return future ? "in a moment" : "just now";
    if (s < 3600) text = Math.round(s / 60) + " min";
    else if (s < 86400) text = Math.round(s / 3600) + " h";
    else if (s < 86400 * 45) { const d = Math.round(s / 86400); text = d + (d === 1 ? " day" : " days"); }
    else { const m = Math.round(s / (86400 * 30)); text = m + (m === 1 ? " month" : " months"); }
    return future ? "in " + text : text + " ago";
  }

  function dayLabel(ts) {
    const date = new Date(ts * 1000);
    const today = new Date();
    const start = new Date(today.getFullYear(), today.getMonth(), today.getDate()).getTime();
    const dayStart = new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
    const days = Math.round((start - dayStart) / 86400000);
    if (days === 0) return "Today";
    if (days === 1) return "Yesterday";
    return fmtDay.format(date);
  }

  function dayKey(ts) {
    const d = new Date(ts * 1000);
    return d.getFullYear() + "-" + d.getMonth() + "-" + d.getDate();
  }

  function fmtLux(lux) {
    if (lux === null || lux === undefined) return "– lux";
    const digits = lux < 10 ? 1 : 0;
    return lux.toLocaleString(undefined, { maximumFractionDigits: digits }) + " lux";
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return "–";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return v.toLocaleString(undefined, { maximumFractionDigits: v < 10 && i > 0 ? 1 : 0 }) + " " + units[i];
  }

  function fmtDuration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = s % 60;
    const pad = (x) => String(x).padStart(2, "0");
    if (d > 0) return d + " d " + h + " h " + pad(m) + " min";
    if (h > 0) return h + " h " + pad(m) + " min " + pad(sec) + " s";
    return m + " min " + pad(sec) + " s";
  }

  function toLocalInput(ts) {
    if (ts === null || ts === undefined || !Number.isFinite(Number(ts))) return "";
    const d = new Date(Number(ts) * 1000);
    if (!Number.isFinite(d.getTime()) || d.getFullYear() > 275759) return "";
    const pad = (x) => String(x).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function fromLocalInput(text) {
    if (!text) return null;
    const t = new Date(text).getTime();
    return Number.isFinite(t) ? Math.round(t / 1000) : null;
  }

  // A readable label for a metadata field the page has no label for: "focus_fom" -> "Focus fom".
  function fieldLabel(name) {
    if (Object.prototype.hasOwnProperty.call(FIELD_LABELS, name)) return FIELD_LABELS[name];
    const words = String(name).replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/[_\-\s.]+/g, " ").trim().toLowerCase();
    return words ? words.charAt(0).toUpperCase() + words.slice(1) : String(name);
  }

  // --- Toasts and the error notice ---------------------------------------------------------

  function toast(message, kind, action) {
    const box = el("div", { className: "notification toast is-" + (kind || "info"), role: "status" },
      el("span", { className: "toast-text", text: message }));
    if (action) {
      const btn = el("button", { type: "button", className: "button is-small is-light toast-action", text: action.label });
      btn.addEventListener("click", () => { box.remove(); action.run(); });
      box.append(btn);
    }
    $("toasts").append(box);
    placeToasts();
    window.setTimeout(() => box.remove(), action ? 9000 : 4500);
    return box;
  }

  // Toasts sit at the bottom, or under the navigation bar while the filters are down there:
  // they never cover the filter controls the user is working with.
  function placeToasts() {
    const box = $("toasts");
    if (!box.childElementCount) return;
    const filters = document.querySelector(".filters").getBoundingClientRect();
    const nav = document.querySelector(".gallery-nav").getBoundingClientRect().bottom;
    const height = box.offsetHeight + 24;
    const overlapsBottom = filters.bottom > window.innerHeight - height && filters.top < window.innerHeight;
    const overlapsTop = filters.top < nav + height && filters.bottom > nav;
    box.classList.toggle("is-top", overlapsBottom && !overlapsTop);
  }

  function showNotice(message) {
    const notice = $("notice");
    notice.textContent = message;
    notice.classList.toggle("is-hidden", !message);
  }

  // --- State and the URL --------------------------------------------------------------------

  const state = {
    range: "all", since: null, until: null, camera: "", trigger: "", luxMin: "", luxMax: "",
    sort: "newest",
    cursor: null, done: false, loading: false, failed: false, generation: 0,
    items: [], ids: new Set(), count: null, streamId: null, pendingNew: 0,
  };

  // Reads the filter from the URL. A value the gallery can't use (not a number, a time out of
  // range, a range that ends before it starts) is left unset and named in `linkProblems`.
  let linkProblems = [];

  function readUrl() {
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
    linkProblems = problems;
    state.sort = ["newest", "oldest", "brightest", "darkest"].includes(q.get("sort")) ? q.get("sort") : "newest";
    return q.get("image");
  }

  function urlFor(imageId) {
    const q = new URLSearchParams();
    if (state.range === "custom") {
      if (state.since !== null) q.set("since", state.since);
      if (state.until !== null) q.set("until", state.until);
    } else if (state.range !== "all") q.set("range", state.range);
    if (state.camera) q.set("camera", state.camera);
    if (state.trigger) q.set("trigger", state.trigger);
    if (state.luxMin !== "") q.set("lux_min", state.luxMin);
    if (state.luxMax !== "") q.set("lux_max", state.luxMax);
    if (state.sort !== "newest") q.set("sort", state.sort);
    if (imageId) q.set("image", imageId);
    const text = q.toString();
    return window.location.pathname + (text ? "?" + text : "");
  }

  function currentFilter() {
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
      lux_min: lux(state.luxMin), lux_max: lux(state.luxMax),
    };
  }

  function filterIsEmpty() {
    const f = currentFilter();
    return Object.values(f).every((v) => v === null);
  }

  function matchesFilter(item) {
    const f = currentFilter();
    if (f.since !== null && !(item.timestamp >= f.since)) return false;
    if (f.until !== null && !(item.timestamp <= f.until)) return false;
    if (f.camera && (item.camera || "").toLowerCase() !== f.camera.toLowerCase()) return false;
    if (f.trigger && (item.trigger || "").toLowerCase() !== f.trigger.toLowerCase()) return false;
    if (f.lux_min !== null && !(item.lux !== null && item.lux >= f.lux_min)) return false;
    if (f.lux_max !== null && !(item.lux !== null && item.lux <= f.lux_max)) return false;
    return true;
  }

  function queryParams(extra) {
    return Object.assign({}, currentFilter(), { sort: state.sort }, extra || {});
  }

  // --- The filter form ----------------------------------------------------------------------

  function syncForm() {
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

  function filterChanged() {
    const url = urlFor(null);
    if (url === window.location.pathname + window.location.search) { syncForm(); return; }
    window.history.pushState({ gallery: true }, "", url);
    afterFilterChange();
  }

  function afterFilterChange() {
    syncForm();
    reloadGrid();
    loadChart();
    document.dispatchEvent(new CustomEvent("gallery:filterchange", { detail: currentFilter() }));
  }

  function bindFilters() {
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
      state.range = "custom";
      state.since = since;
      state.until = until;
      filterChanged();
    };
    $("f-since").addEventListener("change", onCustom);
    $("f-until").addEventListener("change", onCustom);
    $("f-camera").addEventListener("change", (e) => { state.camera = e.target.value; filterChanged(); });
    $("f-trigger").addEventListener("change", (e) => { state.trigger = e.target.value; filterChanged(); });
    $("f-sort").addEventListener("change", (e) => { state.sort = e.target.value; filterChanged(); });
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
      Object.assign(state, { range: "all", since: null, until: null, camera: "", trigger: "", luxMin: "", luxMax: "" });
      filterChanged();
    };
    $("f-reset").addEventListener("click", clear);
    $("empty-clear").addEventListener("click", clear);
  }

  async function loadFacets() {
    try {
      const data = await getJson(apiUrl("api/facets"));
      fillSelect($("f-camera"), data.cameras, "All cameras");
      fillSelect($("f-trigger"), data.triggers, "Any trigger");
      syncForm();
    } catch (e) { /* the grid shows Redis problems; menus keep their defaults */ }
  }

  function fillSelect(select, values, label) {
    const current = select.value;
    select.replaceChildren(el("option", { value: "", text: label }));
    for (const v of values) select.append(el("option", { value: v, text: v }));
    select.value = current;
  }

  // --- The grid -----------------------------------------------------------------------------

  const grid = $("grid");

  function grouped() { return state.sort === "newest" || state.sort === "oldest"; }

  function card(item) {
    const img = el("img", {
      src: item.thumbnail_url, alt: "Picture from " + (item.camera || "camera") + " at " + fmtFull.format(new Date(item.timestamp * 1000)),
      loading: "lazy", decoding: "async", width: 480, height: 270,
    });
    img.addEventListener("error", () => {
      a.classList.add("is-missing");
      img.removeAttribute("src");
    }, { once: true });
    const badges = el("div", { className: "card-badges" });
    if (item.trigger) badges.append(el("span", { className: "badge badge-trigger trigger-" + item.trigger.replace(/[^a-z0-9_-]/gi, ""), text: item.trigger }));
    const time = el("time", { className: "card-clock", datetime: item.captured_at, text: fmtClock.format(new Date(item.timestamp * 1000)) });
    const rel = el("span", { className: "card-rel", dataset: { ts: String(item.timestamp) }, text: relative(item.timestamp) });
    const a = el("a", { className: "image-card", href: urlFor(item.id), dataset: { id: item.id, day: dayKey(item.timestamp) } },
      el("figure", { className: "card-figure" }, img, badges, el("span", { className: "card-missing", text: "Expired or deleted" })),
      el("div", { className: "card-info" },
        el("div", { className: "card-when" }, time, rel),
        el("div", { className: "card-meta" },
          el("span", { className: "meta-lux" }, icon("i-sun"), fmtLux(item.lux)),
          el("span", { className: "meta-camera" }, icon("i-camera"), item.camera || "unknown camera"),
        ),
        el("div", { className: "card-date", text: fmtShortDay.format(new Date(item.timestamp * 1000)) }),
      ));
    a.addEventListener("click", (e) => {
      if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      openDetail(item.id, true);
    });
    return a;
  }

  function dayHeader(ts) {
    return el("h3", { className: "day-header", dataset: { day: dayKey(ts) } },
      el("span", { className: "day-name", text: dayLabel(ts) }),
      el("span", { className: "day-date", text: fmtShortDay.format(new Date(ts * 1000)) }));
  }

  function appendItems(items) {
    for (const item of items) {
      if (state.ids.has(item.id)) continue;
      state.ids.add(item.id);
      state.items.push(item);
      if (grouped()) {
        const last = grid.lastElementChild;
        if (!last || last.dataset.day !== dayKey(item.timestamp)) grid.append(dayHeader(item.timestamp));
      }
      grid.append(card(item));
    }
  }

  function prependItem(item) {
    if (state.ids.has(item.id)) return false;
    state.ids.add(item.id);
    state.items.unshift(item);
    const node = card(item);
    node.classList.add("is-new");
    const first = grid.firstElementChild;
    if (grouped() && first && first.classList.contains("day-header") && first.dataset.day === dayKey(item.timestamp)) {
      first.after(node);
    } else if (grouped()) grid.prepend(dayHeader(item.timestamp), node);
    else grid.prepend(node);
    return true;
  }

  function removeItem(id) {
    const idx = state.items.findIndex((it) => it.id === id);
    if (idx >= 0) state.items.splice(idx, 1);
    state.ids.delete(id);
    const node = grid.querySelector('[data-id="' + CSS.escape(id) + '"]');
    if (node) {
      const prev = node.previousElementSibling;
      const next = node.nextElementSibling;
      node.remove();
      if (prev && prev.classList.contains("day-header") && (!next || next.classList.contains("day-header"))) prev.remove();
    }
    if (state.count && state.count.exact) { state.count.value -= 1; state.count.total -= 1; renderCount(); }
    renderEmpty();
  }

  function renderCount() {
    const c = state.count;
    const node = $("result-count");
    if (!c) { node.textContent = "\u00a0"; return; }
    const noun = (n) => (n === 1 ? "image" : "images");
    if (filterIsEmpty()) node.textContent = fmtInt.format(c.total) + " " + noun(c.total);
    else {
      const value = c.exact ? fmtInt.format(c.value) : fmtInt.format(c.value) + "+";
      node.textContent = value + " of " + fmtInt.format(c.total) + " " + noun(c.total) + " match";
    }
  }

  function renderEmpty() {
    const empty = state.items.length === 0 && state.done;
    $("empty").classList.toggle("is-hidden", !empty);
    if (!empty) return;
    const storeEmpty = state.count ? state.count.total === 0 : filterIsEmpty();
    $("empty-title").textContent = storeEmpty ? "No images yet" : "Nothing matches this filter";
    $("empty-text").textContent = storeEmpty
      ? "Pictures appear here by themselves as soon as a camera stores one."
      : "No picture in Redis matches these settings. Widen the time range or the lux range, or clear the filters.";
    $("empty-clear").classList.toggle("is-hidden", filterIsEmpty());
  }

  function renderFoot() {
    const more = $("load-more");
    more.textContent = state.failed ? "Try again" : "Load more";
    more.classList.toggle("is-hidden", !state.failed && (state.done || state.items.length === 0));
    more.classList.toggle("is-loading", state.loading);
    $("end-note").classList.toggle("is-hidden", !(state.done && state.items.length > 0));
  }

  async function fetchPage() {
    const generation = state.generation;
    state.failed = false;
    state.loading = true;
    renderFoot();
    try {
      const data = await getJson(apiUrl("api/images", queryParams({ limit: PAGE_SIZE, cursor: state.cursor })));
      if (generation !== state.generation) return;
      showNotice("");
      if (data.count) state.count = data.count;
      if (state.streamId === null) connectEvents(data.stream_id);
      appendItems(data.images);
      state.cursor = data.next_cursor;
      state.done = !data.next_cursor;
      renderCount();
      renderEmpty();
    } catch (err) {
      if (generation !== state.generation) return;
      showNotice(err.message);
      state.failed = true;  // no automatic retries: the "Try again" button retries
    } finally {
      if (generation === state.generation) {
        state.loading = false;
        renderFoot();
        if (!state.failed) window.setTimeout(maybeLoadMore, 50);
      }
    }
  }

  function reloadGrid() {
    state.generation += 1;
    state.cursor = null;
    state.done = false;
    state.loading = false;
    state.items = [];
    state.ids = new Set();
    state.count = null;
    state.pendingNew = 0;
    $("new-images").classList.add("is-hidden");
    body.classList.toggle("is-grouped", grouped());
    grid.replaceChildren();
    renderEmpty();
    return fetchPage();
  }

  function maybeLoadMore() {
    if (state.loading || state.done || state.failed) return;
    const rect = $("sentinel").getBoundingClientRect();
    if (rect.top < window.innerHeight + 600) fetchPage();
  }

  // --- Live updates (Server-Sent Events) -------------------------------------------------------

  let source = null;
  let retryDelay = 2000;

  function setLive(kind, text) {
    const node = $("live-state");
    node.className = "live-state is-" + kind;
    node.querySelector(".live-text").textContent = text;
  }

  function connectEvents(since) {
    if (source) source.close();
    state.streamId = since || state.streamId || "";
    source = new EventSource(apiUrl("api/events", { since: state.streamId }));
    source.addEventListener("open", () => { setLive("live", "Live"); retryDelay = 2000; });
    source.addEventListener("hello", (e) => { setLive("live", "Live"); try { state.streamId = JSON.parse(e.data).stream_id; } catch (x) { /* keep */ } });
    source.addEventListener("image", (e) => {
      state.streamId = e.lastEventId || state.streamId;
      let data;
      try { data = JSON.parse(e.data); } catch (x) { return; }
      onNewImage(data);
    });
    source.addEventListener("reset", () => { reloadGrid(); });
    source.addEventListener("unavailable", () => setLive("down", "Reconnecting…"));
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        setLive("down", "Reconnecting…");
        window.setTimeout(() => connectEvents(state.streamId), retryDelay);
        retryDelay = Math.min(retryDelay * 2, 30000);
      } else setLive("connecting", "Reconnecting…");
    });
  }

  function itemFromEvent(data) {
    const id = data.id;
    const enc = encodeURIComponent(id);
    return {
      id: id, timestamp: data.timestamp, camera: data.camera, trigger: data.trigger, lux: data.lux,
      captured_at: new Date(data.timestamp * 1000).toISOString(),
      thumbnail_url: apiUrl("api/images/" + enc + "/thumbnail"),
    };
  }

  let refreshTimer = null;
  function refreshSoon() {
    if (refreshTimer) return;
    refreshTimer = window.setTimeout(() => { refreshTimer = null; loadStats(); loadCameras(); loadChart(); }, 1500);
  }

  function onNewImage(data) {
    if (typeof data.timestamp !== "number") return;
    refreshSoon();
    const item = itemFromEvent(data);
    if (!matchesFilter(item) || state.ids.has(item.id)) return;
    if (state.count) {
      state.count.total += 1;
      if (state.count.exact) state.count.value += 1;
      renderCount();
    }
    if (state.sort === "newest") {
      prependItem(item);
      renderEmpty();
      renderFoot();
    } else if (state.sort === "oldest" && state.done) {
      appendItems([item]);
      renderEmpty();
    } else {
      state.pendingNew += 1;
      const btn = $("new-images");
      btn.textContent = state.pendingNew + (state.pendingNew === 1 ? " new image" : " new images") + " · show";
      btn.classList.remove("is-hidden");
    }
  }

  // --- Camera status bar and stats ---------------------------------------------------------------

  async function loadCameras() {
    const bar = $("camera-bar");
    try {
      const data = await getJson(apiUrl("api/cameras"));
      bar.replaceChildren();
      if (!data.cameras.length) {
        bar.append(el("span", { className: "camera-bar-empty", text: "No camera has reported yet." }));
        return;
      }
      for (const cam of data.cameras) {
        const chip = el("button", {
          type: "button", className: "camera-chip " + (cam.online ? "is-online" : "is-offline"),
          title: (cam.host ? "Host " + cam.host + ". " : "") + "Show only this camera",
          dataset: { camera: cam.name },
        },
        el("span", { className: "camera-dot", "aria-hidden": "true" }),
        el("span", { className: "camera-name", text: cam.name }),
        el("span", { className: "camera-state", text: cam.online ? "online" : "offline" }),
        el("span", { className: "camera-last", dataset: cam.last_capture ? { ts: String(cam.last_capture) } : {},
          text: cam.last_capture ? "last capture " + relative(cam.last_capture) : "no captures yet" }));
        chip.addEventListener("click", () => { state.camera = cam.name; filterChanged(); });
        bar.append(chip);
      }
    } catch (err) {
      bar.replaceChildren(el("span", { className: "camera-bar-empty", text: "Camera status unavailable." }));
    }
  }

  // On narrow screens the chart and the store panel fold away behind one button, so the
  // pictures come first; wide screens always show them (the button is hidden there).
  function bindOverview() {
    const button = $("overview-toggle");
    button.addEventListener("click", () => {
      const open = !$("overview").classList.contains("is-open");
      $("overview").classList.toggle("is-open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) drawChart();
    });
  }

  async function loadStats() {
    try {
      const s = await getJson(apiUrl("api/stats"));
      $("stat-count").textContent = fmtInt.format(s.count);
      $("overview-summary").textContent = fmtInt.format(s.count) + (s.count === 1 ? " image" : " images");
      const mem = s.memory;
      $("stat-memory").textContent = fmtBytes(mem.used_bytes) + (mem.max_bytes ? " of " + fmtBytes(mem.max_bytes) : " · no limit");
      const bar = $("stat-memory-bar");
      bar.value = mem.max_bytes ? Math.min(100, (100 * mem.used_bytes) / mem.max_bytes) : 0;
      bar.classList.toggle("is-hidden", !mem.max_bytes);
      bar.classList.toggle("is-danger", bar.value > 90);
      for (const [name, edge] of [["newest", s.newest], ["oldest", s.oldest]]) {
        const node = $("stat-" + name);
        node.replaceChildren();
        if (!edge) { node.textContent = "–"; continue; }
        node.append(el("span", { text: fmtShort.format(new Date(edge.timestamp * 1000)) }), " ",
          el("span", { className: "stat-rel", dataset: { ts: String(edge.timestamp) }, text: relative(edge.timestamp) }));
      }
    } catch (err) { /* the grid's notice explains Redis problems */ }
  }

  // --- The light chart (inline SVG, drawn here) --------------------------------------------------

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const mag = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= v) return m * mag;
    return 10 * mag;
  }

  let chartData = null;
  let chartGen = 0;
  const CHART_MIN_BAR = 6; // px: the shortest visible min-max bar
  const CHART_MIN_HIT = 12; // px: the narrowest click target of a bucket

  async function loadChart() {
    const gen = ++chartGen;
    const f = currentFilter();
    try {
      const data = await getJson(apiUrl("api/chart", Object.assign({}, f, { buckets: 72 })));
      if (gen !== chartGen) return;
      chartData = data;
      drawChart();
    } catch (err) {
      if (gen !== chartGen) return;
      chartData = null;
      $("chart").replaceChildren(el("p", { className: "chart-empty", text: "The chart is unavailable: " + err.message }));
    }
  }

  function drawChart() {
    const box = $("chart");
    const data = chartData;
    box.replaceChildren();
    if (!data || !data.buckets.length) {
      box.append(el("p", { className: "chart-empty",
        text: filterIsEmpty() ? "No light readings yet." : "No light readings match this filter." }));
      return;
    }
    const W = Math.max(280, box.clientWidth || 600);
    const H = 160;
    const m = { l: 44, r: 10, t: 10, b: 24 };
    const step = data.bucket_seconds;
    const t0 = Math.min(data.since !== null ? data.since : data.buckets[0].start, data.buckets[0].start);
    const t1 = Math.max(data.until !== null ? data.until : 0, data.buckets[data.buckets.length - 1].end);
    const yMax = niceMax(Math.max(...data.buckets.map((b) => b.max)));
    const x = (t) => m.l + ((t - t0) / Math.max(1, t1 - t0)) * (W - m.l - m.r);
    const y = (v) => m.t + (1 - v / yMax) * (H - m.t - m.b);
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, class: "chart-svg" });
    for (let i = 0; i <= 4; i += 1) {
      const v = (yMax * i) / 4;
      root.append(svg("line", { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v), class: "chart-grid" }));
      const label = svg("text", { x: m.l - 6, y: y(v) + 4, class: "chart-axis", "text-anchor": "end" });
      label.textContent = v >= 1000 ? (v / 1000).toLocaleString(undefined, { maximumFractionDigits: 1 }) + "k" : v.toLocaleString();
      root.append(label);
    }
    const span = t1 - t0;
    const ticks = Math.max(2, Math.min(6, Math.floor((W - m.l - m.r) / 95)));
    // Seconds when ticks are under a minute apart; and never the same label twice in a row.
    const tickFormat = span / ticks < 60 ? fmtHourMinSec : span <= 2 * 86400 ? fmtHourMin : fmtShortDay;
    let previous = "";
    for (let i = 0; i <= ticks; i += 1) {
      const t = t0 + (span * i) / ticks;
      const text = tickFormat.format(new Date(t * 1000));
      if (text === previous) continue;
      previous = text;
      const label = svg("text", { x: x(t), y: H - 6, class: "chart-axis", "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle" });
      label.textContent = text;
      root.append(label);
    }
    // Runs of adjacent buckets are drawn as one band and one line; gaps stay gaps.
    const runs = [];
    for (const b of data.buckets) {
      const run = runs[runs.length - 1];
      if (run && Math.abs(run[run.length - 1].end - b.start) < 1e-6) run.push(b);
      else runs.push([b]);
    }
    const mid = (b) => x(b.start + step / 2);
    // Every bucket gets a visible min-max bar, at least CHART_MIN_BAR px tall even when min
    // equals max (one picture), so there is always something to see and click.
    const barW = Math.max(2, x(t0 + step) - x(t0));
    const visibleW = Math.max(4, Math.min(barW - 2, 16));
    const bars = new Map();
    for (const b of data.buckets) {
      let top = y(b.max);
      let bottom = y(b.min);
      if (bottom - top < CHART_MIN_BAR) {
        const centre = (top + bottom) / 2;
        top = centre - CHART_MIN_BAR / 2;
        bottom = centre + CHART_MIN_BAR / 2;
      }
      const bar = svg("rect", { x: mid(b) - visibleW / 2, y: top, width: visibleW, height: bottom - top,
        rx: Math.min(2, visibleW / 2), class: "chart-bar" });
      bars.set(b, bar);
      root.append(bar);
    }
    for (const run of joinRuns(runs, Math.max(4 * step, (t1 - t0) / 4))) {
      if (run.length === 1) {
        root.append(svg("circle", { cx: mid(run[0]), cy: y(run[0].avg), r: 2.5, class: "chart-dot" }));
        continue;
      }
      root.append(svg("polyline", { points: run.map((b) => mid(b) + "," + y(b.avg)).join(" "), class: "chart-line" }));
    }
    // The click target spans the plot's height and is at least CHART_MIN_HIT px wide.
    const hitW = Math.max(CHART_MIN_HIT, barW);
    for (const b of data.buckets) {
      const hit = svg("rect", {
        x: mid(b) - hitW / 2, y: m.t, width: hitW, height: H - m.t - m.b, class: "chart-hit",
        tabindex: 0, role: "button",
        "aria-label": "Show pictures from " + fmtFull.format(new Date(b.start * 1000)),
      });
      const bar = bars.get(b);
      hit.addEventListener("mouseenter", () => { bar.classList.add("is-hover"); showTip(b, hit); });
      hit.addEventListener("focus", () => { bar.classList.add("is-hover"); showTip(b, hit); });
      hit.addEventListener("mouseleave", () => { bar.classList.remove("is-hover"); hideTip(); });
      hit.addEventListener("blur", () => { bar.classList.remove("is-hover"); hideTip(); });
      const pick = () => {
        hideTip();
        state.range = "custom";
        state.since = b.start;
        state.until = b.end - 0.001;
        filterChanged();
        $("result-count").scrollIntoView({ behavior: "smooth", block: "start" });
      };
      hit.addEventListener("click", pick);
      hit.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); } });
      root.append(hit);
    }
    box.append(root);
  }

  // Sparse pictures leave short gaps between buckets: join runs across gaps up to `maxGap`.
  function joinRuns(runs, maxGap) {
    const out = [];
    for (const run of runs) {
      const prev = out[out.length - 1];
      if (prev && run[0].start - prev[prev.length - 1].end <= maxGap) prev.push(...run);
      else out.push(run.slice());
    }
    return out;
  }

  function showTip(b, target) {
    const tip = $("chart-tip");
    tip.replaceChildren(
      el("strong", { text: fmtFull.format(new Date(b.start * 1000)) }),
      el("span", { text: "avg " + fmtLux(b.avg) + " · min " + fmtLux(b.min) + " · max " + fmtLux(b.max) }),
      el("span", { text: fmtInt.format(b.count) + (b.count === 1 ? " picture" : " pictures") + " · click to show" }));
    tip.classList.remove("is-hidden");
    const panel = tip.parentElement.getBoundingClientRect();
    const r = target.getBoundingClientRect();
    const left = Math.min(Math.max(8, r.left - panel.left + r.width / 2 - tip.offsetWidth / 2), panel.width - tip.offsetWidth - 8);
    tip.style.left = left + "px";
  }

  function hideTip() { $("chart-tip").classList.add("is-hidden"); }

  // --- The detail view ----------------------------------------------------------------------------

  const modal = $("detail");
  const detail = { id: null, data: null, previousExpiry: null, timer: null, neighbors: null, deleteArmed: false, token: 0 };

  function fieldValue(name, value) {
    if (name === "size_bytes") return fmtBytes(Number(value)) + " (" + fmtInt.format(Number(value)) + " bytes)";
    if (name === "timestamp") return value + " (" + fmtFull.format(new Date(Number(value) * 1000)) + ")";
    return value;
  }

  async function openDetail(id, push) {
    const token = ++detail.token;
    detail.id = id;
    detail.neighbors = null;
    detail.previousExpiry = null;
    disarmDelete();
    if (push) window.history.pushState({ gallery: true, modal: true }, "", urlFor(id));
    modal.classList.add("is-active");
    document.documentElement.classList.add("is-clipped");
    const known = state.items.find((it) => it.id === id);
    const img = $("detail-img");
    img.classList.add("is-loading");
    if (known) img.src = known.thumbnail_url;
    else img.removeAttribute("src");
    $("detail-title").textContent = known ? fmtFull.format(new Date(known.timestamp * 1000)) : "Loading…";
    $("detail-sub").textContent = "";
    $("detail-fields").replaceChildren();
    try {
      const data = await getJson(apiUrl("api/images/" + encodeURIComponent(id)));
      if (token !== detail.token) return;
      localExpiry(data);
      detail.data = data;
      renderDetail();
      const full = new Image();
      full.addEventListener("load", () => {
        if (token !== detail.token) return;
        img.src = data.image_url;
        img.classList.remove("is-loading");
      });
      full.src = data.image_url;
      if (!known) img.src = data.thumbnail_url;
    } catch (err) {
      if (token !== detail.token) return;
      detail.data = null;
      $("detail-title").textContent = err.status === 404 ? "This image is gone" : "Cannot show this image";
      $("detail-sub").textContent = err.message;
      img.removeAttribute("src");
      renderTtl();
    }
    updateArrows();
  }

  // Count down from the TTL as received, so a clock difference with the server does not matter.
  function localExpiry(data) {
    data.expires_local = data.ttl_seconds === null ? null : Date.now() / 1000 + data.ttl_seconds;
  }

  async function refreshDetail(id) {
    const data = await getJson(apiUrl("api/images/" + encodeURIComponent(id)));
    if (detail.id !== id) return;
    localExpiry(data);
    detail.data = data;
    renderTtl();
  }

  function renderDetail() {
    const d = detail.data;
    $("detail-title").textContent = fmtFull.format(new Date(d.timestamp * 1000));
    $("detail-sub").replaceChildren(
      el("span", { className: "tag is-dark" }, icon("i-camera"), d.camera || "unknown camera"),
      el("span", { className: "tag is-dark" }, icon("i-bolt"), d.trigger || "unknown trigger"),
      el("span", { className: "tag is-dark" }, icon("i-sun"), fmtLux(d.lux)),
      el("span", { className: "detail-rel", text: relative(d.timestamp) }));
    $("detail-img").alt = "Picture from " + (d.camera || "camera") + ", " + fmtFull.format(new Date(d.timestamp * 1000));
    const rows = [el("tr", {}, el("th", { text: "Id" }), el("td", {}, el("code", { text: d.id })))];
    for (const [name, value] of d.fields) {
      // The Redis field name shows on hover, for FT.SEARCH and redis-cli users.
      const th = el("th", { title: "Redis field: " + name }, fieldLabel(name), el("span", { className: "field-key", text: name }));
      rows.push(el("tr", {}, th, el("td", { text: fieldValue(name, value) })));
    }
    $("detail-fields").replaceChildren(...rows);
    const dl = $("detail-download");
    dl.href = d.download_url;
    dl.setAttribute("download", d.download_name);
    renderTtl();
  }

  function renderTtl() {
    window.clearInterval(detail.timer);
    const d = detail.data;
    const text = $("detail-ttl-text");
    const keep = $("detail-keep");
    const ttl = $("detail-ttl");
    keep.disabled = !d;
    $("detail-delete").disabled = !d;
    $("detail-download").classList.toggle("is-static", !d);
    if (!d) { text.textContent = ""; return; }
    ttl.classList.toggle("is-kept", !!d.kept);
    if (d.kept) {
      if (detail.previousExpiry) {
        text.textContent = "Kept: this picture never expires.";
        keep.textContent = "Undo keep";
        keep.title = "Expire when it would have before";
      } else {
        text.textContent = "Kept: this picture never expires. \u201cLet it expire\u201d gives it " + UNKEEP_TEXT +
          " before Redis removes it.";
        keep.textContent = "Let it expire";
        keep.title = "Give it " + UNKEEP_TEXT + " to live again";
      }
      keep.disabled = false;
      return;
    }
    keep.textContent = "Keep forever";
    keep.title = "Remove its time to live: never expired or evicted";
    const tick = () => {
      const left = d.expires_local - Date.now() / 1000;
      if (left <= 0) {
        text.textContent = "Expired: Redis has removed this picture.";
        window.clearInterval(detail.timer);
        return;
      }
      text.textContent = "Expires in " + fmtDuration(left);
    };
    tick();
    detail.timer = window.setInterval(tick, 1000);
  }

  function closeDetail(fromHistory) {
    if (!modal.classList.contains("is-active")) return;
    modal.classList.remove("is-active");
    document.documentElement.classList.remove("is-clipped");
    window.clearInterval(detail.timer);
    detail.token += 1;
    detail.id = null;
    detail.data = null;
    $("detail-img").removeAttribute("src");
    if (!fromHistory) {
      if (window.history.state && window.history.state.modal) window.history.back();
      else window.history.replaceState({ gallery: true }, "", urlFor(null));
    }
  }

  async function neighbors() {
    if (!detail.neighbors) {
      detail.neighbors = getJson(apiUrl("api/images/" + encodeURIComponent(detail.id) + "/neighbors", queryParams()))
        .catch(() => ({ previous: null, next: null }));
    }
    return detail.neighbors;
  }

  async function step(direction) {
    if (!detail.id) return;
    let idx = state.items.findIndex((it) => it.id === detail.id);
    let target = null;
    if (idx >= 0) {
      if (direction > 0 && idx === state.items.length - 1 && !state.done) {
        await fetchPage();
        idx = state.items.findIndex((it) => it.id === detail.id);
      }
      const next = state.items[idx + direction];
      if (next) target = next.id;
    } else {
      const n = await neighbors();
      const item = direction > 0 ? n.next : n.previous;
      if (item) target = item.id;
    }
    if (!target) { toast(direction > 0 ? "This is the last picture." : "This is the first picture.", "info"); return; }
    window.history.replaceState(window.history.state, "", urlFor(target));
    const node = grid.querySelector('[data-id="' + CSS.escape(target) + '"]');
    if (node) node.scrollIntoView({ block: "nearest" });
    openDetail(target, false);
  }

  function updateArrows() {
    const idx = state.items.findIndex((it) => it.id === detail.id);
    $("detail-prev").disabled = idx === 0;
    $("detail-next").disabled = idx >= 0 && idx === state.items.length - 1 && state.done;
  }

  function disarmDelete() {
    detail.deleteArmed = false;
    const btn = $("detail-delete");
    btn.textContent = "Delete";
    btn.classList.add("is-outlined");
  }

  async function deleteCurrent() {
    const btn = $("detail-delete");
    if (!detail.deleteArmed) {
      detail.deleteArmed = true;
      btn.textContent = "Really delete?";
      btn.classList.remove("is-outlined");
      window.setTimeout(disarmDelete, 4000);
      return;
    }
    const id = detail.id;
    const idx = state.items.findIndex((it) => it.id === id);
    const after = state.items[idx + 1] || state.items[idx - 1] || null;
    btn.classList.add("is-loading");
    try {
      await postJson(apiUrl("api/images/" + encodeURIComponent(id)), "DELETE");
      removeItem(id);
      toast("Picture deleted.", "success");
      refreshSoon();
      if (after) {
        window.history.replaceState(window.history.state, "", urlFor(after.id));
        openDetail(after.id, false);
      } else closeDetail(false);
    } catch (err) {
      toast(err.message, "danger");
    } finally {
      btn.classList.remove("is-loading");
      disarmDelete();
    }
  }

  async function keepCurrent() {
    const d = detail.data;
    if (!d) return;
    const id = d.id;
    const btn = $("detail-keep");
    btn.classList.add("is-loading");
    try {
      const undo = async (previous) => {
        await postJson(apiUrl("api/images/" + encodeURIComponent(id) + "/expire"), "POST", { expires_at: previous });
        if (detail.id === id) {
          detail.previousExpiry = null;
          await refreshDetail(id);
        }
        toast("Undone: the picture expires as before.", "info");
      };
      if (d.kept && detail.previousExpiry) {
        await undo(detail.previousExpiry);
      } else if (d.kept) {
        // Kept before this visit: the old expiry is gone, so it gets UNKEEP_SECONDS to live.
        await postJson(apiUrl("api/images/" + encodeURIComponent(id) + "/expire"), "POST",
          { expires_at: Date.now() / 1000 + UNKEEP_SECONDS });
        if (detail.id === id) await refreshDetail(id);
        toast("This picture expires again, in " + UNKEEP_TEXT + ".", "info", {
          label: "Keep it",
          run: () => postJson(apiUrl("api/images/" + encodeURIComponent(id) + "/keep"), "POST")
            .then(() => (detail.id === id ? refreshDetail(id) : null))
            .then(() => toast("Kept: this picture will not expire.", "success"))
            .catch((err) => toast(err.message, "danger")),
        });
      } else {
        const res = await postJson(apiUrl("api/images/" + encodeURIComponent(id) + "/keep"), "POST");
        const previous = res.previous_expires_at;
        if (detail.id === id) {
          Object.assign(d, { kept: true });
          detail.previousExpiry = previous;
          renderTtl();
        }
        toast("Kept: this picture will not expire.", "success", previous ? {
          label: "Undo",
          run: () => undo(previous).catch((err) => toast(err.message, "danger")),
        } : null);
      }
    } catch (err) {
      toast(err.message, "danger");
    } finally {
      btn.classList.remove("is-loading");
    }
  }

  function bindDetail() {
    for (const node of modal.querySelectorAll("[data-close]")) node.addEventListener("click", () => closeDetail(false));
    $("detail-prev").addEventListener("click", () => step(-1));
    $("detail-next").addEventListener("click", () => step(1));
    $("detail-delete").addEventListener("click", deleteCurrent);
    $("detail-keep").addEventListener("click", keepCurrent);
    document.addEventListener("keydown", (e) => {
      if (!modal.classList.contains("is-active")) return;
      if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
      if (e.key === "ArrowRight") { e.preventDefault(); step(1); }
      else if (e.key === "ArrowLeft") { e.preventDefault(); step(-1); }
      else if (e.key === "Escape") { e.preventDefault(); closeDetail(false); }
    });
  }

  // --- Start ------------------------------------------------------------------------------------

  function refreshRelativeTimes() {
    for (const node of document.querySelectorAll("[data-ts]")) {
      const ts = Number(node.dataset.ts);
      if (!Number.isFinite(ts)) continue;
      node.textContent = node.classList.contains("camera-last") ? "last capture " + relative(ts) : relative(ts);
    }
  }

  function start() {
    const imageId = readUrl();
    window.history.replaceState({ gallery: true }, "", urlFor(imageId));
    if (linkProblems.length) {
      toast("Part of this link's filter was left out: " + linkProblems.join("; ") + ".", "info");
    }
    syncForm();
    bindOverview();
    bindFilters();
    bindDetail();
    $("load-more").addEventListener("click", fetchPage);
    $("new-images").addEventListener("click", () => { reloadGrid(); window.scrollTo({ top: 0, behavior: "smooth" }); });
    if ("IntersectionObserver" in window) {
      new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) maybeLoadMore(); },
        { rootMargin: "600px" }).observe($("sentinel"));
    }
    window.addEventListener("scroll", maybeLoadMore, { passive: true });
    window.addEventListener("scroll", placeToasts, { passive: true });
    window.addEventListener("popstate", () => {
      const before = urlFor(null);
      const id = readUrl();
      if (linkProblems.length) toast("Part of this filter was left out: " + linkProblems.join("; ") + ".", "info");
      if (urlFor(null) !== before) afterFilterChange();
      else syncForm();
      if (id) openDetail(id, false);
      else closeDetail(true);
    });
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      window.clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(drawChart, 150);
    });
    window.setInterval(refreshRelativeTimes, 30000);
    window.setInterval(loadCameras, 20000);
    window.setInterval(loadStats, 60000);
    reloadGrid();
    loadChart();
    loadStats();
    loadCameras();
    loadFacets();
    if (imageId) openDetail(imageId, false);
  }

  window.gallery = {
    currentFilter: currentFilter,
    csrfFetch: csrfFetch,
    apiUrl: apiUrl,
    toast: toast,
    toLocalInput: toLocalInput,
    fromLocalInput: fromLocalInput,
  };

  start();
})();
