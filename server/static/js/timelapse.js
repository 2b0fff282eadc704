/*
 * timelapse.js: the "Make time-lapse" dialog (templates/_timelapse.html).
 *
 * The form defaults to the gallery's current filter. A job started here runs in the gallery
 * server; this page only polls its state, so closing the dialog or leaving the page does not
 * cancel it. The job id is kept in localStorage and the job is shown again on the next visit,
 * until it finishes and its movie expires.
 */
import { apiUrl, csrfFetch, errorOf, readJson } from "./api.js";
import { $, show } from "./dom.js";
import { fmtBytes, fmtDuration, fmtInt, fmtWhen, fromLocalInput, toLocalInput } from "./format.js";
import { currentFilter } from "./state.js";
import { toast } from "./toast.js";

const STORE_KEY = "gallery.timelapse.job";
const POLL_MS = 1000;
const RETRY_MS = 4000;
const DEFAULT_SPAN = 86400;

const modal = $("tl-modal");

// `deleting`: the id of the job this page is cancelling or deleting right now. The server
// removes a job's state before its worker has stopped, so polls meanwhile get a 404 that
// this page caused itself; they are ignored rather than reported as "cancelled elsewhere".
const view = {
  jobId: null, state: null, timer: null, showForm: true, touched: false, videoFor: null, deleting: null,
};

// --- Remembering the job ----------------------------------------------------------------------

function remember(jobId) {
  view.jobId = jobId;
  try {
    if (jobId) window.localStorage.setItem(STORE_KEY, jobId);
    else window.localStorage.removeItem(STORE_KEY);
  } catch { /* private mode: the job is still shown while the page stays open */ }
}

function recalled() {
  try { return window.localStorage.getItem(STORE_KEY); } catch { return null; }
}

// --- Formatting ---------------------------------------------------------------------------------

function describe(params) {
  if (!params) return "";
  const parts = [
    params.camera ? "Camera " + params.camera : "All cameras",
    fmtWhen.format(new Date(params.since * 1000)) + " – " + fmtWhen.format(new Date(params.until * 1000)),
    params.fps + " fps",
    params.width + " × " + params.height,
  ];
  if (params.burn_in) parts.push("time and lux written in");
  if (params.min_lux !== null && params.min_lux !== undefined) parts.push("frames under " + params.min_lux + " lux skipped");
  return parts.join(" · ");
}

function skippedText(state) {
  const parts = [];
  if (state.skipped_dark) parts.push(fmtInt.format(state.skipped_dark) + " too dark");
  if (state.skipped_expired) parts.push(fmtInt.format(state.skipped_expired) + " expired during the run");
  if (state.skipped_unreadable) parts.push(fmtInt.format(state.skipped_unreadable) + " unreadable");
  let text = parts.length ? "Skipped: " + parts.join(", ") + "." : "";
  // Pictures whose full size was gone are in the movie from their thumbnails (issue 9).
  if (state.thumbnail_frames) text += " " + fmtInt.format(state.thumbnail_frames) + " frames from thumbnails (full size gone, so blurrier).";
  if (state.same_as_frames) text += " " + fmtInt.format(state.same_as_frames) + " unchanged frames drawn from the picture they repeat.";
  return text.trim();
}

// --- The dialog ---------------------------------------------------------------------------------

function openDialog() {
  if (view.showForm && !view.touched) fillForm();
  modal.classList.add("is-active");
  document.documentElement.classList.add("is-clipped");
  render();
  const focus = view.showForm ? $("tl-since") : ($("tl-cancel").classList.contains("is-hidden") ? $("tl-title") : $("tl-cancel"));
  if (focus && focus.focus) focus.focus();
}

function closeDialog() {
  if (!modal.classList.contains("is-active")) return;
  modal.classList.remove("is-active");
  if (!document.querySelector(".modal.is-active")) document.documentElement.classList.remove("is-clipped");
  const video = $("tl-video");
  if (!video.paused) video.pause();
}

function cameraNames() {
  const source = $("f-camera");
  const names = [];
  if (source) {
    for (const opt of source.options) if (opt.value) names.push(opt.value);
  }
  return names;
}

function fillForm() {
  const filter = currentFilter();
  const now = Math.floor(Date.now() / 1000);
  const until = filter.until !== null && filter.until !== undefined ? filter.until : now;
  const since = filter.since !== null && filter.since !== undefined ? filter.since : until - DEFAULT_SPAN;
  $("tl-since").value = toLocalInput(since);
  $("tl-until").value = toLocalInput(until);
  const select = $("tl-camera");
  const wanted = filter.camera || "";
  const names = cameraNames();
  if (wanted && !names.includes(wanted)) names.push(wanted);
  const options = [new Option("All cameras", "")];
  for (const name of names) options.push(new Option(name, name));
  select.replaceChildren(...options);
  select.value = wanted;
  const luxMin = filter.lux_min;
  const skip = luxMin !== null && luxMin !== undefined;
  $("tl-skip-dark").checked = skip;
  $("tl-min-lux").disabled = !skip;
  if (skip) $("tl-min-lux").value = luxMin;
  clearFormError();
}

function clearFormError() {
  $("tl-form-error").classList.add("is-hidden");
  $("tl-form-error").textContent = "";
  for (const node of modal.querySelectorAll(".is-danger[data-tl-field]")) {
    node.classList.remove("is-danger");
    node.removeAttribute("data-tl-field");
    node.removeAttribute("aria-invalid");
  }
}

const FIELD_FOR = {
  since: "tl-since", until: "tl-until", camera: "tl-camera", fps: "tl-fps", size: "tl-size",
  min_lux: "tl-min-lux",
};

function showFormError(error) {
  const box = $("tl-form-error");
  box.textContent = error.message;
  box.classList.remove("is-hidden");
  const input = error.parameter && FIELD_FOR[error.parameter] ? $(FIELD_FOR[error.parameter]) : null;
  if (input) {
    const target = input.tagName === "SELECT" ? input.parentElement : input;
    target.classList.add("is-danger");
    target.setAttribute("data-tl-field", "");
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
}

function render() {
  const state = view.state;
  const formMode = view.showForm || !state;
  show($("tl-form"), formMode);
  show($("tl-job"), !formMode);
  show($("tl-start"), formMode);
  const status = state ? state.status : null;
  const active = status === "running" || status === "saving";
  show($("tl-cancel"), !formMode && active);
  show($("tl-download"), !formMode && status === "done");
  show($("tl-delete"), !formMode && status === "done");
  show($("tl-again"), !formMode && (status === "done" || status === "failed"));
  $("tl-title").textContent = formMode ? "Make a time-lapse"
    : status === "done" ? "Your time-lapse"
    : status === "failed" ? "The time-lapse failed" : "Making your time-lapse…";
  renderChip();
  if (formMode || !state) return;

  $("tl-job-desc").textContent = describe(state.params);
  show($("tl-running"), active || status === "done");
  show($("tl-hint"), active);
  show($("tl-eta"), active);
  show($("tl-result"), status === "done");
  show($("tl-failed"), status === "failed");
  const skipped = skippedText(state);
  $("tl-skipped").textContent = skipped;
  show($("tl-skipped"), Boolean(skipped));

  if (active || status === "done") {
    const total = state.total || 0;
    const done = state.done || 0;
    const bar = $("tl-bar");
    bar.max = Math.max(total, 1);
    bar.value = done;
    bar.classList.toggle("is-success", status === "done");
    bar.classList.toggle("is-link", status !== "done");
    bar.setAttribute("aria-valuetext", done + " of " + total + " frames");
    $("tl-count").textContent = fmtInt.format(done) + " / " + fmtInt.format(total) + " frames (" +
      Math.floor(state.percent || 0) + " %)";
    $("tl-eta").textContent = status === "saving" ? "Saving the movie…"
      : state.eta_seconds !== undefined && done > 0 ? "About " + fmtDuration(state.eta_seconds, 2) + " left"
      : "Estimating time left…";
  }
  if (status === "done") {
    const video = $("tl-video");
    if (view.videoFor !== state.job_id) {
      view.videoFor = state.job_id;
      video.src = state.movie_url;
    }
    $("tl-download").href = state.download_url;
    const parts = [
      fmtInt.format(state.frames) + " frames",
      (state.duration_seconds || 0).toFixed(1) + " s",
      fmtBytes(state.movie_bytes || 0),
    ];
    if (state.expires_in) parts.push("kept for " + fmtDuration(state.expires_in, 2) + ", then deleted");
    $("tl-result-text").textContent = parts.join(" · ");
  } else if (status === "failed") {
    $("tl-failed").textContent = (state.error && state.error.message) || "Making the movie failed.";
  }
}

function renderChip() {
  const chip = $("tl-chip");
  const state = view.state;
  chip.classList.remove("is-link", "is-success", "is-danger");
  if (!state) { show(chip, false); return; }
  show(chip, true);
  if (state.status === "done") {
    chip.classList.add("is-success");
    $("tl-chip-text").textContent = "Time-lapse ready";
  } else if (state.status === "failed") {
    chip.classList.add("is-danger");
    $("tl-chip-text").textContent = "Time-lapse failed";
  } else {
    chip.classList.add("is-link");
    $("tl-chip-text").textContent = "Time-lapse " + Math.floor(state.percent || 0) + " %";
  }
}

// --- Jobs ---------------------------------------------------------------------------------------

function stopPolling() {
  if (view.timer) window.clearTimeout(view.timer);
  view.timer = null;
}

function schedule(ms) {
  stopPolling();
  view.timer = window.setTimeout(poll, ms);
}

function forget(message) {
  stopPolling();
  remember(null);
  view.state = null;
  view.showForm = true;
  view.touched = false;
  const video = $("tl-video");
  if (view.videoFor) {
    video.pause();
    video.removeAttribute("src");
    video.load();
    view.videoFor = null;
  }
  if (modal.classList.contains("is-active")) fillForm();
  render();
  if (message) toast(message, "info");
}

// Tell whether a poll for jobId that was sent earlier is still wanted.
function stillFollowing(jobId) {
  return jobId === view.jobId && jobId !== view.deleting;
}

async function poll() {
  const jobId = view.jobId;
  if (!jobId || !stillFollowing(jobId)) return;
  let response;
  try {
    response = await fetch(apiUrl("api/timelapse/" + encodeURIComponent(jobId)),
      { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" });
  } catch {
    if (stillFollowing(jobId)) schedule(RETRY_MS);
    return;
  }
  if (!stillFollowing(jobId)) return;
  const data = await readJson(response);
  if (!stillFollowing(jobId)) return;  // cancelled or deleted here while the body arrived
  if (response.status === 404) {
    const wasActive = view.state && (view.state.status === "running" || view.state.status === "saving");
    forget(wasActive ? "The time-lapse was cancelled elsewhere or is no longer available." : null);
    return;
  }
  if (!response.ok || !data) {
    schedule(RETRY_MS);
    return;
  }
  const before = view.state ? view.state.status : null;
  view.state = data;
  render();
  if (data.status === "running" || data.status === "saving") schedule(POLL_MS);
  else if (data.status === "done" && before && before !== "done" && !modal.classList.contains("is-active")) {
    toast("Your time-lapse is ready.", "success");
  }
}

function follow(jobId, state) {
  remember(jobId);
  view.state = state || null;
  view.showForm = false;
  render();
  poll();
}

function readForm() {
  const since = fromLocalInput($("tl-since").value);
  const until = fromLocalInput($("tl-until").value);
  const body = {
    since: since === null ? $("tl-since").value : since,
    until: until === null ? $("tl-until").value : until,
    camera: $("tl-camera").value || null,
    fps: $("tl-fps").value === "" ? null : Number($("tl-fps").value),
    size: $("tl-size").value,
    burn_in: $("tl-burn-in").checked,
    min_lux: null,
  };
  if ($("tl-skip-dark").checked) body.min_lux = $("tl-min-lux").value === "" ? null : Number($("tl-min-lux").value);
  if (body.since === "") body.since = "invalid";
  if (body.until === "") body.until = "invalid";
  return body;
}

async function startJob(event) {
  event.preventDefault();
  clearFormError();
  const button = $("tl-start");
  button.classList.add("is-loading");
  button.disabled = true;
  try {
    let response;
    try {
      response = await csrfFetch(apiUrl("api/timelapse"), {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(readForm()),
      });
    } catch {
      showFormError({ message: "The gallery server does not answer. Check that it is running, then try again." });
      return;
    }
    const data = await readJson(response);
    if (response.status === 202 && data) {
      follow(data.job_id, data);
    } else if (response.status === 409 && data && data.job_id) {
      toast("A time-lapse is already being made; here it is.", "info");
      follow(data.job_id, null);
    } else {
      showFormError(errorOf(data, response));
    }
  } finally {
    button.classList.remove("is-loading");
    button.disabled = false;
  }
}

async function deleteJob(button, message) {
  const jobId = view.jobId;
  if (!jobId || view.deleting === jobId) return;
  // Until the server answers, this page's own cancel is under way: stop polling, and let
  // no poll already sent report the job as gone (only `message` is shown).
  view.deleting = jobId;
  stopPolling();
  button.classList.add("is-loading");
  let gone = false;
  try {
    const response = await csrfFetch(apiUrl("api/timelapse/" + encodeURIComponent(jobId)), { method: "DELETE" });
    if (!response.ok && response.status !== 404) {
      toast(errorOf(await readJson(response), response).message, "danger");
      return;
    }
    gone = true;
    if (view.jobId === jobId) forget(message);
    else toast(message, "info");
  } catch {
    toast("The gallery server does not answer. Check that it is running, then try again.", "danger");
  } finally {
    button.classList.remove("is-loading");
    if (view.deleting === jobId) view.deleting = null;
    // Not cancelled after all: carry on following the job.
    if (!gone && view.jobId === jobId) schedule(POLL_MS);
  }
}

// --- Wiring -------------------------------------------------------------------------------------

function bind() {
  $("tl-open").addEventListener("click", () => {
    if (view.state && (view.state.status === "running" || view.state.status === "saving")) view.showForm = false;
    openDialog();
  });
  $("tl-chip").addEventListener("click", () => { view.showForm = false; openDialog(); });
  for (const node of modal.querySelectorAll("[data-tl-close]")) node.addEventListener("click", closeDialog);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && modal.classList.contains("is-active")) { e.preventDefault(); closeDialog(); }
  });
  $("tl-form").addEventListener("submit", startJob);
  $("tl-form").addEventListener("input", () => { view.touched = true; });
  $("tl-form").addEventListener("change", () => { view.touched = true; });
  $("tl-skip-dark").addEventListener("change", () => {
    $("tl-min-lux").disabled = !$("tl-skip-dark").checked;
    if ($("tl-skip-dark").checked) $("tl-min-lux").focus();
  });
  $("tl-cancel").addEventListener("click", () => deleteJob($("tl-cancel"), "Time-lapse cancelled."));
  $("tl-delete").addEventListener("click", () => deleteJob($("tl-delete"), "Time-lapse deleted."));
  $("tl-again").addEventListener("click", () => {
    view.showForm = true;
    view.touched = false;
    $("tl-video").pause();
    fillForm();
    render();
  });
  $("tl-video").addEventListener("error", () => {
    if (!view.videoFor) return;
    $("tl-result-text").textContent = "The movie could not be loaded: it may have expired. Make it again.";
  });
  document.addEventListener("gallery:filterchange", () => { if (view.showForm) view.touched = false; });
}

/** Wire the dialog, and show again a job started on an earlier visit. */
export function startTimelapse() {
  if (!modal) return;
  bind();
  const saved = recalled();
  if (saved) {
    view.jobId = saved;
    view.showForm = false;
    poll();
  }
  render();
}
