/*
 * grid.js: the grid of pictures. One card renderer, `card(item)`, for an item in the shape of
 * GET /api/images' `images[]`: the listing and the pictures that arrive live (events.js sends
 * the same shape) are drawn by it alike. Paging is by the API's cursor, as the user scrolls.
 */
import { apiUrl, getJson } from "./api.js";
import { $, el, icon } from "./dom.js";
import { connectEvents, whenRecovered } from "./events.js";
import { dayKey, dayLabel, fmtClock, fmtFull, fmtInt, fmtLux, fmtShortDay, relative } from "./format.js";
import { tierStrip } from "./retention.js";
import { PAGE_SIZE, currentFilter, filterIsEmpty, grouped, queryParams, state, urlFor } from "./state.js";
import { showNotice } from "./toast.js";

const grid = $("grid");

// Thumbnails load as they come near the screen (a short margin, not the browser's own
// lazy loading, which fetches a few screens ahead): the first screen costs what it shows.
const thumbs = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    const img = entry.target;
    thumbs.unobserve(img);
    if (img.dataset.srcset) img.srcset = img.dataset.srcset;
    if (img.dataset.src) {
      img.parentElement.classList.add("is-loading");
      img.src = img.dataset.src;
      delete img.dataset.src;
    }
  }
}, { rootMargin: "150px 0px" }) : null;

/** The card of one picture: a link to its detail view (detail.js opens it in place). */
export function card(item) {
  const img = el("img", {
    alt: "Picture from " + (item.camera || "camera") + " at " + fmtFull.format(new Date(item.timestamp * 1000)),
    decoding: "async", width: 480, height: 270,
  });
  // A card-sized copy where it is enough, the stored thumbnail on dense (phone) screens.
  const small = item.thumbnail_url + (item.thumbnail_url.includes("?") ? "&" : "?") + "w=240";
  img.setAttribute("srcset", "");
  img.dataset.srcset = small + " 240w, " + item.thumbnail_url + " 320w";
  img.setAttribute("sizes", "(max-width: 560px) 50vw, 240px");
  if (thumbs) { img.dataset.src = small; thumbs.observe(img); } else { img.srcset = img.dataset.srcset; img.src = small; }
  const badges = el("div", { className: "card-badges" });
  if (item.kept) badges.append(el("span", { className: "badge badge-kept", text: "kept" }));
  if (item.trigger) badges.append(el("span", { className: "badge badge-trigger trigger-" + item.trigger.replace(/[^a-z0-9_-]/gi, ""), text: item.trigger }));
  const time = el("time", { className: "card-clock", datetime: item.captured_at, text: fmtClock.format(new Date(item.timestamp * 1000)) });
  const rel = el("span", { className: "card-rel", dataset: { ts: String(item.timestamp) }, text: relative(item.timestamp) });
  const a = el("a", { className: "image-card" + (item.kept ? " is-kept" : ""), href: urlFor(item.id), dataset: { id: item.id, day: dayKey(item.timestamp) } },
    el("figure", { className: "card-figure" }, img, badges, tierStrip(item), el("span", { className: "card-missing", text: "Expired or deleted" })),
    el("div", { className: "card-info" },
      el("div", { className: "card-when" }, time, rel),
      el("div", { className: "card-meta" },
        el("span", { className: "meta-lux" }, icon("i-sun"), fmtLux(item.lux)),
        el("span", { className: "meta-camera" }, icon("i-camera"), item.camera || "unknown camera"),
      ),
      el("div", { className: "card-date", text: fmtShortDay.format(new Date(item.timestamp * 1000)) }),
    ));
  img.addEventListener("load", () => {
    img.parentElement.classList.remove("is-loading");
    img.parentElement.classList.add("is-loaded");
  }, { once: true });
  img.addEventListener("error", () => {
    img.parentElement.classList.remove("is-loading");
    a.classList.add("is-missing");
    img.removeAttribute("src");
  }, { once: true });
  return a;
}

/** The node of a listed picture, or null. */
export function cardNode(id) {
  return grid.querySelector('[data-id="' + CSS.escape(id) + '"]');
}

/** The id of a day's header, e.g. "day-2026-11-24": a link to it jumps there. */
export function dayAnchor(ts) {
  const d = new Date(ts * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return "day-" + d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
}

function dayHeader(ts) {
  const id = dayAnchor(ts);
  return el("h3", { className: "day-header", id: id, dataset: { day: dayKey(ts) } },
    el("a", { className: "day-link", href: "#" + id, tabindex: "-1" },
      el("span", { className: "day-name", text: dayLabel(ts) }), " ",
      el("span", { className: "day-date", text: fmtShortDay.format(new Date(ts * 1000)) })));
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

/** Take a deleted picture out of the grid and the counts. */
export function removeItem(id) {
  const idx = state.items.findIndex((it) => it.id === id);
  if (idx >= 0) state.items.splice(idx, 1);
  state.ids.delete(id);
  const node = cardNode(id);
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

/**
 * Load the next page. The first page of a listing also (re)connects the live events, with
 * the same filter, from the stream position the listing was read at: a picture stored
 * meanwhile is then listed or announced, never neither.
 */
export async function fetchPage() {
  const generation = state.generation;
  const first = state.cursor === null;
  state.failed = false;
  state.loading = true;
  renderFoot();
  try {
    const data = await getJson(apiUrl("api/images", queryParams({ limit: PAGE_SIZE, cursor: state.cursor })));
    if (generation !== state.generation) return;
    showNotice("");
    retryDelay = 5000;
    if (data.count) state.count = data.count;
    if (first) {
      connectEvents(data.stream_id, currentFilter(), {
        image: (item) => { if (generation === state.generation) arrived(item); },
        reset: () => { if (generation === state.generation) reloadGrid(); },
      });
    }
    appendItems(data.images);
    state.cursor = data.next_cursor;
    state.done = !data.next_cursor;
    renderCount();
    renderEmpty();
  } catch (err) {
    if (generation !== state.generation) return;
    showNotice(err.message);
    if (first) { state.count = null; renderCount(); }
    state.failed = true;
    // Redis away (503) or the server unreachable: try again by itself, calmly, while the
    // page is shown; the "Try again" button does it at once. Other errors wait for the user.
    if (err.status === 503 || err.status === 0) retryLater(generation);
  } finally {
    if (generation === state.generation) {
      state.loading = false;
      renderFoot();
      if (!state.failed) window.setTimeout(maybeLoadMore, 50);
    }
  }
}

let retryTimer = null;
let retryDelay = 5000;

function retryLater(generation) {
  window.clearTimeout(retryTimer);
  retryTimer = window.setTimeout(() => {
    if (generation !== state.generation || !state.failed) return;
    if (document.hidden) { retryLater(generation); return; }
    retryDelay = Math.min(retryDelay * 2, 30000);
    fetchPage();
  }, retryDelay);
}

/** Start the listing again from its first page (after a filter change, say). */
export function reloadGrid() {
  state.generation += 1;
  state.cursor = null;
  state.done = false;
  state.loading = false;
  state.items = [];
  state.ids = new Set();
  state.count = null;
  state.pendingNew = 0;
  $("new-images").classList.add("is-hidden");
  document.body.classList.toggle("is-grouped", grouped());
  grid.replaceChildren();
  renderEmpty();
  return fetchPage();
}

/** Load the next page when the end of the grid is near the screen. */
export function maybeLoadMore() {
  if (state.loading || state.done || state.failed) return;
  const rect = $("sentinel").getBoundingClientRect();
  if (rect.top < window.innerHeight + 600) fetchPage();
}

// A picture that matches the filter was stored (the server filters the events): it goes
// where the sort puts it, or, where that is not at hand, into the "new images" button.
function arrived(item) {
  if (state.ids.has(item.id)) return;
  if (state.count) {
    state.count.total += 1;
    if (state.count.exact) state.count.value += 1;
    renderCount();
  }
  if (state.sort === "newest" && window.scrollY < 200) {
    prependItem(item);
    renderEmpty();
    renderFoot();
  } else if (state.sort === "oldest" && state.done) {
    appendItems([item]);
    renderEmpty();
  } else {
    state.pendingNew += 1;
    const btn = $("new-images");
    btn.textContent = state.pendingNew + " new · show";
    btn.setAttribute("aria-label", state.pendingNew + (state.pendingNew === 1 ? " new picture" : " new pictures") + ": show");
    btn.classList.remove("is-hidden");
  }
}

/** How many pictures the grid has loaded (window.gallery.loadedCount, for tests and the bench). */
export function loadedCount() { return state.items.length; }

export function bindGrid() {
  // Back from an outage: a grid left failed, half-filled or under a stale notice reloads.
  whenRecovered(() => {
    retryDelay = 5000;
    if (state.failed || !$("notice").classList.contains("is-hidden")) reloadGrid();
  });
  const top = $("back-to-top");
  const placeTop = () => top.classList.toggle("is-hidden", window.scrollY < window.innerHeight);
  window.addEventListener("scroll", placeTop, { passive: true });
  top.addEventListener("click", () => {
    window.scrollTo({ top: 0, behavior: "smooth" });
    $("grid").focus({ preventScroll: true });
  });
  $("load-more").addEventListener("click", fetchPage);
  $("new-images").addEventListener("click", () => { reloadGrid(); window.scrollTo({ top: 0, behavior: "smooth" }); });
  if ("IntersectionObserver" in window) {
    new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) maybeLoadMore(); },
      { rootMargin: "600px" }).observe($("sentinel"));
  }
  window.addEventListener("scroll", maybeLoadMore, { passive: true });
}
