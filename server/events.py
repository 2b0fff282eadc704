"""Server-Sent Events of new images, read from the capture daemon's Redis Stream.

GET /api/events takes the list's filter parameters (since, until, camera, trigger, lux_min,
lux_max) and `after`, the list's `stream_id`. A new image that matches the filter comes as
an `image` event whose data is one item in the shape of GET /api/images' `images[]`; the
filter is the list's own FT query, asked of just the new keys (INKEYS). Any other entry
(outside the filter, or already gone) comes as an `other` event, so the page still knows
that the store changed.

Each event's id is its stream id, so a browser that reconnects sends it back as
Last-Event-ID and gets exactly the entries it missed. When the stream was trimmed past
that id, a `reset` event tells the page to reload its listing instead.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import redis
from flask import Response, current_app, request, stream_with_context

from pi.contract import STREAM_KEY, SearchModuleMissing, image_key, is_valid_image_id

from . import images, search
from .params import parse_filter, stream_id
from .queries import ImageFilter, filter_parts, search_query
from .redis_store import get_redis

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
RETRY_MS = 3000


def latest_id(client: redis.Redis) -> str:
    """Return the id of the stream's newest entry, or "0-0" when it is empty."""
    entries = client.xrevrange(STREAM_KEY, count=1)
    return entries[0][0].decode() if entries else "0-0"


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
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _image_events(entries: list, flt: ImageFilter) -> Iterator[str]:
    """Yield an `image` event (a list item) for each entry whose image matches `flt`, and an
    `other` event for the rest, in stream order."""
    announced: list[tuple[str, str | None]] = []
    for sid_bytes, fields in entries:
        value = fields.get(b"id")
        image_id = value.decode("utf-8", "replace") if value else ""
        announced.append((sid_bytes.decode(), image_id if is_valid_image_id(image_id) else None))
    keys = sorted({image_key(i) for _, i in announced if i})
    matched: dict[str, dict[str, str]] = {}
    if keys:
        timeout = int(current_app.config["GALLERY_SEARCH_TIMEOUT_MS"])
        query = search_query(filter_parts(flt), None, len(keys), timeout).limit_ids(*keys)
        rows, _ = search.search(query)
        matched = {row.image_id: row.fields for row in rows}
    for sid, image_id in announced:
        item = None
        if image_id in matched:
            try:
                item = images.summary(image_id, matched[image_id])
            except ValueError:
                item = None  # written by hand with a broken timestamp
        if item is None:
            yield _event("other", {"stream_id": sid}, sid)
        else:
            yield _event("image", item, sid)


def stream() -> Response:
    """Return the text/event-stream response for GET /api/events."""
    last = stream_id(request.headers.get("Last-Event-ID"), "Last-Event-ID") or stream_id(
        request.args.get("after"), "after")
    flt = parse_filter(request.args)
    client = get_redis()
    if last is None:
        last = latest_id(client)  # raises (a 503) when Redis is down, before streaming starts
    lifetime = float(current_app.config["GALLERY_SSE_SECONDS"])
    block_ms = max(100, int((float(current_app.config["REDIS_TIMEOUT"]) - 1.0) * 1000))
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
                    if entries:
                        last = entries[-1][0].decode()
                        yield from _image_events(entries, flt)
                    quiet_since = time.monotonic()
                if time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                    yield ": keepalive\n\n"
                    quiet_since = time.monotonic()
        except (redis.RedisError, OSError, SearchModuleMissing) as exc:
            logger.warning("Event stream stopped: Redis failed (%s); the browser reconnects",
                           type(exc).__name__)
            yield _event("unavailable", {"message": "Redis is unreachable; reconnecting."})

    # The request context stays for the stream: list items carry URLs (url_for).
    response = Response(stream_with_context(generate(last)), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response
