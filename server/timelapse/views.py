"""Time-lapse routes: start a job, follow it, cancel it, and stream the finished MP4.

    POST   /api/timelapse                    start (JSON body; 202, or 400 / 409)
    GET    /api/timelapse/current            the job this gallery process is running
    GET    /api/timelapse/<id>               progress and result
    POST   /api/timelapse/<id>/cancel        cancel, or delete a finished movie
    DELETE /api/timelapse/<id>               the same
    GET    /api/timelapse/<id>/movie.mp4     the movie, with HTTP Range support
                                             (?download=1 to save it as a file)

The CSRF header on POST and DELETE is enforced for every blueprint by the gallery, and
so are its Redis error pages (503 with a JSON body naming the fix).
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Response, jsonify, request, url_for

from pi import contract
from server.archive.backends import ArchiveError, ObjectMissing, open_backend
from server.core.openapi import Blueprint, Error
from server.core.services import services

from . import schemas
from .engine import (
    DEFAULT_FPS,
    DEFAULT_SIZE,
    MIME_MP4,
    TimelapseInputError,
    TimelapseOptions,
    check_size,
    parse_size,
    parse_time,
)
from .jobs import JobBusy, TimelapseJobs, is_valid_job_id

logger = logging.getLogger(__name__)

bp = Blueprint("timelapse", __name__, description="Time-lapse movies.")

STREAM_CHUNK = 256 * 1024
DEFAULT_SPAN = 86400.0


def get_jobs() -> TimelapseJobs:
    """Return this app's job runner, made on first use from the app's settings."""
    found = services()
    settings = found.settings
    return found.one(TimelapseJobs, lambda: TimelapseJobs(
        found.redis, max_frames=settings.timelapse_max_frames, result_ttl=settings.timelapse_ttl,
        tmp_dir=settings.timelapse_tmpdir,
        archive=open_backend(settings.archive) if settings.archive is not None else None))


def _error(status: int, code: str, message: str, parameter: str | None = None, *,
           detail: dict[str, Any] | None = None, **extra: Any) -> tuple[Response, int]:
    body: dict[str, Any] = {"code": code, "message": message}
    if parameter:
        body["parameter"] = parameter
    body.update(detail or {})
    return jsonify({"error": body, **extra}), status


def _no_such_job(job_id: str) -> tuple[Response, int]:
    return _error(404, "no_such_job",
                  f"There is no time-lapse job {job_id[:40]!r}: its movie expired, it was "
                  "cancelled or deleted, or it never existed. Make a new time-lapse.")


@bp.errorhandler(TimelapseInputError)
def _bad_input(exc: TimelapseInputError) -> tuple[Response, int]:
    # An unknown key's error also lists the accepted ones for programs, as its message does.
    detail = {"accepted": list(ACCEPTED_KEYS)} if exc.code == "unknown_parameter" else None
    return _error(400, exc.code, exc.message, exc.parameter, detail=detail)


# --- Reading a request -----------------------------------------------------------------


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _int_param(value: Any, name: str, code: str, hint: str) -> int:
    if value is None or value == "":
        raise TimelapseInputError(code, f"No {name} was given; enter {hint}", name)
    if isinstance(value, bool):
        raise TimelapseInputError(code, f"{name} must be a whole number: {hint}", name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TimelapseInputError(code, f"{value!r} is not a number for {name}: {hint}",
                                  name) from None
    if number != int(number):
        raise TimelapseInputError(code, f"{name} must be a whole number: {hint}", name)
    return int(number)


#: The keys a start request may hold, in the order the error message lists them.
ACCEPTED_KEYS = tuple(schemas.StartBody().fields)
#: Names people carry over from the command line (`--skip-dark`) and what they mean here.
_KEY_HINTS = {"skip_dark": "min_lux", "skip-dark": "min_lux", "burn-in": "burn_in",
              "burnin": "burn_in", "start": "since", "from": "since", "end": "until",
              "to": "until", "rate": "fps", "frame_rate": "fps", "resolution": "size"}


def check_keys(body: dict[str, Any]) -> None:
    """Raise TimelapseInputError naming the keys of `body` that are not settings.

    A misspelt setting must not be ignored: `{"skip_dark": 5}` would otherwise make a movie
    with every dark frame in it. The error's parameter is the first such key.
    """
    unknown = [str(key) for key in body if key not in ACCEPTED_KEYS]
    if not unknown:
        return
    shown = unknown[:5]
    hints = []
    for key in shown:
        hint = _KEY_HINTS.get(key.lower()) or next(
            iter(difflib.get_close_matches(key.lower(), ACCEPTED_KEYS, n=1, cutoff=0.6)), None)
        if hint:
            hints.append(hint if len(shown) == 1 else f"{hint} for {key[:40]!r}")
    named = ", ".join(repr(key[:40]) for key in shown)
    more = f" and {len(unknown) - len(shown)} more" if len(unknown) > len(shown) else ""
    noun = "is not a time-lapse setting" if len(unknown) == 1 else "are not time-lapse settings"
    message = f"{named}{more} {noun}"
    if hints:
        message += f" (did you mean {', '.join(hints)}?)"
    message += ". Accepted settings: " + ", ".join(ACCEPTED_KEYS) + "."
    raise TimelapseInputError("unknown_parameter", message, unknown[0][:40])


def options_from_json(body: dict[str, Any]) -> TimelapseOptions:
    """Build checked TimelapseOptions from a start request's JSON body.

    Raises TimelapseInputError for a bad value or for a key that is not a setting.
    """
    check_keys(body)
    until = parse_time(body["until"], "until") if body.get("until") not in (None, "") else None
    if until is None:
        until = parse_time("now", "until")
    since_raw = body.get("since")
    since = parse_time(since_raw, "since") if since_raw not in (None, "") else until - DEFAULT_SPAN
    camera = body.get("camera") or None
    if camera is not None and not isinstance(camera, str):
        raise TimelapseInputError("bad_camera", "camera must be a camera's name.", "camera")
    fps = _int_param(body.get("fps", DEFAULT_FPS), "fps", "bad_fps",
                     "frames per second, e.g. 24.")
    if body.get("size") not in (None, ""):
        width, height = parse_size(str(body["size"]))
    elif "width" in body or "height" in body:
        width = _int_param(body.get("width"), "width", "bad_size", "pixels, e.g. 1280.")
        height = _int_param(body.get("height"), "height", "bad_size", "pixels, e.g. 720.")
        check_size(width, height)
    else:
        width, height = DEFAULT_SIZE
    min_lux = body.get("min_lux")
    if min_lux in (None, ""):
        min_lux = None
    else:
        try:
            min_lux = float(min_lux)
        except (TypeError, ValueError):
            raise TimelapseInputError("bad_min_lux",
                                      f"{min_lux!r} is not a lux value for min_lux, e.g. 10.",
                                      "min_lux") from None
    options = TimelapseOptions(since=since, until=until, camera=camera, fps=fps, width=width,
                               height=height, burn_in=_flag(body.get("burn_in")), min_lux=min_lux)
    options.check()
    return options


def _with_links(state: dict[str, Any]) -> dict[str, Any]:
    job_id = state["job_id"]
    state["status_url"] = url_for("timelapse.status", job_id=job_id)
    if state["status"] == "done":
        movie = url_for("timelapse.movie", job_id=job_id)
        state["movie_url"] = movie
        state["download_url"] = f"{movie}?download=1"
    return state


# --- Routes ----------------------------------------------------------------------------


_MP4 = {"video/mp4": {"schema": {"type": "string", "format": "binary"}}}


@bp.post("/api/timelapse")
@bp.doc(requestBody={"required": True, "content": {"application/json": {"schema": schemas.StartBody}}})
@bp.response(202, schemas.JobState, description="Started; the job's state.")
@bp.alt_response(409, schema=schemas.Busy, description="A job is already running; `job_id` names it.")
@bp.errors(400)
def start() -> tuple[Response, int] | Response:
    """Start a time-lapse job (one runs at a time per gallery process)."""
    body = request.get_json(silent=True)
    if body is None and request.form:
        body = request.form.to_dict()
        body.pop("csrf_token", None)  # a form's CSRF field, checked by the gallery already
    if not isinstance(body, dict):
        return _error(400, "bad_request",
                      "Send the time-lapse settings as a JSON object, e.g. "
                      '{"since": "-1h", "until": "now", "camera": "garden", "fps": 24}.')
    options = options_from_json(body)
    jobs = get_jobs()
    try:
        job_id = jobs.start(options)
    except JobBusy as exc:
        return _error(409, "busy", str(exc), job_id=exc.job_id)
    state = jobs.status(job_id) or {"job_id": job_id, "status": "running"}
    response = jsonify(_with_links(state))
    response.status_code = 202
    response.headers["Location"] = url_for("timelapse.status", job_id=job_id)
    return response


@bp.get("/api/timelapse/current")
@bp.response(200, schemas.CurrentJob)
def current() -> Response:
    """Return the job this gallery process is running, or null."""
    jobs = get_jobs()
    job_id = jobs.running_job()
    state = jobs.status(job_id) if job_id else None
    return jsonify({"job": _with_links(state) if state else None})


@bp.get("/api/timelapse/<job_id>")
@bp.response(200, schemas.JobState)
@bp.errors(404)
def status(job_id: str) -> tuple[Response, int] | Response:
    """Return a job's progress, counts, error or movie links."""
    state = get_jobs().status(job_id) if is_valid_job_id(job_id) else None
    if state is None:
        return _no_such_job(job_id)
    response = jsonify(_with_links(state))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/timelapse/<job_id>/cancel")
@bp.delete("/api/timelapse/<job_id>")
@bp.response(200, schemas.Cancelled)
@bp.errors(404)
def cancel(job_id: str) -> tuple[Response, int] | Response:
    """Cancel a running job, or delete a finished one with its movie."""
    if not is_valid_job_id(job_id) or not get_jobs().cancel(job_id):
        return _no_such_job(job_id)
    return jsonify({"job_id": job_id, "status": "cancelled"})


@bp.get("/api/timelapse/<job_id>/movie.mp4")
@bp.doc(parameters=[{"name": "download", "in": "query", "required": False,
                     "description": "1 to download it with a file name.", "schema": {"type": "string"}}],
        responses={"200": {"description": "The movie.", "content": _MP4},
                   "206": {"description": "Part of the movie (a single HTTP Range).", "content": _MP4},
                   "416": {"description": "Range not satisfiable."}})
@bp.alt_response(409, schema=Error, description="The job has no movie yet (still running or failed).")
@bp.errors(404)
def movie(job_id: str) -> tuple[Response, int] | Response:
    """Stream a finished job's MP4, honouring single HTTP Range requests."""
    jobs = get_jobs()
    state = jobs.status(job_id) if is_valid_job_id(job_id) else None
    if state is None:
        return _no_such_job(job_id)
    if state["status"] != "done":
        return _error(409, "not_ready",
                      f"Time-lapse job {job_id} is {state['status']}, so it has no movie yet. "
                      "Wait until its status is done.")
    archived = bool(state.get("movie_archived")) and jobs.archive is not None
    length = state.get("movie_bytes", 0) if archived else jobs.movie_length(job_id)
    if not length:
        return _error(404, "movie_gone",
                      "This time-lapse's movie is no longer stored (it expired or Redis evicted "
                      "it to make room). Make the time-lapse again.")
    etag = f"{job_id}-{length}"
    start, stop, status_code = 0, length, 200
    rng = request.range
    if rng is not None and request.if_range.etag not in (None, etag):
        rng = None  # If-Range names another version: send the whole movie
    if rng is not None and len(rng.ranges) == 1:
        span = rng.range_for_length(length)
        if span is None:
            response = Response(status=416)
            response.headers["Content-Range"] = f"bytes */{length}"
            return response
        start, stop = span
        status_code = 206
    if archived:  # in the archive of originals: a range read, streamed
        try:
            obj = jobs.open_archived_movie(job_id, start, stop - 1)
        except ObjectMissing:
            return _error(404, "movie_gone", "This time-lapse's movie is no longer in the archive "
                          "(deleted by hand or by its retention). Make the time-lapse again.")
        except (ArchiveError, ValueError) as exc:
            return _error(503, "archive_unavailable",
                          f"The movie is in the archive, which can't be read right now ({exc}). Fix: "
                          "make the archive reachable (ARCHIVE_URL, ARCHIVE_S3_ENDPOINT), then reload.")
        body: Iterator[bytes] = obj.iter_chunks(STREAM_CHUNK)
    else:
        body = _chunks(jobs, job_id, start, stop)
    response = Response(body, status=status_code, mimetype=MIME_MP4, direct_passthrough=True)
    response.content_length = stop - start
    if status_code == 206:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{length}"
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = "private, max-age=60"
    response.set_etag(etag)
    if _flag(request.args.get("download")):
        response.headers.set("Content-Disposition", "attachment",
                             filename=_download_name(state))
    return response


def _chunks(jobs: TimelapseJobs, job_id: str, start: int, stop: int) -> Iterator[bytes]:
    for offset in range(start, stop, STREAM_CHUNK):
        piece = jobs.read_movie(job_id, offset, min(stop, offset + STREAM_CHUNK))
        if not piece:
            return
        yield piece


def _download_name(state: dict[str, Any]) -> str:
    params = state.get("params", {})
    camera = params.get("camera") or "all-cameras"
    if not contract.CAMERA_NAME_RE.match(camera):
        camera = "camera"
    since = params.get("since")
    stamp = datetime.fromtimestamp(since).strftime("%Y%m%d-%H%M") if since else state["job_id"]
    return f"timelapse-{camera}-{stamp}.mp4"
