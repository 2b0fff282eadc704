"""Originals served from the archive once their full size has left Redis (issue 10, phase 2).

The archiver (server/archive) copies every original to a folder or an S3 bucket and records
where in the hash's `archived` field. When `image_data` has expired (tiered retention) but
`archived` is set, the original and download routes serve the archive's copy instead:

- streamed in chunks, never read whole into memory; a single HTTP Range is honoured with a
  range read of the archive (seek, or an S3 Range GET), answered 206 with Content-Range;
- with the ETag it had from Redis (`o-<id>-<size>`) and the same immutable caching, so a
  browser that cached it from Redis gets a 304 without the archive being read;
- an object missing from the archive (deleted by its retention or by hand) is a 410
  `original_gone` naming it, the thumbnail still being there; an archive that can't be
  reached is a 503 `archive_unavailable` naming the archive and the fix; never a 500.

The gallery reads the archive's settings once at start (GallerySettings.archive, parsed by
server/archive/settings.py: a bad value stops it with exit status 2). Without ARCHIVE_URL
nothing here runs and the gallery behaves as before.

The archiver's own state (`archive:status`, see pi/contract.py) is shown in the stats panel
and in /healthz by `archive_state()` and `add_health()`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import redis
from flask import Response, request

from pi.contract import (
    F_ARCHIVED,
    F_CAMERA,
    F_MIME_TYPE,
    F_SIZE,
    F_TIMESTAMP,
    image_key,
    read_archive_status,
)
from server.archive.backends import (
    ArchiveError,
    ArchiveObject,
    Backend,
    ObjectMissing,
    open_backend,
)
from server.archive.originals import archive_key, text
from server.archive.settings import ArchiveSettings
from server.core.errors import ApiError
from server.core.services import get_redis, services

logger = logging.getLogger(__name__)

#: A read error the gallery met in the archive shows in /healthz for this many seconds.
ERROR_MEMORY = 300.0
#: After a read error, the detail view does not wait for the archive again for this long.
QUIET_AFTER_ERROR = 10.0
#: One warning in the log per outage: again only after this long without errors.
LOG_AGAIN_AFTER = 60.0


class ArchiveReader:
    """The gallery's view of the archive: its backend, made once, and the last error met."""

    def __init__(self, settings: ArchiveSettings) -> None:
        self.settings = settings
        self._backend: Backend | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.last_error_at: float | None = None

    @property
    def url(self) -> str:
        return self.settings.archive_url

    def backend(self) -> Backend:
        """Return the backend, made on first use (boto3's client is slow to make)."""
        with self._lock:
            if self._backend is None:
                self._backend = open_backend(self.settings)
            return self._backend

    def failed(self, message: str) -> None:
        """Remember a read error; log it unless this outage was logged already."""
        now = time.time()
        if self.last_error_at is None or now - self.last_error_at > LOG_AGAIN_AFTER:
            logger.warning("The gallery can't read the archive %s: %s. Archived originals answer "
                           "503 until it is back.", self.url, message)
        self.last_error, self.last_error_at = message, now

    def just_failed(self) -> bool:
        """Tell whether a read failed in the last QUIET_AFTER_ERROR seconds."""
        return self.last_error_at is not None and time.time() - self.last_error_at < QUIET_AFTER_ERROR

    def recent_error(self) -> str | None:
        """Return the last read error if it is recent, else None."""
        if self.last_error_at is not None and time.time() - self.last_error_at < ERROR_MEMORY:
            return self.last_error
        return None


def reader() -> ArchiveReader | None:
    """Return this app's archive reader, or None when the gallery has no ARCHIVE_URL."""
    found = services()
    settings = found.settings.archive
    if settings is None:
        return None
    return found.one(ArchiveReader, lambda: ArchiveReader(settings))


# --- The API document: what the original route answers for an archived picture

_BYTES = {"schema": {"type": "string", "format": "binary"}}
PARTIAL_DOC = {
    "description": "Part of an original served from the archive (its full size left Redis): "
                   "a single HTTP Range, with Content-Range.",
    "content": {"image/jpeg": _BYTES}}
RANGE_DOC = {"description": "Range not satisfiable (Content-Range: bytes */size)."}
GONE_DOC = ("`original_gone`: the full size left Redis and the archive no longer has the "
            "original (its retention deleted it); the thumbnail is still there. (503 "
            "`archive_unavailable`: the archive can't be read right now.)")


# --- Errors users see ---------------------------------------------------------------------


def original_gone(image_id: str, location: str) -> ApiError:
    """The 410 for an archived original that is no longer in the archive."""
    return ApiError(410, "original_gone",
                    f"The original of {image_id} is gone: its full size left Redis and the archive "
                    f"no longer has it ({location}; deleted by the archive's retention, "
                    "ARCHIVE_MAX_AGE_DAYS / ARCHIVE_MAX_GB_PER_CAMERA, or by hand). Its thumbnail "
                    f"is still there: /api/images/{image_id}/thumbnail.")


def archive_unavailable(where: str, problem: str) -> ApiError:
    """The 503 for an archive the gallery can't read right now."""
    return ApiError(503, "archive_unavailable",
                    f"The original is in the archive {where}, which the gallery can't read right now "
                    f"({problem}). Fix: make the archive reachable (the folder mounted and readable, "
                    "or the S3 endpoint ARCHIVE_S3_ENDPOINT up, with an access key that may read "
                    "the bucket), then reload.")


# --- Serving an original ------------------------------------------------------------------


def _number(value: Any) -> int | None:
    try:
        number = int(text(value) or "")
    except ValueError:
        return None
    return number if number > 0 else None


def serve_original(image_id: str, download: bool) -> Response | None:
    """Serve a picture's original from the archive, or return None when it has no archived copy
    this gallery can read (no ARCHIVE_URL, no `archived` field, or one pointing elsewhere)."""
    from .images import IMMUTABLE, SAFE_MIME_TYPES, download_name

    arch = reader()
    if arch is None:
        return None
    location, mime, camera, timestamp, size_text = get_redis().hmget(
        image_key(image_id), [F_ARCHIVED, F_MIME_TYPE, F_CAMERA, F_TIMESTAMP, F_SIZE])
    location = text(location)
    if not location:
        return None
    try:
        backend = arch.backend()
    except ArchiveError as exc:
        arch.failed(str(exc))
        raise archive_unavailable(arch.url, str(exc)) from None
    key = archive_key(backend, location)
    if key is None:
        logger.warning("%s is archived at %s, outside this gallery's archive %s (ARCHIVE_URL); "
                       "not served", image_id, location[:200], arch.url)
        return None
    size = _number(size_text)
    if size is not None:
        etag = f"o-{image_id}-{size}"
        if request.if_none_match.contains(etag):
            return _immutable(Response(status=304), etag, IMMUTABLE)
    try:
        obj, status = _open(backend, key, image_id, size)
    except ObjectMissing:
        raise original_gone(image_id, location) from None
    except ArchiveError as exc:
        arch.failed(str(exc))
        raise archive_unavailable(arch.url, str(exc)) from None
    if isinstance(obj, Response):
        return obj  # 416
    etag = f"o-{image_id}-{obj.info.size}"
    if size is None and request.if_none_match.contains(etag):
        obj.close()
        return _immutable(Response(status=304), etag, IMMUTABLE)
    mime_text = text(mime) or "image/jpeg"
    safe = mime_text if mime_text in SAFE_MIME_TYPES else "application/octet-stream"
    response = Response(obj.iter_chunks(), status=status, mimetype=safe, direct_passthrough=True)
    response.call_on_close(obj.close)
    response.content_length = obj.length
    response.headers["Accept-Ranges"] = "bytes"
    if status == 206:
        response.headers["Content-Range"] = f"bytes {obj.start}-{obj.start + obj.length - 1}/{obj.info.size}"
    _immutable(response, etag, IMMUTABLE)
    if download or safe == "application/octet-stream":
        try:
            ts = float(text(timestamp) or "")
        except ValueError:
            ts = 0.0
        name = download_name(text(camera), ts, SAFE_MIME_TYPES.get(safe, "bin"))
        response.headers.set("Content-Disposition", "attachment", filename=name)
    return response


def _immutable(response: Response, etag: str, cache_control: str) -> Response:
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control
    return response


def _open(backend: Backend, key: str, image_id: str, size: int | None
          ) -> tuple[ArchiveObject | Response, int]:
    """Open the whole object, or the one range the request asks for (206); a 416 Response
    for a range outside it. `size` (the hash's size_bytes) saves a HEAD before a range read."""
    rng = request.range
    if rng is not None and len(rng.ranges) != 1:
        rng = None  # several ranges: the whole object, as a server may
    if rng is None:
        return backend.open(key), 200
    if size is None:
        info = backend.head(key)
        if info is None:
            raise ObjectMissing(key)
        size = info.size
    if request.if_range.etag is not None and request.if_range.etag != f"o-{image_id}-{size}":
        return backend.open(key), 200  # If-Range names another version: the whole object
    span = rng.range_for_length(size)
    if span is not None:
        try:
            return backend.open(key, span[0], span[1] - 1), 206
        except ValueError:  # the object is shorter than the hash says
            pass
    response = Response(status=416)
    response.headers["Content-Range"] = f"bytes */{size}"
    return response, 416


# --- The detail view ----------------------------------------------------------------------


def detail_fields(image_id: str, fields: Mapping[str, str], has_image: bool) -> dict[str, Any]:
    """Return the detail's archive fields: `from_archive` (the full size shown comes from the
    archive) and `archive_note` (why the archived original can't be shown, or None)."""
    out: dict[str, Any] = {"from_archive": False, "archive_note": None}
    arch = reader()
    location = fields.get(F_ARCHIVED)
    if has_image or arch is None or not location:
        return out
    problem = None
    try:
        backend = arch.backend()
        key = archive_key(backend, location)
        if key is None:
            return out
        out["from_archive"] = True
        if arch.just_failed():  # don't make the page wait for an archive that just failed
            problem = arch.last_error
        elif backend.head(key) is None:
            out["archive_note"] = ("The original is gone: the archive no longer has it (deleted by "
                                   "its retention or by hand). Only the thumbnail is left.")
    except ArchiveError as exc:
        arch.failed(str(exc))
        problem = str(exc)
    if problem is not None:
        out["archive_note"] = (f"The original is in the archive, which can't be read right now "
                               f"({problem}). The thumbnail is shown meanwhile.")
    return out


# --- The archiver's state: stats panel and /healthz ---------------------------------------


def archive_state(client: redis.Redis) -> dict[str, Any]:
    """Return what the stats panel and /healthz show about the archive and its archiver."""
    arch = reader()
    status = read_archive_status(client)
    out: dict[str, Any] = {
        "configured": arch is not None,
        "url": arch.url if arch is not None else (status.archive or None if status else None),
        "running": status is not None,
        "state": status.state if status else "absent",
        "last_ok": status.last_ok if status else None,
        "last_error": (status.last_error or None) if status else None,
        "pending": status.pending if status else None,
        "backlog": status.backlog if status else None,
        "missed": status.missed if status else None,
        "archived": status.archived if status else None,
        "gallery_error": arch.recent_error() if arch is not None else None,
        "warning": None,
    }
    if arch is not None and status is None:
        out["warning"] = ("No archiver is running: new pictures are not copied to the archive "
                          f"{arch.url}. Fix: start it (python -m server.archive run, or the "
                          "compose service archiver).")
    elif status is not None and status.state == "retrying":
        out["warning"] = ("The archiver can't write to the archive and retries; pictures stay "
                          f"pending in Redis ({status.last_error or 'no reason given'}).")
    elif arch is not None and out["gallery_error"]:
        out["warning"] = f"The gallery can't read the archive {arch.url}: {out['gallery_error']}"
    elif status is not None and arch is None:
        out["warning"] = ("An archiver runs, but the gallery has no ARCHIVE_URL, so it can't serve "
                          "archived originals. Fix: give the gallery the archiver's ARCHIVE_URL "
                          "(and S3 settings) and restart it.")
    elif status is not None and status.missed:
        out["warning"] = (f"{status.missed} pictures expired from Redis before they were archived "
                          "(the archive was down longer than their full size lasted).")
    return out


def add_health(report: dict[str, Any], client: redis.Redis) -> None:
    """Add the archive to /healthz: still 200 when only the archive has a problem (pictures
    are stored and shown from Redis), with `status` "degraded" and a `message`."""
    if not report.get("redis"):
        return
    try:
        state = archive_state(client)
    except redis.RedisError:
        return
    if not state["configured"] and not state["running"]:
        return
    report["archive"] = state
    problem = state["configured"] and (state["state"] in ("absent", "retrying") or state["gallery_error"])
    if problem and report.get("status") == "ok":
        report["status"] = "degraded"
        report["message"] = state["warning"]
