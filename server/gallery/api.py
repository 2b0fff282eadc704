"""The JSON API under /api/ (everything the page does), and /healthz."""

from __future__ import annotations

import math
from typing import Any

import redis
from flask import Blueprint, Response, current_app, jsonify, request

from pi.contract import F_LUX, F_TIMESTAMP, INDEX_NAME, has_search_module
from server.core.errors import bad_parameter, image_not_found
from server.core.openapi import document
from server.core.services import get_redis, redis_where, services
from server.core.settings import MAX_PAGE_SIZE
from server.search import Cursor, Row
from server.search.params import parse_cursor, parse_filter, parse_limit, parse_sort

from . import events, images, index
from .chart import chart
from .index import lister
from .stats import cameras, facets, stats

bp = Blueprint("api", __name__)


@bp.get("/api/images")
def list_images() -> Response:
    """List images, newest first by default, with filters and keyset paging."""
    flt = parse_filter(request.args)
    sort_name, order = parse_sort(request.args)
    limit = parse_limit(request.args, services().settings.page_size, MAX_PAGE_SIZE)
    cursor = parse_cursor(request.args, order)
    # Read the stream position first: an image stored meanwhile is then both listed and
    # announced (the page drops the duplicate), never neither.
    stream_position = events.latest_id(get_redis())
    page = lister().page(flt, order, cursor, limit)
    body: dict[str, Any] = {
        "images": [images.summary(row.image_id, row.fields) for row in page.rows],
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
    return jsonify(body)


@bp.get("/api/images/<image_id>")
def image_detail(image_id: str) -> Response:
    """Return every metadata field of one image, and its time to live."""
    return jsonify(images.detail(image_id))


@bp.delete("/api/images/<image_id>")
def image_delete(image_id: str) -> Response:
    """Delete one image."""
    images.delete(image_id)
    return jsonify(deleted=image_id)


@bp.get("/api/images/<image_id>/image")
def image_original(image_id: str) -> Response:
    """Serve the full image (`?download=1` adds a file name for saving)."""
    return images.original(image_id, download=request.args.get("download") in ("1", "true"))


@bp.get("/api/images/<image_id>/thumbnail")
def image_thumbnail(image_id: str) -> Response:
    """Serve the thumbnail, made and cached on first request for hashes without one."""
    return images.thumbnail(image_id)


@bp.post("/api/images/<image_id>/keep")
def image_keep(image_id: str) -> Response:
    """Keep an image for ever (PERSIST); the answer says when it would have expired."""
    previous = images.keep(image_id)
    return jsonify(id=image_id, kept=True, previous_expires_at=previous)


@bp.post("/api/images/<image_id>/expire")
def image_expire(image_id: str) -> Response:
    """Give an image an expiry again (undo of keep): JSON body {"expires_at": unix seconds}."""
    body = request.get_json(silent=True)
    value = body.get("expires_at") if isinstance(body, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_parameter("expires_at", "expires_at must be a Unix time in seconds in a JSON body, "
                                          'e.g. {"expires_at": 1700003600}.')
    when = images.expire_at(image_id, float(value))
    return jsonify(id=image_id, kept=False, expires_at=when)


@bp.get("/api/images/<image_id>/neighbors")
def image_neighbors(image_id: str) -> Response:
    """Return the images before and after this one under the given filter and sort."""
    flt = parse_filter(request.args)
    _, order = parse_sort(request.args)
    key = images.key_for(image_id)
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
            return jsonify(out)
        lst = lister()
        for name, direction in (("next", order), ("previous", order.reversed())):
            rows = lst.after(lst.base_parts(flt, direction), direction, cursor, 1)
            out[name] = images.summary(rows[0].image_id, rows[0].fields) if rows else None
    return jsonify(out)


@bp.get("/api/stats")
def api_stats() -> Response:
    """Return the image count, Redis memory, and the oldest and newest image."""
    return jsonify(stats())


@bp.get("/api/cameras")
def api_cameras() -> Response:
    """Return each camera with its heartbeat: online or offline, last capture."""
    return jsonify(cameras=cameras())


@bp.get("/api/facets")
def api_facets() -> Response:
    """Return the cameras and triggers the filter menus offer."""
    return jsonify(facets())


@bp.get("/api/chart")
def api_chart() -> Response:
    """Return average, min and max lux per time bucket for the filter (FT.AGGREGATE)."""
    return jsonify(chart(request.args))


@bp.get("/api/events")
def api_events() -> Response:
    """Stream new images as Server-Sent Events (resumable with Last-Event-ID)."""
    return events.stream()


@bp.get("/api/openapi.json")
def openapi() -> Response:
    """Return the OpenAPI document describing this API."""
    return jsonify(document(current_app))


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Report whether Redis answers, has the search module and has the index (200 or 503)."""
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
    except redis.RedisError as exc:
        report["error"] = type(exc).__name__
    healthy = report["redis"] and report["search_module"] and report["index"]
    report["status"] = "ok" if healthy else "unavailable"
    if not healthy:
        report["message"] = _health_message(report)
    return jsonify(report), 200 if healthy else 503


def _health_message(report: dict[str, Any]) -> str:
    if not report["redis"]:
        return (f"Redis at {redis_where()} does not answer. Fix: start it, or correct REDIS_URL.")
    if not report["search_module"]:
        return (f"Redis at {redis_where()} has no search module. Fix: use Redis Stack "
                "(docker compose up -d) or the embedded Redis (make run).")
    return f"The {INDEX_NAME} index could not be created. Fix: check the Redis log."
