/*
 * select.js: selecting many pictures, and what can be done with them at once.
 *
 * - "Select" (or a long press on a card, or Shift/Ctrl-click) starts selecting; a click then
 *   toggles a card, Shift-click selects the range from the last one clicked, and
 *   "Select all in view" takes every card on the screen.
 * - The selection bar: keep / let expire (undoable, like the single action), download as a
 *   zip (streamed by the server), delete (asks once more). Requests carry at most BULK_MAX
 *   ids each (the API's documented limit).
 * - "Download all" (in the toolbar) zips the whole filter, in parts of at most 2 GB.
 */
import { apiUrl, getJson, postJson } from "./api.js";
import { $, el } from "./dom.js";
import { fmtBytes, fmtInt } from "./format.js";
import { removeItem } from "./grid.js";
import { queryParams, state } from "./state.js";
import { toast } from "./toast.js";

const BULK_MAX = 500;
const LONG_PRESS_MS = 500;
const sel = { on: false, ids: new Set(), anchor: null, deleteArmed: false, press: null, suppressClick: false };

const grid = $("grid");
const bar = $("select-bar");

function cards() { return Array.from(grid.querySelectorAll(".image-card")); }

function chunks(list) {
  const out = [];
  for (let i = 0; i < list.length; i += BULK_MAX) out.push(list.slice(i, i + BULK_MAX));
  return out;
}

function render() {
  document.body.classList.toggle("is-selecting", sel.on);
  bar.classList.toggle("is-hidden", !sel.on);
  $("select-mode").setAttribute("aria-pressed", String(sel.on));
  const n = sel.ids.size;
  $("sel-count").textContent = n === 0 ? "Select pictures" : fmtInt.format(n) + " selected";
  for (const id of ["sel-keep", "sel-unkeep", "sel-zip", "sel-delete"]) $(id).disabled = n === 0;
  disarm();
  for (const node of cards()) {
    const on = sel.ids.has(node.dataset.id);
    node.classList.toggle("is-selected", on);
    if (sel.on) node.setAttribute("aria-pressed", String(on));
    else node.removeAttribute("aria-pressed");
  }
}

function disarm() {
  sel.deleteArmed = false;
  const btn = $("sel-delete");
  btn.textContent = "Delete";
  btn.classList.add("is-outlined");
}

export function startSelecting() { sel.on = true; render(); }

export function stopSelecting() {
  sel.on = false;
  sel.ids.clear();
  sel.anchor = null;
  render();
}

function toggle(id, range) {
  if (range && sel.anchor) {
    const ids = cards().map((c) => c.dataset.id);
    const a = ids.indexOf(sel.anchor);
    const b = ids.indexOf(id);
    if (a >= 0 && b >= 0) {
      for (const one of ids.slice(Math.min(a, b), Math.max(a, b) + 1)) sel.ids.add(one);
      render();
      return;
    }
  }
  if (sel.ids.has(id)) sel.ids.delete(id);
  else sel.ids.add(id);
  sel.anchor = id;
  render();
}

/** Every card at least partly on the screen. */
function selectAllInView() {
  const h = window.innerHeight;
  for (const node of cards()) {
    const r = node.getBoundingClientRect();
    if (r.bottom > 0 && r.top < h) sel.ids.add(node.dataset.id);
  }
  render();
}

async function bulk(action, payloadOf, ids) {
  const results = [];
  for (const part of chunks(ids)) {
    results.push(await postJson(apiUrl("api/images/bulk/" + action), "POST", payloadOf(part)));
  }
  return results;
}

async function keepSelected() {
  const ids = Array.from(sel.ids);
  try {
    const results = await bulk("keep", (part) => ({ ids: part }), ids);
    const kept = results.flatMap((r) => r.kept);
    for (const k of kept) markKept(k.id, true);
    const undoable = kept.filter((k) => k.previous_expires_at !== null)
      .map((k) => ({ id: k.id, expires_at: k.previous_expires_at }));
    toast("Kept " + fmtInt.format(kept.length) + " pictures: they will not expire.", "success", undoable.length ? {
      label: "Undo",
      run: () => bulk("expire", (part) => ({ items: part }), undoable)
        .then(() => { for (const u of undoable) markKept(u.id, false); toast("Undone: they expire as before.", "info"); })
        .catch((err) => toast(err.message, "danger")),
    } : null);
  } catch (err) {
    toast(err.message, "danger");
  }
}

async function unkeepSelected() {
  const until = Date.now() / 1000 + 24 * 3600;
  const items = Array.from(sel.ids).map((id) => {
    const item = state.items.find((it) => it.id === id);
    return { id: id, expires_at: (item && item.previous_expires_at) || until };
  });
  try {
    const results = await bulk("expire", (part) => ({ items: part }), items);
    const done = results.flatMap((r) => r.expiring);
    for (const d of done) markKept(d.id, false);
    toast(fmtInt.format(done.length) + " pictures expire again.", "info", {
      label: "Keep them",
      run: () => bulk("keep", (part) => ({ ids: part }), done.map((d) => d.id))
        .then(() => { for (const d of done) markKept(d.id, true); toast("Kept again.", "success"); })
        .catch((err) => toast(err.message, "danger")),
    });
  } catch (err) {
    toast(err.message, "danger");
  }
}

function markKept(id, kept) {
  const item = state.items.find((it) => it.id === id);
  if (item) item.kept = kept;
  const node = grid.querySelector('[data-id="' + CSS.escape(id) + '"]');
  if (node) node.classList.toggle("is-kept", kept);
}

async function deleteSelected() {
  const btn = $("sel-delete");
  const ids = Array.from(sel.ids);
  if (!sel.deleteArmed) {
    sel.deleteArmed = true;
    btn.textContent = "Really delete " + fmtInt.format(ids.length) + "?";
    btn.classList.remove("is-outlined");
    window.setTimeout(() => { if (sel.deleteArmed) disarm(); }, 5000);
    return;
  }
  btn.classList.add("is-loading");
  try {
    const results = await bulk("delete", (part) => ({ ids: part }), ids);
    const deleted = results.flatMap((r) => r.deleted);
    for (const id of [...deleted, ...results.flatMap((r) => r.missing)]) removeItem(id);
    toast("Deleted " + fmtInt.format(deleted.length) + " pictures.", "success");
    stopSelecting();
  } catch (err) {
    toast(err.message, "danger");
  } finally {
    btn.classList.remove("is-loading");
    disarm();
  }
}

function download(url) {
  const a = el("a", { href: url, download: "" });
  document.body.append(a);
  a.click();
  a.remove();
}

function zipSelected() {
  for (const part of chunks(Array.from(sel.ids))) download(apiUrl("api/archive", { ids: part.join(",") }));
}

/** Zip every picture of the current filter: one download per part the server plans. */
async function zipFilter() {
  const params = queryParams();
  delete params.sort;
  try {
    const plan = await getJson(apiUrl("api/archive/plan", params));
    if (!plan.count) { toast("No picture matches this filter.", "info"); return; }
    if (plan.parts.length === 1) {
      download(plan.parts[0].url);
      toast("Downloading " + fmtInt.format(plan.count) + " pictures (" + fmtBytes(plan.bytes) + ") as one zip.", "info");
      return;
    }
    const list = $("zip-parts");
    list.replaceChildren(...plan.parts.map((p) => el("li", {},
      el("a", { href: p.url, download: "" }, "Part " + p.part + ": " + fmtInt.format(p.count) + " pictures, " + fmtBytes(p.bytes)))));
    $("zip-summary").textContent = fmtInt.format(plan.count) + " pictures, " + fmtBytes(plan.bytes)
      + ", in " + plan.parts.length + " zips of at most " + fmtBytes(plan.part_mb * 1e6) + "."
      + (plan.truncated ? " Only the first " + fmtInt.format(plan.count) + " are planned: narrow the filter for the rest." : "");
    document.dispatchEvent(new CustomEvent("gallery:opendialog", { detail: { id: "zip-dialog" } }));
  } catch (err) {
    toast(err.message, "danger");
  }
}

/** A card was clicked: true when selection took the click. */
function onCardClick(e) {
  const card = e.target instanceof Element ? e.target.closest(".image-card") : null;
  if (!card) return;
  if (sel.suppressClick) { sel.suppressClick = false; e.preventDefault(); e.stopImmediatePropagation(); return; }
  if (!sel.on && !(e.shiftKey || e.ctrlKey || e.metaKey)) return;
  e.preventDefault();
  e.stopImmediatePropagation();
  if (!sel.on) { sel.on = true; }
  toggle(card.dataset.id, e.shiftKey);
}

function onPointerDown(e) {
  const card = e.target instanceof Element ? e.target.closest(".image-card") : null;
  if (!card || e.button !== 0) return;
  const start = { x: e.clientX, y: e.clientY };
  sel.press = {
    start: start,
    timer: window.setTimeout(() => {
      sel.press = null;
      sel.suppressClick = true;  // the click that ends a long press does not open the picture
      if (!sel.on) sel.on = true;
      toggle(card.dataset.id, false);
      if (navigator.vibrate) navigator.vibrate(20);
    }, LONG_PRESS_MS),
  };
}

function cancelPress(e) {
  if (!sel.press) return;
  if (e && e.type === "pointermove" && Math.hypot(e.clientX - sel.press.start.x, e.clientY - sel.press.start.y) < 10) return;
  window.clearTimeout(sel.press.timer);
  sel.press = null;
}

/** The grid was reloaded (a new filter): the selection of another filter would surprise. */
export function selectionReset() {
  if (sel.ids.size) { sel.ids.clear(); sel.anchor = null; }
  render();
}

export function bindSelect() {
  grid.addEventListener("click", onCardClick, true);  // before the detail view's own handler
  grid.addEventListener("pointerdown", onPointerDown);
  for (const type of ["pointerup", "pointercancel", "pointerleave", "pointermove"]) grid.addEventListener(type, cancelPress);
  grid.addEventListener("contextmenu", (e) => { if (sel.press || sel.suppressClick) e.preventDefault(); });
  $("select-mode").addEventListener("click", () => (sel.on ? stopSelecting() : startSelecting()));
  $("sel-all").addEventListener("click", selectAllInView);
  $("sel-keep").addEventListener("click", keepSelected);
  $("sel-unkeep").addEventListener("click", unkeepSelected);
  $("sel-zip").addEventListener("click", zipSelected);
  $("sel-delete").addEventListener("click", deleteSelected);
  $("sel-cancel").addEventListener("click", stopSelecting);
  $("zip-filter").addEventListener("click", zipFilter);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && sel.on && !document.querySelector(".modal.is-active, .pswp")) stopSelecting();
  });
  // Cards appended later follow the selection's look.
  new MutationObserver(() => { if (sel.on) render(); }).observe(grid, { childList: true });
}

/** Ids selected now (for tests and the console). */
export function selectedIds() { return Array.from(sel.ids); }
