/*
 * main.js: the gallery page's one entry module (<script type="module">, no bundler, no
 * inline script). It wires the sections together and starts them:
 *
 *   api.js        apiUrl, csrfFetch, getJson/postJson: the gallery's own API
 *   dom.js        $, el, svg, icon: DOM building (text only, never markup)
 *   format.js     times, sizes, lux, durations
 *   toast.js      notifications and the grid's notice
 *   state.js      the filter and sort, and the URL that carries them
 *   filters.js    the filter form
 *   grid.js       the grid and its one card renderer
 *   events.js     live arrivals (Server-Sent Events, filtered by the server)
 *   overview.js   the camera bar and the store panel
 *   chart.js      the light chart
 *   detail.js     the detail view
 *   timelapse.js  the time-lapse dialog
 *   live.js       the live camera tiles
 *   retention.js  tier labels, the forecast and budgets panel, the notifier's targets
 *   select.js     selecting many pictures; bulk keep, delete, zip
 *   viewer.js     the full-screen viewer (PhotoSwipe): zoom, pinch, pan, swipe, keys
 *   timeline.js   jump to a day or an hour (per-hour counts from the server)
 *   dialogs.js    every dialog takes, traps and gives back the focus
 *   bursts.js     motion bursts reviewed like events
 *
 * Hooks for tests and the browser console, on window.gallery:
 *   currentFilter()         -> {since, until, camera, trigger, lux_min, lux_max, full_size}: the grid's filter
 *                              (Unix seconds, presets resolved against now; unset values null)
 *   csrfFetch(url, options) -> fetch() with the page's CSRF token, for POST and DELETE
 *   apiUrl(path, params)    -> the URL of `path` ("api/stats") under the app's root
 *   toast(message, kind)    -> a short notification (kind: "info", "success", "danger")
 *   toLocalInput(ts) / fromLocalInput(text) -> Unix seconds to a datetime-local value and back
 * and the document event "gallery:filterchange" (detail: currentFilter()) after every change.
 */
import { apiUrl, csrfFetch } from "./api.js";
import { bindDetail, closeDetail, openDetail } from "./detail.js";
import { afterFilterChange, bindFilters, loadFacets, syncForm } from "./filters.js";
import { fromLocalInput, toLocalInput } from "./format.js";
import { drawChart, loadChart } from "./chart.js";
import { bindGrid, loadedCount, reloadGrid } from "./grid.js";
import { startLive } from "./live.js";
import { bindOverview, loadCameras, loadStats, overviewOpen, refreshRelativeTimes } from "./overview.js";
import { bindDialogs } from "./dialogs.js";
import { bindSelect, selectedIds, selectionReset } from "./select.js";
import { bindTimeline } from "./timeline.js";
import { bindBursts } from "./bursts.js";
import { startRetention } from "./retention.js";
import { currentFilter, readUrl, urlFor } from "./state.js";
import { startTimelapse } from "./timelapse.js";
import { placeToasts, toast } from "./toast.js";
import { $ } from "./dom.js";

function start() {
  const { imageId, problems } = readUrl();
  window.history.replaceState({ gallery: true }, "", urlFor(imageId));
  if (problems.length) {
    toast("Part of this link's filter was left out: " + problems.join("; ") + ".", "info");
  }
  syncForm();
  bindOverview();
  bindFilters();
  bindGrid();
  bindDetail();
  bindDialogs();
  bindSelect();
  bindTimeline();
  bindBursts();
  document.addEventListener("gallery:filterchange", () => {
    selectionReset();
    reloadGrid();
    if (overviewOpen()) loadChart();
  });
  document.addEventListener("gallery:closeoverview", () => { if (overviewOpen()) $("overview-toggle").click(); });
  window.addEventListener("scroll", placeToasts, { passive: true });
  window.addEventListener("popstate", () => {
    const before = urlFor(null);
    const { imageId: id, problems: left } = readUrl();
    if (left.length) toast("Part of this filter was left out: " + left.join("; ") + ".", "info");
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
  // Nothing polls while nobody looks: the overview refreshes at a calm pace only while it is
  // open and the tab is visible; relative times are text, no request.
  window.setInterval(refreshRelativeTimes, 30000);
  window.setInterval(() => { if (overviewOpen() && !document.hidden) { loadCameras(); loadStats(); } }, 60000);
  reloadGrid();
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
  loadedCount: loadedCount,
  selectedIds: selectedIds,
};

start();
startTimelapse();
startLive();
startRetention();
