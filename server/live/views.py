"""Live view routes: MJPEG streams, newest-frame snapshots and live status as JSON.

- `GET /live/<camera>.mjpg`: `multipart/x-mixed-replace` MJPEG, shown by an `<img>`.
- `GET /live/<camera>.jpg`: the camera's newest frame (tiles refresh with it).
- `GET /api/live`: every camera with its live status; `?watch=1` keeps them subscribed.
- `GET /api/live/<camera>`: one camera's live status.
"""

from __future__ import annotations

import functools
import io
import logging
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import marshmallow as ma
import redis
from flask import Response, jsonify, request
from marshmallow import fields

from pi.contract import CAMERA_NAME_RE
from server.core.errors import error_response
from server.core.openapi import Blueprint
from server.core.streams import RETRY_AFTER, stream_budget

from . import get_hub
from .hub import Frame, LiveHub, TooManyViewers, Viewer

logger = logging.getLogger(__name__)

bp = Blueprint("live", __name__, description="Live view.")


class LiveStatus(ma.Schema):
    """What a page shows about one camera's live view."""

    camera = fields.String(required=True)
    online = fields.Boolean(required=True)
    frame_age = fields.Float(required=True, allow_none=True)
    frame_seq = fields.Integer(required=True, allow_none=True)
    frame_bytes = fields.Integer(required=True, allow_none=True)
    viewers = fields.Integer(required=True)
    subscribed = fields.Boolean(required=True)


class LiveCamera(LiveStatus):
    host = fields.String(required=True, allow_none=True)
    last_capture = fields.Float(required=True, allow_none=True)


class LiveCameraStatus(LiveStatus):
    redis = fields.String(required=True, metadata={"enum": ["ok", "down"]})


class LiveList(ma.Schema):
    cameras = fields.List(fields.Nested(LiveCamera), required=True)
    redis = fields.String(required=True, metadata={"enum": ["ok", "down"]})
    offline_after = fields.Float(required=True)


class WatchQuery(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    watch = fields.String(metadata={"enum": ["0", "1"], "description": "1 keeps every camera "
                                                                       "subscribed."})


BOUNDARY = "frame"
#: With no new frame for this long, a stream re-sends its last part: a write is how a
#: WSGI server notices a closed tab.
KEEPALIVE_SECONDS = 2.0
#: How long a snapshot of a camera that isn't subscribed yet waits for its first frame.
FIRST_FRAME_WAIT = 1.5


def _error(status: int, code: str, message: str, parameter: str | None = None) -> Response:
    response = error_response(status, code, message, parameter)
    response.headers["Cache-Control"] = "no-store"
    return response


def _unknown_camera(camera: str) -> Response:
    if not CAMERA_NAME_RE.match(camera):
        return _error(404, "unknown_camera",
                      "That is not a camera name: names are 1-32 letters, digits, - or _. "
                      "Fix: pick a camera from the gallery's live view.", "camera")
    return _error(404, "unknown_camera",
                  f"There is no camera named {camera!r}: no capture daemon with that name has "
                  "reported in. Fix: pick a camera from the gallery's live view.", "camera")


def _redis_down(hub: LiveHub) -> Response:
    return _error(503, "redis_unavailable",
                  f"The gallery can't reach Redis at {hub.where}, so it can't tell which cameras "
                  "exist. Fix: start Redis (or correct REDIS_URL); the live view resumes on its "
                  "own.")


def _known(hub: LiveHub, camera: str) -> bool | None:
    """Tell whether a camera exists: it has a heartbeat, or the hub already has its feed.

    None when Redis can't be asked.
    """
    if not CAMERA_NAME_RE.match(camera):
        return False
    if camera in hub.cameras():
        return True
    try:
        # A camera that just started: look again, but read the registry at most once a second for it.
        return camera in hub.directory() or camera in hub.directory(max_age=1.0)
    except (redis.ConnectionError, redis.TimeoutError):
        return None


def _camera_problem(hub: LiveHub, camera: str) -> Response | None:
    """Return the error response for a camera we can't serve (Redis down, unknown), else None."""
    known = _known(hub, camera)
    if known is None:
        return _redis_down(hub)
    if not known:
        return _unknown_camera(camera)
    return None


@bp.undocumented("/live/<camera>.mjpg", methods=["GET"])
def stream(camera: str) -> Response:
    """Stream a camera's preview frames as MJPEG until the client goes away."""
    hub = get_hub()
    problem = _camera_problem(hub, camera)
    if problem is not None:
        return problem
    budget = stream_budget()  # shared with the event streams: each holds a server thread
    if not budget.take():
        response = _error(503, "too_many_streams",
                          f"This gallery already serves {budget.limit} live streams (video and "
                          "event streams together), its limit. Close a live view elsewhere, or "
                          "raise GALLERY_MAX_STREAMS together with GALLERY_THREADS.")
        response.headers["Retry-After"] = str(RETRY_AFTER)
        return response
    try:
        viewer = hub.open(camera)
    except TooManyViewers:
        budget.give_back()
        return _error(503, "too_many_viewers",
                      f"This gallery already serves {hub.max_viewers} live streams, its limit. "
                      "Close a live view elsewhere, or raise LIVE_MAX_VIEWERS together with the "
                      "server's thread count.")
    except BaseException:
        budget.give_back()
        raise
    body = MjpegStream(viewer, hub.offline_after,
                       request.environ.get("waitress.client_disconnected"))
    response = Response(body, mimetype=f"multipart/x-mixed-replace; boundary={BOUNDARY}")
    response.call_on_close(budget.give_back)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: don't buffer the stream
    return response


@bp.undocumented("/live/<camera>.jpg", methods=["GET"])
def snapshot(camera: str) -> Response:
    """Return a camera's newest frame (and keep the camera subscribed for a while)."""
    hub = get_hub()
    problem = _camera_problem(hub, camera)
    if problem is not None:
        return problem
    frame = hub.wait_for_frame(camera, FIRST_FRAME_WAIT)
    if frame is None:
        return _error(503, "camera_offline",
                      f"Camera {camera!r} sends no live frames. Check that its capture daemon "
                      "runs with previews enabled; the view resumes when frames arrive.",
                      "camera")
    response = Response(frame.data, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Seq"] = str(frame.seq)
    response.headers["X-Frame-Age"] = f"{frame.age():.3f}"
    return response


@bp.get("/api/live")
@bp.doc(parameters=[{"name": "watch", "in": "query", "required": False,
                     "description": "1 keeps every camera subscribed.",
                     "schema": {"type": "string", "enum": ["0", "1"]}}])
@bp.response(200, LiveList)
@bp.errors(400)
def statuses() -> Response:
    """List every camera with its live status; `watch=1` keeps them all subscribed."""
    hub = get_hub()
    watch = request.args.get("watch", "0")
    if watch not in ("0", "1"):
        return _error(400, "bad_parameter", "watch must be 0 or 1, e.g. /api/live?watch=1.",
                      "watch")
    try:
        directory = hub.directory()
        redis_state = "ok" if hub.check_redis() else "down"
    except (redis.ConnectionError, redis.TimeoutError):
        directory, redis_state = {}, "down"
    names = sorted(set(directory) | set(hub.cameras()))
    if watch == "1":
        # Also while Redis is down: the feeds stay wanted, so the reader keeps retrying and
        # resubscribes as soon as Redis is back, without anyone reloading the page.
        for name in names:
            hub.touch(name)
    cameras = []
    for name in names:
        item = hub.status(name)
        heartbeat = directory.get(name)
        item["host"] = heartbeat.host if heartbeat else None
        item["last_capture"] = heartbeat.last_capture if heartbeat else None
        cameras.append(item)
    return _json({"cameras": cameras, "redis": redis_state, "offline_after": hub.offline_after})


@bp.get("/api/live/<camera>")
@bp.response(200, LiveCameraStatus)
@bp.errors(404)
def camera_status(camera: str) -> Response:
    """Return one camera's live status: online, frame age, viewers."""
    hub = get_hub()
    known = _known(hub, camera)
    if known is None:
        item = hub.status(camera) if CAMERA_NAME_RE.match(camera) else None
        if item is None:
            return _redis_down(hub)
        return _json({**item, "redis": "down"})
    if not known:
        return _unknown_camera(camera)
    return _json({**hub.status(camera), "redis": "ok" if hub.check_redis() else "down"})


def _json(data: dict[str, Any]) -> Response:
    response = jsonify(data)
    response.headers["Cache-Control"] = "no-store"
    return response


class MjpegStream:
    """The body of an MJPEG response: one part per frame, ending when the client leaves.

    Each part is followed at once by the next boundary, so browsers show a frame as soon
    as it arrives instead of when the next one starts. The viewer is released when the
    server closes the body (tab closed, GeneratorExit), when waitress reports the client
    gone, or when the hub drops a viewer stuck in a write.
    """

    def __init__(self, viewer: Viewer, offline_after: float,
                 client_disconnected: Callable[[], bool] | None = None) -> None:
        self.viewer = viewer
        self.offline_after = offline_after
        self._disconnected = client_disconnected or (lambda: False)
        self._parts = self._generate()

    _parts: Generator[bytes, None, None]

    def __iter__(self) -> Iterator[bytes]:
        return self._parts

    def close(self) -> None:
        """Release the viewer; called by the WSGI server when the response ends."""
        self._parts.close()
        self.viewer.close()

    def _generate(self) -> Generator[bytes, None, None]:
        viewer = self.viewer
        try:
            yield f"--{BOUNDARY}\r\n".encode()
            last_write = time.monotonic()
            while not viewer.closed and not self._disconnected():
                frame = viewer.next_frame(timeout=0.5)
                now = time.monotonic()
                if frame is None:
                    if viewer.closed or now - last_write < KEEPALIVE_SECONDS:
                        continue
                    latest = viewer.latest
                    fresh = latest is not None and latest.age() <= self.offline_after
                    frame = latest if fresh else None
                yield part(frame)
                last_write = time.monotonic()
        finally:
            viewer.close()


def part(frame: Frame | None) -> bytes:
    """Return one multipart part for a frame (None: the "offline" picture), boundary after."""
    data = frame.data if frame is not None else offline_jpeg()
    head = (f"Content-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n"
            + (f"X-Frame-Seq: {frame.seq}\r\nX-Frame-Time: {frame.received_at:.3f}\r\n"
               if frame is not None else "X-Frame-Seq: 0\r\n")
            + "\r\n")
    return head.encode() + data + f"\r\n--{BOUNDARY}\r\n".encode()


@functools.cache
def offline_jpeg() -> bytes:
    """Return a small grey JPEG that says "offline", streamed while a camera sends nothing."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (320, 180), (48, 48, 48))
    draw = ImageDraw.Draw(img)
    text = "offline"
    left, top, right, bottom = draw.textbbox((0, 0), text, font_size=28)
    draw.text(((320 - (right - left)) / 2, (180 - (bottom - top)) / 2 - top), text,
              fill=(220, 220, 220), font_size=28)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=70)
    return buf.getvalue()

