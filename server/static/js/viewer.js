/*
 * viewer.js: the full-screen viewer. PhotoSwipe 5 (from the npm registry, served from
 * static/vendor/, loaded only when the viewer first opens) shows the original picture with
 * zoom, pinch and pan, and swipes or steps through the pictures under the current filter,
 * loading the next page as the end comes near.
 *
 * Keys: ← → move · Esc closes · F full screen · K keep (again: let it expire) ·
 * Del delete (press again to confirm) · / closes and goes to the filters.
 * PhotoSwipe takes the focus, traps it, and gives it back to what had it.
 */
import { apiUrl, postJson } from "./api.js";
import { fmtFull, fmtLux } from "./format.js";
import { fetchPage, removeItem } from "./grid.js";
import { state } from "./state.js";
import { toast } from "./toast.js";

const PSWP = "../vendor/photoswipe/photoswipe.esm.min.js";
const viewer = { pswp: null, armedDelete: null, onClose: null };

function slideOf(item) {
  const width = item.width || 1920;
  const height = item.height || 1080;
  return {
    src: item.image_url, msrc: item.thumbnail_url, width: width, height: height,
    alt: "Picture from " + (item.camera || "camera") + " at " + fmtFull.format(new Date(item.timestamp * 1000)),
  };
}

function caption(item) {
  if (!item) return "";
  const parts = [fmtFull.format(new Date(item.timestamp * 1000))];
  if (item.camera) parts.push(item.camera);
  if (item.trigger) parts.push(item.trigger);
  if (item.lux !== null && item.lux !== undefined) parts.push(fmtLux(item.lux));
  if (item.kept) parts.push("kept");
  return parts.join(" · ");
}

function current() {
  const pswp = viewer.pswp;
  return pswp ? state.items[pswp.currIndex] : null;
}

/** The viewer is open. */
export function viewerOpen() { return viewer.pswp !== null; }

async function toggleFullscreen() {
  const root = viewer.pswp && viewer.pswp.element;
  if (!root) return;
  try {
    if (document.fullscreenElement) await document.exitFullscreen();
    else await root.requestFullscreen();
  } catch {
    toast("This browser does not allow full screen here.", "info");
  }
}

async function keepCurrent() {
  const item = current();
  if (!item) return;
  const url = (action) => apiUrl("api/images/" + encodeURIComponent(item.id) + "/" + action);
  try {
    if (item.kept) {
      const until = item.previous_expires_at || Date.now() / 1000 + 24 * 3600;
      await postJson(url("expire"), "POST", { expires_at: until });
      item.kept = false;
      toast("This picture expires again.", "info");
    } else {
      const res = await postJson(url("keep"), "POST");
      item.kept = true;
      item.previous_expires_at = res.previous_expires_at;
      toast("Kept: this picture will not expire. K again undoes it.", "success");
    }
    document.dispatchEvent(new CustomEvent("gallery:kept", { detail: { id: item.id, kept: item.kept } }));
    updateCaption();
  } catch (err) {
    toast(err.message, "danger");
  }
}

async function deleteCurrent() {
  const item = current();
  if (!item) return;
  if (viewer.armedDelete !== item.id) {
    viewer.armedDelete = item.id;
    toast("Press Del again to delete this picture.", "info");
    window.setTimeout(() => { if (viewer.armedDelete === item.id) viewer.armedDelete = null; }, 4000);
    return;
  }
  viewer.armedDelete = null;
  const pswp = viewer.pswp;
  const index = pswp.currIndex;
  try {
    await postJson(apiUrl("api/images/" + encodeURIComponent(item.id)), "DELETE");
    removeItem(item.id);
    toast("Picture deleted.", "success");
    if (!state.items.length) { pswp.close(); return; }
    pswp.refreshSlideContent(Math.min(index, state.items.length - 1));
    pswp.goTo(Math.min(index, state.items.length - 1));
    for (const i of [index - 1, index + 1]) if (i >= 0 && i < state.items.length) pswp.refreshSlideContent(i);
    updateCaption();
  } catch (err) {
    toast(err.message, "danger");
  }
}

function updateCaption() {
  const node = viewer.pswp && viewer.pswp.element && viewer.pswp.element.querySelector(".pswp__gallery-caption");
  if (node) node.textContent = caption(current());
}

async function nearEnd() {
  const pswp = viewer.pswp;
  if (!pswp || state.done || state.loading) return;
  if (pswp.currIndex >= state.items.length - 3) {
    const before = state.items.length;
    await fetchPage();
    if (viewer.pswp === pswp && state.items.length > before) {
      // the data source is state.items itself: PhotoSwipe reads its length again
      pswp.refreshSlideContent(pswp.currIndex + 1 < state.items.length ? pswp.currIndex + 1 : pswp.currIndex);
    }
  }
}

/**
 * Open the viewer on the listed picture `id`. `onClose(id)` is told which picture was shown
 * last (the detail view follows it).
 */
export async function openViewer(id, onClose) {
  const index = state.items.findIndex((it) => it.id === id);
  if (index < 0) return false;
  const { default: PhotoSwipe } = await import(PSWP);
  viewer.onClose = onClose || null;
  const pswp = new PhotoSwipe({
    dataSource: state.items,
    index: index,
    loop: false,
    wheelToZoom: true,
    bgOpacity: 0.95,
    secondaryZoomLevel: 1,  // the original, pixel for pixel
    maxZoomLevel: 4,
    closeTitle: "Close (Esc)", zoomTitle: "Zoom", arrowPrevTitle: "Previous (←)", arrowNextTitle: "Next (→)",
    errorMsg: "This picture cannot be shown: it may have expired or been deleted.",
  });
  pswp.addFilter("itemData", (itemData, i) => slideOf(state.items[i] || {}));
  pswp.on("uiRegister", () => {
    pswp.ui.registerElement({
      name: "gallery-caption", appendTo: "root", order: 9, isButton: false,
      onInit: (el) => { el.setAttribute("aria-live", "polite"); },
    });
    pswp.ui.registerElement({
      name: "keep", order: 8, isButton: true, title: "Keep / let it expire (K)", ariaLabel: "Keep",
      html: { isCustomSVG: true, inner: '<path d="M12 3.5l2.6 5.3 5.9.9-4.3 4.1 1 5.8L12 16.9l-5.2 2.7 1-5.8-4.3-4.1 5.9-.9z" id="pswp__icn-keep"/>', outlineID: "pswp__icn-keep" },
      onClick: () => keepCurrent(),
    });
    pswp.ui.registerElement({
      name: "fullscreen", order: 9, isButton: true, title: "Full screen (F)", ariaLabel: "Full screen",
      html: { isCustomSVG: true, inner: '<path d="M6 6h7v2H8v5H6zm20 0v7h-2V8h-5V6zM6 26v-7h2v5h5v2zm20 0h-7v-2h5v-5h2z" id="pswp__icn-fs"/>', outlineID: "pswp__icn-fs" },
      onClick: () => toggleFullscreen(),
    });
  });
  pswp.on("keydown", (e) => {
    const key = e.originalEvent.key;
    if (key === "f" || key === "F") { e.preventDefault(); toggleFullscreen(); }
    else if (key === "k" || key === "K") { e.preventDefault(); keepCurrent(); }
    else if (key === "Delete" || key === "Backspace") { e.preventDefault(); deleteCurrent(); }
    else if (key === "/") {
      e.preventDefault();
      pswp.close();
      document.dispatchEvent(new CustomEvent("gallery:focusfilters"));
    }
  });
  pswp.on("change", () => { updateCaption(); nearEnd(); });
  pswp.on("afterInit", () => {
    pswp.element.setAttribute("aria-label", "Picture viewer");
    updateCaption();
  });
  pswp.on("destroy", () => {
    const last = state.items[pswp.currIndex];
    viewer.pswp = null;
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    if (viewer.onClose) viewer.onClose(last ? last.id : null);
  });
  viewer.pswp = pswp;
  pswp.init();
  return true;
}

/** Close the viewer if it is open. */
export function closeViewer() {
  if (viewer.pswp) viewer.pswp.close();
}
