/*
 * events.js: live updates by Server-Sent Events (GET /api/events). The server filters them
 * with the grid's filter, and each "image" event's data is one item in the shape of
 * GET /api/images' `images[]`, so the grid draws it with the same card. A picture outside the
 * filter comes as an "outside" event, which only refreshes the overview.
 */
import { apiUrl } from "./api.js";
import { $ } from "./dom.js";
import { refreshSoon } from "./overview.js";
import { state } from "./state.js";

let source = null;
let filter = {};
let handlers = { image: () => {}, reset: () => {} };
let retryDelay = 2000;
let wasDown = false;
/** Called when the server answers again after Redis or the connection was away (B6). */
let onRecovered = () => {};

export function whenRecovered(fn) { onRecovered = fn; }

function up() {
  setLive("live", "Live");
  if (wasDown) { wasDown = false; onRecovered(); refreshSoon(); }
}

function down() {
  if (!wasDown) refreshSoon();  // the open overview says so too (cameras unknown, not online)
  wasDown = true;
  setLive("down", "Reconnecting…");
}

function setLive(kind, text) {
  const node = $("live-state");
  node.className = "live-state is-" + kind;
  node.querySelector(".live-text").textContent = text;
}

/**
 * Listen for pictures stored after stream position `after` that match `flt` (the API's filter
 * parameters). handlers.image(item) gets each; handlers.reset() is told when the server
 * missed some (the listing must be read again). Replaces any earlier connection.
 */
export function connectEvents(after, flt, newHandlers) {
  filter = flt || {};
  handlers = newHandlers || handlers;
  open(after);
}

function open(after) {
  if (source) source.close();
  state.streamId = after || state.streamId || "";
  const es = new EventSource(apiUrl("api/events", Object.assign({}, filter, { stream_id: state.streamId })));
  source = es;
  es.addEventListener("open", () => { retryDelay = 2000; });
  es.addEventListener("hello", (e) => {
    up();
    try { state.streamId = JSON.parse(e.data).stream_id; } catch { /* keep */ }
  });
  es.addEventListener("image", (e) => {
    state.streamId = e.lastEventId || state.streamId;
    refreshSoon();
    let item;
    try { item = JSON.parse(e.data); } catch { return; }
    if (item && typeof item.id === "string" && typeof item.timestamp === "number") handlers.image(item);
  });
  es.addEventListener("other", (e) => {
    state.streamId = e.lastEventId || state.streamId;
    refreshSoon();
  });
  es.addEventListener("reset", () => handlers.reset());
  es.addEventListener("unavailable", down);
  es.addEventListener("error", () => {
    if (es !== source) return;
    if (es.readyState === EventSource.CLOSED) {
      down();
      window.setTimeout(() => { if (es === source) open(state.streamId); }, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    } else setLive("connecting", "Reconnecting…");
  });
}
