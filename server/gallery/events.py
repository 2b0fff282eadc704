"""Server-Sent Events of new images, read from the capture daemon's Redis Stream.

GET /api/events takes the list's filter parameters (`server.search.FILTERS`: since, until,
camera, trigger, lux_min, lux_max) and `stream_id`, the position the list answered with. A
new image that matches the filter comes as an `image` event whose data is the new picture
in exactly the shape of an item of `/api/images` (`images.summary`), so the page renders
both with one card function. Any other entry (outside the filter, or already gone) comes as
an `other` event, so the page still knows that the store changed.

The position to start after comes from Last-Event-ID, else `stream_id`, else a `since`
written as a stream id (`1700000000000-0`; a plain number there is the time filter). Each
event's id is its stream id, so a browser that reconnects sends it back as Last-Event-ID
and gets exactly the entries it missed. When the stream was trimmed past that id, a
`reset` event tells the page to reload its listing instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import redis
from flask import Response, request, stream_with_context

from pi.contract import KEY_PREFIX, METADATA_FIELDS, STREAM_KEY, ImageRecord, SearchModuleMissing, StreamEntry
from server.core.errors import error_response
from server.core.jsonsafe import dumps
from server.core.services import get_redis, services
from server.core.streams import RETRY_AFTER, stream_budget
from server.search import ImageFilter
from server.search.params import stream_id

from .images import summary, with_kept

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
RETRY_MS = 3000


def latest_id(client: redis.Redis) -> str:
    """Return the id of the stream's newest entry, or "0-0" when it is empty (or when
    another writer put a key of another type there: the list must still answer)."""
    try:
        entries = client.xrevrange(STREAM_KEY, count=1)
    except redis.ResponseError as exc:
        if "WRONGTYPE" not in str(exc):
            raise
        return "0-0"
    return entries[0][0].decode() if entries else "0-0"


def _stream_problem(client: redis.Redis) -> Response | None:
    """Return a 503 naming the fix when the stream's key holds something else, else None."""
    kind = client.type(STREAM_KEY)
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    if kind in ("stream", "none"):
        return None
    response = error_response(
        503, "stream_broken",
        f"The key {STREAM_KEY} holds a {kind}, not the stream of new pictures, so live updates "
        f"are off. Fix: delete it (redis-cli DEL {STREAM_KEY}); the capture daemon makes it again.")
    response.headers["Retry-After"] = "60"
    return response


def _as_tuple(sid: str) -> tuple[int, int]:
    ms, seq = sid.split("-")
    return int(ms), int(seq)


def _trimmed_past(client: redis.Redis, last: str) -> bool:
    """Tell whether entries after `last` may have been trimmed away (so some were missed)."""
    try:
        info = client.xinfo_stream(STREAM_KEY)
    except redis.ResponseError:
        return False  # no stream yet
    first = info.get("first-entry")
    if not first or int(info.get("entries-added", 0)) <= int(info.get("length", 0)):
        return False  # nothing was ever removed
    first_id = first[0].decode() if isinstance(first[0], bytes) else str(first[0])
    return _as_tuple(first_id) > _as_tuple(last)


def _event(kind: str, data: dict, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {kind}\ndata: {dumps(data, separators=(',', ':'))}\n\n"


def _items(client: redis.Redis, entries: list[tuple[str, StreamEntry | None]], flt: ImageFilter
           ) -> list[tuple[str, dict | None]]:
    """Return (stream id, list item or None) per entry; None for entries the filter drops.

    The item is built from the image's hash (one pipelined HMGET for the batch); a picture
    whose hash is already gone is not announced.
    """
    pipe = client.pipeline(transaction=False)
    wanted = [entry for _, entry in entries if entry is not None]
    for entry in wanted:
        pipe.hmget(KEY_PREFIX + entry.image_id, list(METADATA_FIELDS))
    # A key of another type under image: (redis-cli) reads as gone, not as Redis failing:
    # failing would end the stream before `last` moves on, and the browser would reconnect
    # to the same entry for ever.
    stored = iter(pipe.execute(raise_on_error=False) if wanted else [])
    out: list[tuple[str, dict | None]] = []
    for sid, maybe in entries:
        if maybe is None:
            out.append((sid, None))
            continue
        entry = maybe
        values = next(stored)
        if isinstance(values, Exception):
            out.append((sid, None))
            continue
        fields = {name: value for name, value in zip(METADATA_FIELDS, values) if value is not None}
        if not fields.get("timestamp"):  # deleted or expired before it was sent
            out.append((sid, None))
            continue
        try:
            record = ImageRecord.from_hash(fields)
        except ValueError:
            out.append((sid, None))
            continue
        out.append((sid, summary(entry.image_id, fields) if flt.matches(record) else None))
    with_kept([item for _, item in out if item is not None])  # the list's card, kept mark too
    return out


def stream(flt: ImageFilter, position: str | None) -> Response:
    """Return the text/event-stream response for GET /api/events: images matching `flt`
    after the stream id in Last-Event-ID, else `position`, else the newest."""
    last = stream_id(request.headers.get("Last-Event-ID"), "Last-Event-ID") or position
    client = get_redis()
    if last is None:
        last = latest_id(client)  # raises (a 503) when Redis is down, before streaming starts
    problem = _stream_problem(client)
    if problem is not None:
        return problem
    settings = services().settings
    lifetime = settings.sse_seconds
    block_ms = max(100, int((settings.redis_timeout - 1.0) * 1000))
    block_ms = min(block_ms, 5000)
    # Waitress tells when the browser has gone (with channel_request_lookahead > 0).
    gone = request.environ.get("waitress.client_disconnected") or (lambda: False)

    def generate(last: str) -> Iterator[str]:
        yield f"retry: {RETRY_MS}\n" + _event("hello", {"stream_id": last})
        started = quiet_since = time.monotonic()
        try:
            if _trimmed_past(client, last):
                yield _event("reset", {"reason": "missed entries were trimmed from the stream"})
                last = latest_id(client)
            while time.monotonic() - started < lifetime and not gone():
                timeout = min(block_ms, int((lifetime - (time.monotonic() - started)) * 1000))
                reply = client.xread({STREAM_KEY: last}, count=100, block=max(1, timeout))
                for _, entries in reply or []:
                    batch = [(sid.decode(), StreamEntry.from_fields(fields)) for sid, fields in entries]
                    for sid, item in _items(client, batch, flt):
                        last = sid
                        if item is not None:
                            yield _event("image", item, sid)
                        else:  # outside the filter (or gone): the page still refreshes its counts
                            yield _event("other", {"stream_id": sid}, sid)
                    quiet_since = time.monotonic()
                if time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                    yield ": keepalive\n\n"
                    quiet_since = time.monotonic()
        except (redis.RedisError, OSError, SearchModuleMissing) as exc:
            logger.warning("Event stream stopped: Redis failed (%s); the browser reconnects",
                           type(exc).__name__)
            yield _event("unavailable", {"message": "Redis is unreachable; reconnecting."})

    budget = stream_budget()
    if not budget.take():
        response = error_response(
            503, "too_many_streams",
            f"This gallery already serves {budget.limit} live streams (event streams and live "
            f"video together), its limit, so live updates pause; the page retries in a moment. "
            "Fix: close other gallery tabs, or raise GALLERY_MAX_STREAMS with GALLERY_THREADS.")
        response.headers["Retry-After"] = str(RETRY_AFTER)
        return response
    # The request context stays for the stream: list items carry URLs (url_for).
    response = Response(stream_with_context(generate(last)), mimetype="text/event-stream")
    response.call_on_close(budget.give_back)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response
