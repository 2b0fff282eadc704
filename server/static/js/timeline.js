/*
 * timeline.js: jump in time. "Jump to…" opens a calendar of the days that have pictures
 * under the current filter (their counts from one FT.AGGREGATE, GET /api/timeline, per
 * hour, grouped here into the browser's own days). Choosing a day, or an hour of it, shows
 * the pictures up to its end, newest first: the grid's `until` filter, so the URL follows
 * and the chip can take it away again.
 */
import { apiUrl, getJson } from "./api.js";
import { $, el } from "./dom.js";
import { fmtInt } from "./format.js";
import { filterChanged } from "./filters.js";
import { currentFilter, state } from "./state.js";
import { toast } from "./toast.js";
import { openDialog, closeDialog } from "./dialogs.js";

const fmtDayButton = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric" });
const fmtMonth = new Intl.DateTimeFormat(undefined, { month: "long", year: "numeric" });
const fmtHour = new Intl.DateTimeFormat(undefined, { hour: "2-digit" });
const fmtDayLong = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long" });

const tl = { days: new Map(), chosen: null };

function dayStart(ts) {
  const d = new Date(ts * 1000);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime() / 1000;
}

function nextDay(start) {
  const d = new Date(start * 1000);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1).getTime() / 1000;
}

/** Show the pictures up to `until` (Unix seconds), newest first, keeping the other filters. */
export function jumpTo(until, label) {
  const since = state.range === "custom" ? state.since : null;
  state.range = "custom";
  state.since = since !== null && since < until ? since : null;
  state.until = Math.floor(until);
  state.sort = "newest";
  closeDialog("timeline-dialog");
  filterChanged();
  window.scrollTo({ top: 0 });
  if (label) toast("Showing pictures up to the end of " + label + ".", "info");
}

function renderHours(start) {
  const box = $("timeline-hours");
  tl.chosen = start;
  const day = tl.days.get(start);
  $("timeline-day-title").textContent = fmtDayLong.format(new Date(start * 1000));
  const max = Math.max(1, ...day.hours.values());
  const buttons = [];
  for (let h = start; h < nextDay(start); h += 3600) {
    const n = day.hours.get(h) || 0;
    const bar = el("span", { className: "tl-hour-bar" });
    bar.style.height = Math.round(4 + 36 * n / max) + "px";
    buttons.push(el("button", {
      type: "button", className: "tl-hour" + (n ? "" : " is-empty"), disabled: n === 0,
      "aria-label": fmtHour.format(new Date(h * 1000)) + ": " + fmtInt.format(n) + " pictures",
      dataset: { until: String(h + 3600 - 0.001) },
    }, bar, el("span", { className: "tl-hour-label", text: fmtHour.format(new Date(h * 1000)) })));
  }
  box.replaceChildren(...buttons);
  $("timeline-day").classList.remove("is-hidden");
  $("timeline-day-jump").dataset.until = String(nextDay(start) - 0.001);
  $("timeline-day-jump").dataset.label = fmtDayLong.format(new Date(start * 1000));
}

function render() {
  const months = new Map();
  for (const [start, day] of [...tl.days.entries()].sort((a, b) => b[0] - a[0])) {
    const key = fmtMonth.format(new Date(start * 1000));
    if (!months.has(key)) months.set(key, []);
    months.get(key).push(el("button", {
      type: "button", className: "tl-day", dataset: { start: String(start) },
      title: fmtDayLong.format(new Date(start * 1000)),
    }, el("span", { className: "tl-day-name", text: fmtDayButton.format(new Date(start * 1000)) }),
    el("span", { className: "tl-day-count" }, el("span", { text: fmtInt.format(day.count) }),
      el("span", { className: "sr-only", text: " pictures" }))));
  }
  const box = $("timeline-days");
  if (!months.size) {
    box.replaceChildren(el("p", { className: "tl-empty", text: "No pictures under this filter." }));
    return;
  }
  box.replaceChildren(...[...months.entries()].map(([name, buttons]) =>
    el("section", { className: "tl-month" }, el("h3", { className: "tl-month-name", text: name }),
      el("div", { className: "tl-month-days" }, ...buttons))));
}

export async function openTimeline() {
  $("timeline-day").classList.add("is-hidden");
  $("timeline-days").replaceChildren(el("p", { className: "tl-empty", text: "Counting pictures…" }));
  openDialog("timeline-dialog");
  const flt = currentFilter();
  flt.until = null;  // the calendar shows every day, also those after the current jump
  try {
    const data = await getJson(apiUrl("api/timeline", flt));
    tl.days = new Map();
    for (const [hour, n] of data.hours) {
      const start = dayStart(hour);
      if (!tl.days.has(start)) tl.days.set(start, { count: 0, hours: new Map() });
      const day = tl.days.get(start);
      day.count += n;
      day.hours.set(hour, (day.hours.get(hour) || 0) + n);
    }
    render();
  } catch (err) {
    $("timeline-days").replaceChildren(el("p", { className: "tl-empty", text: err.message }));
  }
}

export function bindTimeline() {
  $("timeline-open").addEventListener("click", openTimeline);
  $("timeline-days").addEventListener("click", (e) => {
    const btn = e.target instanceof Element ? e.target.closest(".tl-day") : null;
    if (btn) renderHours(Number(btn.dataset.start));
  });
  $("timeline-hours").addEventListener("click", (e) => {
    const btn = e.target instanceof Element ? e.target.closest(".tl-hour") : null;
    if (btn) jumpTo(Number(btn.dataset.until), null);
  });
  $("timeline-day-jump").addEventListener("click", (e) => {
    jumpTo(Number(e.currentTarget.dataset.until), e.currentTarget.dataset.label);
  });
}
