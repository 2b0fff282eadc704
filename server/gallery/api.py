"""The JSON API under /api/ (everything the page does), and /healthz."""

from __future__ import annotations

from typing import Any

import redis
from flask import Response, current_app, jsonify

from pi.contract import F_LUX, F_TIMESTAMP, INDEX_NAME, has_search_module
from server.core.errors import image_not_found
from server.core.openapi import Blueprint, Error, document
from server.core.services import get_redis, redis_where
from server.search import Cursor, Row

from . import archived, events, images, index, retention, schemas
from .chart import chart
from .index import lister
from .stats import cameras, facets, stats

bp = Blueprint("api", __name__, description="The gallery's JSON API.")


@bp.get("/api/images")
@bp.arguments(schemas.ListQuery, location="query", as_kwargs=False)
@bp.response(200, schemas.ImageList)
@bp.errors(400)
def list_images(args: dict[str, Any]) -> dict[str, Any]:
    """List images, newest first by default, with filters and keyset paging.

    Never returns image data. On the first page, `count` says how many match (`exact`
    false means at least that many).
    """
    flt, sort_name, order = args["filter"], args["sort"], args["order"]
    limit, cursor = args["limit"], args["cursor"]
    # Read the stream position first: an image stored meanwhile is then both listed and
    # announced (the page drops the duplicate), never neither.
    stream_position = events.latest_id(get_redis())
    page = lister().page(flt, order, cursor, limit)
    body: dict[str, Any] = {
        "images": images.with_kept(images.summaries(page.rows)),
        "next_cursor": page.next_cursor.encode() if page.next_cursor else None,
        "sort": sort_name,
        "limit": limit,
        "stream_id": stream_position,
        "count": None,
    }
    if cursor is None:
        total = index.num_docs()
        if flt.is_empty():
            body["count"] = {"value": total, "exact": True, "total": total}
        else:
            value, exact = lister().count(flt)
            body["count"] = {"value": value, "exact": exact, "total": total}
    return body


@bp.get("/api/images/<image_id>")
@bp.response(200, schemas.ImageDetail)
@bp.errors(404)
def image_detail(image_id: str) -> dict[str, Any]:
    """One image's metadata: every field, time to live, URLs."""
    return images.detail(image_id)


@bp.delete("/api/images/<image_id>")
@bp.response(200, schemas.Deleted)
@bp.errors(404)
def image_delete(image_id: str) -> dict[str, Any]:
    """Delete an image."""
    images.delete(image_id)
    return {"deleted": image_id}


_JPEG = {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}


@bp.get("/api/images/<image_id>/image")
@bp.doc(responses={"206": archived.PARTIAL_DOC, "416": archived.RANGE_DOC})
@bp.alt_response(410, schema=Error, description=archived.GONE_DOC)
@bp.arguments(schemas.DownloadQuery, location="query", as_kwargs=False)
@bp.doc(responses={"200": {"description": "The image bytes (ETag, immutable caching).",
                           "content": _JPEG},
                   "304": {"description": "Not modified (If-None-Match matched)."}})
@bp.errors(404, 410)
def image_original(args: dict[str, Any], image_id: str) -> Response:
    """The full image; `?download=1` adds a file name for saving.

    A picture whose full size is gone answers 410 `full_size_gone` naming why (expired,
    trimmed, unchanged) and its thumbnail; the list item's `image_url` is then the thumbnail.
    """
    return images.original(image_id, download=args.get("download") in ("1", "true"))


_THUMB = {**_JPEG, "image/webp": {"schema": {"type": "string", "format": "binary"}}}


@bp.get("/api/images/<image_id>/thumbnail")
@bp.arguments(schemas.ThumbnailQuery, location="query", as_kwargs=False)
@bp.doc(responses={"200": {"description": "The thumbnail bytes, with their own type "
                                          "(`thumbnail_mime`: WebP from the capture daemon).",
                           "content": _THUMB},
                   "304": {"description": "Not modified (If-None-Match matched)."}})
@bp.errors(400, 404)
def image_thumbnail(args: dict[str, Any], image_id: str) -> Response:
    """The thumbnail; made and cached on first request for hashes without one. `?w=240` sends
    a smaller copy the size of a grid card (the first screen weighs what it shows);
    `?download=1` adds a file name (what a picture whose full size is gone offers)."""
    return images.thumbnail(image_id, args.get("w"), download=args.get("download") in ("1", "true"))


@bp.post("/api/images/<image_id>/keep")
@bp.response(200, schemas.Kept)
@bp.errors(404)
def image_keep(image_id: str) -> dict[str, Any]:
    """Keep an image for ever: no TTL on the key nor on its full size, out of its camera's
    budget; `previous_expires_at` is when it would have expired, `full_size` whether it has one."""
    result = images.keep(image_id)
    return {"id": image_id, "kept": True, "previous_expires_at": result.would_have_expired,
            "full_size": result.full_size}


@bp.post("/api/images/<image_id>/expire")
@bp.arguments(schemas.ExpireBody, location="json", as_kwargs=False)
@bp.response(200, schemas.Expiring)
@bp.errors(400, 404)
def image_expire(args: dict[str, Any], image_id: str) -> dict[str, Any]:
    """Let it expire (undo keep): the picture and its full size get back the expiries its
    capture planned (`plan_history_until`, `plan_full_until`), never sooner than 10 s from now.
    `expires_at` is used only for a picture without a plan (the reference's); none: a day."""
    result = images.let_expire(image_id, args.get("expires_at"))
    return {"id": image_id, "kept": False, "expires_at": result.expires_at,
            "full_until": result.full_until}


@bp.get("/api/images/<image_id>/neighbors")
@bp.arguments(schemas.NeighborsQuery, location="query", as_kwargs=False)
@bp.response(200, schemas.Neighbors)
@bp.errors(400, 404)
def image_neighbors(args: dict[str, Any], image_id: str) -> dict[str, Any]:
    """The previous and next image under a filter and sort (for arrow keys)."""
    flt, order = args["filter"], args["order"]
    with images.image_hash(image_id) as key:
        ts, lux = get_redis().hmget(key, [F_TIMESTAMP, F_LUX])
    if ts is None:
        raise image_not_found(image_id)
    fields = {F_TIMESTAMP: ts.decode()}
    if lux is not None:
        fields[F_LUX] = lux.decode()
    out: dict[str, Any] = {"previous": None, "next": None}
    if all(level.field in fields for level in order.levels):
        try:
            cursor = Cursor.of_row(Row(image_id, fields), order)
        except ValueError:
            return out
        lst = lister()
        for name, direction in (("next", order), ("previous", order.reversed())):
            rows = lst.after(lst.base_parts(flt, direction), direction, cursor, 1)
            found = images.summaries(rows)
            out[name] = found[0] if found else None
    return out


@bp.get("/api/stats")
@bp.response(200, schemas.Stats)
def api_stats() -> dict[str, Any]:
    """Image count, Redis memory used and maxmemory, oldest and newest image."""
    return stats()


@bp.get("/api/cameras")
@bp.response(200, schemas.Cameras)
def api_cameras() -> dict[str, Any]:
    """Cameras with online state (heartbeat) and last capture."""
    return {"cameras": cameras()}


@bp.get("/api/facets")
@bp.response(200, schemas.Facets)
def api_facets() -> dict[str, Any]:
    """The camera and trigger values to filter on."""
    return facets()


@bp.get("/api/chart")
@bp.arguments(schemas.ChartQuery, location="query", as_kwargs=False)
@bp.response(200, schemas.Chart)
@bp.errors(400)
def api_chart(args: dict[str, Any]) -> dict[str, Any]:
    """Average, min and max lux per time bucket for the filter (FT.AGGREGATE)."""
    return chart(args["filter"], args.get("buckets") or 60)


@bp.get("/api/events")
@bp.arguments(schemas.EventsQuery, location="query", as_kwargs=False)
@bp.arguments(schemas.EventsHeaders, location="headers", as_kwargs=False)
@bp.doc(responses={"200": {
            "description": "A text/event-stream. `image` events carry one picture exactly as "
                           "an item of /api/images (`#/components/schemas/ImageItem`), with "
                           "its stream id as the event id; `hello` gives the position, "
                           "`reset` asks to reload, `unavailable` says Redis is away.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
@bp.errors(400)
def api_events(args: dict[str, Any], _headers: dict[str, Any]) -> Response:
    """New images as Server-Sent Events, filtered like the list; resumable with Last-Event-ID."""
    return events.stream(args["filter"], args.get("stream_id") or args.get("position"))


@bp.get("/api/openapi.json")
@bp.doc(responses={"200": {"description": "OpenAPI 3.1.",
                           "content": {"application/json": {"schema": {"type": "object"}}}}})
def openapi() -> Response:
    """This document."""
    return jsonify(document(current_app))


@bp.get("/healthz")
@bp.response(200, schemas.Health)
@bp.alt_response(503, schema=schemas.Health, description="Not healthy; `message` says why and "
                                                         "how to fix it.")
def healthz() -> tuple[dict[str, Any], int]:
    """Health: Redis reachable, search module present, index present (200 or 503).

    Also the notifier, when one has run: stale (no status for 3 heartbeats) or a target
    retrying makes `status` "degraded" with a `message`, still 200: pictures are stored and
    shown; only notifications are late.
    """
    report: dict[str, Any] = {"redis": False, "search_module": False, "index": False}
    client = get_redis()
    try:
        client.ping()
        report["redis"] = True
        report["search_module"] = has_search_module(client)
        if report["search_module"]:
            try:
                client.ft(INDEX_NAME).info()
            except redis.ResponseError as exc:
                if not index.is_missing_index(exc):
                    raise
                index.forget_ready()
                index.ensure_ready()
            report["index"] = True
        report["notifier"] = retention.notifier_health(client)
    except redis.RedisError as exc:
        report["error"] = type(exc).__name__
    healthy = report["redis"] and report["search_module"] and report["index"]
    report["status"] = "ok" if healthy else "unavailable"
    if not healthy:
        report["message"] = _health_message(report)
    elif report["notifier"]["state"] in ("stale", "retrying"):
        report["status"] = "degraded"
        report["message"] = report["notifier"]["message"]
    archived.add_health(report, client)  # the archive: reported, "degraded" at worst
    return report, 200 if healthy else 503


def _health_message(report: dict[str, Any]) -> str:
    if not report["redis"]:
        return (f"Redis at {redis_where()} does not answer. Fix: start it, or correct REDIS_URL.")
    if not report["search_module"]:
        return (f"Redis at {redis_where()} has no search module. Fix: use Redis Stack "
                "(docker compose up -d) or the embedded Redis (make run).")
    return f"The {INDEX_NAME} index could not be created. Fix: check the Redis log."
