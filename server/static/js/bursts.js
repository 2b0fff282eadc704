/*
 * bursts.js: motion bursts reviewed like events (Frigate's review). "Review" lists the
 * motion bursts under the current filter (GET /api/bursts: consecutive motion pictures of one
 * camera, grouped by the server), newest first, each with a strip of its pictures. "Show"
 * puts the burst in the grid; "Mark reviewed" remembers it (POST /api/bursts/review), and
 * reviewed bursts hide unless asked for.
 */
import { apiUrl, getJson, postJson } from "./api.js";
import { $, el } from "./dom.js";
import { closeDialog, openDialog } from "./dialogs.js";
import { filterChanged } from "./filters.js";
import { fmtClock, fmtInt, fmtShortDay } from "./format.js";
import { currentFilter, state } from "./state.js";
import { toast } from "./toast.js";

let listed = [];

function row(burst) {
  const when = fmtShortDay.format(new Date(burst.start * 1000)) + " " + fmtClock.format(new Date(burst.start * 1000))
    + (burst.end > burst.start ? "–" + fmtClock.format(new Date(burst.end * 1000)) : "");
  const strip = el("div", { className: "burst-strip", "aria-hidden": "true" },
    ...burst.thumbnails.map((src) => el("img", { src: src, alt: "", width: 160, height: 90, loading: "lazy" })));
  const show = el("button", { type: "button", className: "button is-small is-link", text: "Show" });
  show.addEventListener("click", () => {
    Object.assign(state, { range: "custom", since: Math.floor(burst.start), until: Math.ceil(burst.end),
      camera: burst.camera || "", trigger: "motion", sort: "oldest" });
    closeDialog("bursts-dialog");
    filterChanged();
    window.scrollTo({ top: 0 });
  });
  const mark = el("button", { type: "button", className: "button is-small" + (burst.reviewed ? " is-success is-outlined" : ""),
    text: burst.reviewed ? "Reviewed ✓" : "Mark reviewed", "aria-pressed": String(burst.reviewed) });
  mark.addEventListener("click", async () => {
    try {
      await postJson(apiUrl("api/bursts/review"), "POST", { ids: [burst.id], reviewed: !burst.reviewed });
      burst.reviewed = !burst.reviewed;
      render();
    } catch (err) { toast(err.message, "danger"); }
  });
  return el("li", { className: "burst" + (burst.reviewed ? " is-reviewed" : ""), dataset: { id: burst.id } },
    strip,
    el("div", { className: "burst-info" },
      el("span", { className: "burst-title", text: (burst.camera || "camera") + " · " + fmtInt.format(burst.count) + (burst.count === 1 ? " picture" : " pictures") }),
      el("span", { className: "burst-when", text: when })),
    el("div", { className: "buttons burst-actions" }, show, mark));
}

function render() {
  const hide = $("bursts-hide-reviewed").checked;
  const shown = listed.filter((b) => !hide || !b.reviewed);
  const left = listed.filter((b) => !b.reviewed).length;
  $("bursts-summary").textContent = listed.length
    ? fmtInt.format(left) + " of " + fmtInt.format(listed.length) + " bursts to review."
    : "No motion bursts under this filter.";
  $("bursts-list").replaceChildren(...shown.map(row));
}

async function openBursts() {
  $("bursts-summary").textContent = "Looking for motion bursts…";
  $("bursts-list").replaceChildren();
  openDialog("bursts-dialog");
  const flt = currentFilter();
  flt.trigger = null;
  try {
    const data = await getJson(apiUrl("api/bursts", flt));
    listed = data.bursts;
    render();
  } catch (err) {
    $("bursts-summary").textContent = err.message;
  }
}

export function bindBursts() {
  $("bursts-open").addEventListener("click", openBursts);
  $("bursts-hide-reviewed").addEventListener("change", render);
}
