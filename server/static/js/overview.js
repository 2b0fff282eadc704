/*
 * overview.js: the camera bar (online or offline, last capture) and the store panel (image
 * count, Redis memory, newest and oldest), which fold away with the chart on a phone.
 */
import { apiUrl, getJson } from "./api.js";
import { $, el } from "./dom.js";
import { renderArchiveStat } from "./archive.js";
import { drawChart, loadChart } from "./chart.js";
import { showCamera } from "./filters.js";
import { fmtBytes, fmtInt, fmtShort, relative } from "./format.js";

export async function loadCameras() {
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
      chip.addEventListener("click", () => showCamera(cam.name));
      bar.append(chip);
    }
  } catch {
    bar.replaceChildren(el("span", { className: "camera-bar-empty", text: "Camera status unavailable." }));
  }
}

export async function loadStats() {
  try {
    const s = await getJson(apiUrl("api/stats"));
    $("stat-count").textContent = fmtInt.format(s.count);
    $("overview-summary").textContent = fmtInt.format(s.count) + (s.count === 1 ? " image" : " images");
    const mem = s.memory;
    $("stat-memory").textContent = fmtBytes(mem.used_bytes) + (mem.max_bytes ? " of " + fmtBytes(mem.max_bytes) : " · no limit");
    const bar = $("stat-memory-bar");
    bar.value = mem.max_bytes ? Math.min(100, (100 * mem.used_bytes) / mem.max_bytes) : 0;
    bar.classList.toggle("is-hidden", !mem.max_bytes);
    // Eviction is how a full store makes room (volatile-ttl): calm colours for it. Red only
    // where a full Redis refuses writes (noeviction).
    const refuses = (mem.policy || "").startsWith("noeviction");
    bar.classList.toggle("is-danger", refuses && bar.value > 90);
    bar.classList.toggle("is-info", !(refuses && bar.value > 90));
    for (const [name, edge] of [["newest", s.newest], ["oldest", s.oldest]]) {
      const node = $("stat-" + name);
      node.replaceChildren();
      if (!edge) { node.textContent = "–"; continue; }
      node.append(el("span", { text: fmtShort.format(new Date(edge.timestamp * 1000)) }), " ",
        el("span", { className: "stat-rel", dataset: { ts: String(edge.timestamp) }, text: relative(edge.timestamp) }));
    }
    renderArchiveStat(s.archive);
  } catch { /* the grid's notice explains Redis problems */ }
}

let refreshTimer = null;

/** Refresh the stats, the cameras and the chart shortly (once for a burst of changes). */
export function refreshSoon() {
  if (refreshTimer || !overviewOpen()) return;
  refreshTimer = window.setTimeout(() => { refreshTimer = null; loadStats(); loadCameras(); loadChart(); }, 1500);
}

/** Keep "5 min ago" texts true as time passes. */
export function refreshRelativeTimes() {
  for (const node of document.querySelectorAll("[data-ts]")) {
    const ts = Number(node.dataset.ts);
    if (!Number.isFinite(ts)) continue;
    node.textContent = node.classList.contains("camera-last") ? "last capture " + relative(ts) : relative(ts);
  }
}

/** Whether the overview (cameras, live view, chart, store) is open. */
export function overviewOpen() { return $("overview-panel").classList.contains("is-open"); }

// Pictures first: the cameras, the live view, the chart and the store fold away behind one
// button at every size. They load when opened, and refresh only while open.
export function bindOverview() {
  const button = $("overview-toggle");
  button.addEventListener("click", () => {
    const open = !overviewOpen();
    $("overview-panel").classList.toggle("is-open", open);
    $("overview").classList.add("is-open");
    button.setAttribute("aria-expanded", open ? "true" : "false");
    document.dispatchEvent(new CustomEvent("gallery:overview", { detail: { open: open } }));
    if (open) { loadStats(); loadCameras(); loadChart().then(drawChart); }
  });
}
