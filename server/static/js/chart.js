/*
 * chart.js: the light chart, an inline SVG drawn here from GET /api/chart (average, min and
 * max lux per time bucket, for the grid's filter). A click on a bucket shows its pictures.
 */
import { apiUrl, getJson } from "./api.js";
import { $, el, svg } from "./dom.js";
import { showTimeRange } from "./filters.js";
import { fmtFull, fmtHourMin, fmtHourMinSec, fmtInt, fmtLux, fmtShortDay } from "./format.js";
import { currentFilter, filterIsEmpty } from "./state.js";

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

export async function loadChart() {
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

export function drawChart() {
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
  // A picture for the eye (bars are clicked with a pointer, not tabbed through); the select
  // under it is the keyboard's and screen readers' way to the same times.
  const root = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, class: "chart-svg",
    role: "img", "aria-label": "Light level over time; pick a time in the list below the chart" });
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
    });
    const bar = bars.get(b);
    hit.addEventListener("mouseenter", () => { bar.classList.add("is-hover"); showTip(b, hit); });
    hit.addEventListener("mouseleave", () => { bar.classList.remove("is-hover"); hideTip(); });
    hit.addEventListener("click", () => { hideTip(); pickBucket(b); });
    root.append(hit);
  }
  const picker = el("select", { className: "chart-pick", id: "chart-pick", "aria-label": "Show the pictures of a time in the chart" },
    el("option", { value: "", text: "Show the pictures of…" }),
    ...data.buckets.map((b, i) => el("option", { value: String(i),
      text: fmtFull.format(new Date(b.start * 1000)) + " · " + fmtInt.format(b.count) + " pictures · avg " + fmtLux(b.avg) })));
  picker.addEventListener("change", () => { if (picker.value !== "") pickBucket(data.buckets[Number(picker.value)]); });
  box.append(root, el("div", { className: "select is-small chart-pick-box" }, picker));
}

// A time chosen in the chart: the grid shows it, and the user is taken to the pictures.
function pickBucket(b) {
  showTimeRange(b.start, b.end - 0.001);
  document.dispatchEvent(new CustomEvent("gallery:closeoverview"));
  window.scrollTo({ top: 0, behavior: "smooth" });
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
