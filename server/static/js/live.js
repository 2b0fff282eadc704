/*
 * live.js: the live view. A tile per camera shows its newest preview frame, refreshed about
 * once a second from GET /live/<camera>.jpg (short requests, so a page with many cameras
 * never runs into the browser's six-connections-per-host limit). Clicking a tile opens a
 * modal with the camera's MJPEG stream (GET /live/<camera>.mjpg), its name and the frame's
 * age. The page asks GET /api/live?watch=1 for every camera's status, which also keeps the
 * cameras subscribed while the page is open; a camera whose frames stop says "offline".
 */
import { $, el } from "./dom.js";
import { fmtAge } from "./format.js";

const section = $("live-view");
const modal = $("live-modal");
const POLL_MS = 1000;
const MODAL_POLL_MS = 500;
const RETRY_MS = 5000;

const tilesBox = $("live-tiles");
const note = $("live-view-note");
const modalTitle = $("live-modal-title");
const modalBadge = $("live-modal-badge");
const modalAge = $("live-modal-age");
const modalFrame = $("live-modal-frame");
const modalImg = $("live-modal-img");

const tiles = new Map(); // camera name -> {button, frame, img, badge, age, seq, status}
let openCamera = null;
let openedFrom = null;
let timer = null;
let stopped = false;

function urlFor(template, camera) {
  return template.replace("__camera__", encodeURIComponent(camera));
}

function describe(status) {
  if (status.online) return { live: true, badge: "live", age: "frame " + fmtAge(status.frame_age) };
  if (status.frame_age !== null && status.frame_age !== undefined) {
    return { live: false, badge: "offline", age: "last frame " + fmtAge(status.frame_age) };
  }
  return { live: false, badge: "offline", age: "no frames" };
}

function setBadge(badge, live, text) {
  badge.textContent = text;
  badge.classList.toggle("is-live", live);
  badge.classList.toggle("is-offline", !live);
}

// --- Tiles ------------------------------------------------------------------------------

function tileFor(camera) {
  let tile = tiles.get(camera);
  if (tile) return tile;
  const img = el("img", { alt: "Live view of " + camera, decoding: "async" });
  const badge = el("span", { className: "live-badge is-offline", text: "offline" });
  const age = el("span", { className: "live-age" });
  const button = el("button", {
    type: "button", className: "live-tile is-offline", dataset: { camera: camera },
    title: "Open the live view of " + camera,
  },
  el("figure", { className: "live-frame" }, img, el("span", { className: "live-offline-label", text: "offline" })),
  el("div", { className: "live-caption" },
    el("span", { className: "live-name", text: camera }),
    el("span", { className: "live-status" }, age, badge)));
  button.addEventListener("click", () => openModal(camera, button));
  tile = { button: button, img: img, badge: badge, age: age, seq: null, status: null };
  tiles.set(camera, tile);
  const names = Array.from(tiles.keys()).sort();
  const next = names[names.indexOf(camera) + 1];
  tilesBox.insertBefore(button, next ? tiles.get(next).button : null);
  return tile;
}

function updateTile(tile, status) {
  tile.status = status;
  const view = describe(status);
  tile.button.classList.toggle("is-offline", !view.live);
  setBadge(tile.badge, view.live, view.badge);
  tile.age.textContent = view.age;
  if (view.live && status.frame_seq !== null && status.frame_seq !== tile.seq) {
    tile.seq = status.frame_seq;
    tile.img.src = urlFor(section.dataset.snapshotUrl, status.camera) + "?seq=" + status.frame_seq;
  }
  if (openCamera === status.camera) updateModal(status);
}

// --- Status polling -----------------------------------------------------------------------

// Nothing polls while nobody looks: the tiles pull frames only while the overview is open,
// the tiles are on the screen and the tab is visible (or while a camera's modal is open).
let tilesInView = false;

function watching() {
  if (openCamera) return true;
  const panel = document.getElementById("overview-panel");
  const open = !panel || panel.classList.contains("is-open");
  return open && (tilesInView || section.classList.contains("is-hidden"));
}

function schedule(ms) {
  window.clearTimeout(timer);
  if (!stopped && !document.hidden && watching()) timer = window.setTimeout(poll, ms);
}

async function poll() {
  let body;
  try {
    const response = await fetch(section.dataset.statusUrl + "?watch=1", {
      credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
    });
    if (response.status === 401) {
      stopped = true;
      note.textContent = "Log in again to see the live view.";
      markAllOffline();
      return;
    }
    if (!response.ok) throw new Error("HTTP " + response.status);
    body = await response.json();
  } catch {
    note.textContent = "Live view unavailable; retrying…";
    markAllOffline();
    schedule(RETRY_MS);
    return;
  }
  const seen = new Set();
  for (const status of body.cameras || []) {
    seen.add(status.camera);
    updateTile(tileFor(status.camera), status);
  }
  for (const [camera, tile] of tiles) {
    if (!seen.has(camera)) updateTile(tile, { camera: camera, online: false, frame_age: null, frame_seq: null });
  }
  section.classList.toggle("is-hidden", tiles.size === 0);
  note.textContent = body.redis === "down" ? "Redis is unreachable; cameras show offline until it is back." : "";
  schedule(openCamera ? MODAL_POLL_MS : POLL_MS);
}

function markAllOffline() {
  for (const [camera, tile] of tiles) {
    const last = tile.status || {};
    updateTile(tile, { camera: camera, online: false, frame_age: last.frame_age ?? null, frame_seq: null });
  }
}

// --- The live modal -----------------------------------------------------------------------

function attachStream() {
  if (openCamera) modalImg.src = urlFor(section.dataset.streamUrl, openCamera) + "?t=" + Date.now();
}

function detachStream() {
  // Dropping src aborts the multipart request, so the server frees the viewer at once.
  modalImg.removeAttribute("src");
}

function updateModal(status) {
  const view = describe(status);
  modalFrame.classList.toggle("is-offline", !view.live);
  setBadge(modalBadge, view.live, view.badge);
  modalAge.textContent = view.age;
}

function openModal(camera, from) {
  openCamera = camera;
  openedFrom = from || null;
  modalTitle.textContent = camera;
  modalImg.alt = "Live view of " + camera;
  const tile = tiles.get(camera);
  updateModal(tile && tile.status ? tile.status : { camera: camera, online: false, frame_age: null });
  attachStream();
  modal.classList.add("is-active");
  document.documentElement.classList.add("is-clipped");
  const close = modal.querySelector("button[data-live-close]");
  if (close) close.focus();
  schedule(0);
}

function closeModal() {
  if (!openCamera) return;
  openCamera = null;
  detachStream();
  modal.classList.remove("is-active");
  document.documentElement.classList.remove("is-clipped");
  if (openedFrom) openedFrom.focus();
  openedFrom = null;
  schedule(POLL_MS);
}

/** Show the live tiles and keep them fresh while the page is shown. */
export function startLive() {
  if (!section || !modal) return;
  for (const node of modal.querySelectorAll("[data-live-close]")) {
    node.addEventListener("click", closeModal);
  }
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && openCamera) {
      event.preventDefault();
      closeModal();
    }
  });
  modalImg.addEventListener("error", () => {
    // The stream was refused or broke: show offline; the next poll says whether it is back.
    if (openCamera && modalImg.getAttribute("src")) modalFrame.classList.add("is-offline");
  });

  // A hidden tab neither polls nor streams; it resumes when shown again.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      window.clearTimeout(timer);
      if (openCamera) detachStream();
    } else {
      if (openCamera) attachStream();
      schedule(0);
    }
  });
  window.addEventListener("pagehide", detachStream);
  if ("IntersectionObserver" in window) {
    new IntersectionObserver((entries) => {
      tilesInView = entries.some((e) => e.isIntersecting);
      schedule(tilesInView ? 0 : POLL_MS);
    }).observe(section);
  } else tilesInView = true;
  document.addEventListener("gallery:overview", () => schedule(0));

  schedule(0);
}
