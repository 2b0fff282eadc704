/*
 * detail.js: the detail view of one picture: every metadata field, its time to live, keep
 * forever (and undo), delete, download, and the arrow keys to the next and previous picture.
 */
import { apiUrl, getJson, postJson } from "./api.js";
import { renderDetailArchive } from "./archive.js";
import { $, el, icon } from "./dom.js";
import { fieldLabel, fmtBytes, fmtDuration, fmtFull, fmtInt, fmtLux, relative } from "./format.js";
import { cardNode, fetchPage, removeItem } from "./grid.js";
import { refreshSoon } from "./overview.js";
import { renderDetailTier, retentionField, thumbnailOnly } from "./retention.js";
import { queryParams, state, urlFor } from "./state.js";
import { toast } from "./toast.js";
import { openViewer, viewerOpen } from "./viewer.js";

const modal = $("detail");
const detail = { id: null, data: null, previousExpiry: null, timer: null, neighbors: null, deleteArmed: false, token: 0 };

function fieldValue(name, value) {
  if (name === "size_bytes") return fmtBytes(Number(value)) + " (" + fmtInt.format(Number(value)) + " bytes)";
  if (name === "timestamp") return value + " (" + fmtFull.format(new Date(Number(value) * 1000)) + ")";
  return value;
}

export async function openDetail(id, push) {
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
    // The full size expired since the detail was read: the thumbnail stays, labelled.
    full.addEventListener("error", () => { if (token === detail.token && !thumbnailOnly(data)) refreshDetail(id, true); });
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

async function refreshDetail(id, all) {
  const data = await getJson(apiUrl("api/images/" + encodeURIComponent(id)));
  if (detail.id !== id) return;
  localExpiry(data);
  detail.data = data;
  if (all) renderDetail();
  else renderTtl();
}

function renderDetail() {
  const d = detail.data;
  $("detail-title").textContent = fmtFull.format(new Date(d.timestamp * 1000));
  $("detail-sub").replaceChildren(
    el("span", { className: "tag is-dark" }, icon("i-camera"), d.camera || "unknown camera"),
    el("span", { className: "tag is-dark" }, icon("i-bolt"), d.trigger || "unknown trigger"),
    el("span", { className: "tag is-dark" }, icon("i-sun"), fmtLux(d.lux)),
    el("span", { className: "detail-rel", text: relative(d.timestamp) }));
  renderDetailArchive(d);
  $("detail-img").alt = "Picture from " + (d.camera || "camera") + ", " + fmtFull.format(new Date(d.timestamp * 1000));
  const rows = [el("tr", {}, el("th", { text: "Id" }), el("td", {}, el("code", { text: d.id })))];
  for (const [name, value] of d.fields) {
    // The Redis field name shows on hover, for FT.SEARCH and redis-cli users.
    const [label, shown] = retentionField(name, value) || [fieldLabel(name), fieldValue(name, value)];
    const th = el("th", { title: "Redis field: " + name }, label, el("span", { className: "field-key", text: name }));
    rows.push(el("tr", {}, th, el("td", { text: shown })));
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
  renderDetailTier(d);
  ttl.classList.toggle("is-kept", !!d.kept);
  if (d.kept) {
    text.textContent = (thumbnailOnly(d) ? "Kept: this picture never expires. " : "Kept: this picture and its full size never expire. ") +
      "\u201cLet it expire\u201d gives back the expiry it was stored with.";
    keep.textContent = detail.previousExpiry ? "Undo keep" : "Let it expire";
    keep.title = "Expire when it was planned to (never sooner than 10 s from now)";
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

export function closeDetail(fromHistory) {
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
  const node = cardNode(target);
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
    // Let it expire: the server gives back the expiries the picture was stored with.
    const letExpire = async () => {
      const res = await postJson(apiUrl("api/images/" + encodeURIComponent(id) + "/expire"), "POST", {});
      if (detail.id === id) {
        detail.previousExpiry = null;
        await refreshDetail(id, true);
      }
      return res;
    };
    const undo = async () => {
      await letExpire();
      toast("Undone: the picture expires as before.", "info");
    };
    if (d.kept && detail.previousExpiry) {
      await undo();
    } else if (d.kept) {
      const res = await letExpire();
      const full = res.full_until ? "; its full size " + fmtDuration(res.full_until - Date.now() / 1000, 2) : "";
      toast("This picture expires again as planned: in " + fmtDuration(res.expires_at - Date.now() / 1000, 2) + full + ".", "info", {
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
        run: () => undo().catch((err) => toast(err.message, "danger")),
      } : null);
    }
  } catch (err) {
    toast(err.message, "danger");
  } finally {
    btn.classList.remove("is-loading");
  }
}

export function bindDetail() {
  // A card is a link to the picture's own URL; a plain click opens it here instead.
  $("grid").addEventListener("click", (e) => {
    const card = e.target instanceof Element ? e.target.closest(".image-card") : null;
    if (!card || e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    openDetail(card.dataset.id, true);
  });
  for (const node of modal.querySelectorAll("[data-close]")) node.addEventListener("click", () => closeDetail(false));
  $("detail-prev").addEventListener("click", () => step(-1));
  $("detail-next").addEventListener("click", () => step(1));
  $("detail-delete").addEventListener("click", deleteCurrent);
  $("detail-keep").addEventListener("click", keepCurrent);
  // Full screen, to zoom into the original: the viewer steps through the same pictures, and
  // the detail view follows the one it showed last.
  const zoom = async () => {
    const id = detail.id;
    if (!id) return;
    if (!state.items.some((it) => it.id === id)) { toast("Full screen works for the pictures in the grid.", "info"); return; }
    modal.classList.add("is-behind-viewer");
    await openViewer(id, (lastId) => {
      modal.classList.remove("is-behind-viewer");
      if (lastId && lastId !== detail.id && modal.classList.contains("is-active")) {
        window.history.replaceState(window.history.state, "", urlFor(lastId));
        openDetail(lastId, false);
      }
      $("detail-zoom").focus();
    });
  };
  $("detail-zoom").addEventListener("click", zoom);
  $("detail-img").addEventListener("click", zoom);
  document.addEventListener("keydown", (e) => {
    if (!modal.classList.contains("is-active") || viewerOpen()) return;
    if ((e.key === "z" || e.key === "Z" || e.key === "f" || e.key === "F") && !(e.target instanceof HTMLInputElement)) { e.preventDefault(); zoom(); return; }
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
    if (e.key === "ArrowRight") { e.preventDefault(); step(1); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); step(-1); }
    else if (e.key === "Escape") { e.preventDefault(); closeDetail(false); }
  });
}
