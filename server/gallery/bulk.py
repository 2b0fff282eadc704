"""Many pictures at once: bulk delete, keep and let-expire; zip downloads; the timeline.

Limits (documented in the README and the OpenAPI document):

- a bulk action takes at most `BULK_MAX` ids per request (the page sends larger selections
  in several requests);
- a zip is streamed as it is built: one picture at a time is read from Redis and sent on, so
  the gallery never holds the archive in memory or on disk. A download is split into parts
  of at most `part_mb` megabytes (default `PART_MB`, like Immich's archive size) and
  `ARCHIVE_MAX_PICTURES` pictures; `/api/archive/plan` lists the parts of a whole filter;
- the timeline counts pictures per hour with one FT.AGGREGATE, at most `TIMELINE_MAX_HOURS`
  hours (the newest are kept when there are more).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode

import marshmallow as ma
import redis
from flask import Response, stream_with_context, url_for
from marshmallow import fields

from pi import contract
from pi.contract import (
    F_CAMERA,
    F_IMAGE_DATA,
    F_MIME_TYPE,
    F_SIZE,
    F_TIMESTAMP,
    image_key,
    is_valid_image_id,
)
from server.core.openapi import Blueprint, Param
from server.core.services import get_redis, services
from server.search import SORTS, BadParameter, Cursor, ImageFilter, filter_parts
from server.search.filters import shown

from . import images, index, schemas
from .index import lister
from .zipstream import Entry, stream_zip

logger = logging.getLogger(__name__)
bp = Blueprint("bulk", __name__, description="Many pictures at once.")
BINARY = {"type": "string", "format": "binary"}

#: Ids one bulk request may name.
BULK_MAX = 500
#: Default and largest size of one zip part, in megabytes.
PART_MB = 2048
PART_MB_RANGE = (1, 4096)
#: Pictures in one zip part, and in one plan (narrow the filter beyond that).
ARCHIVE_MAX_PICTURES = 10_000
PLAN_MAX_PICTURES = 100_000
#: Hours the timeline counts at most.
TIMELINE_MAX_HOURS = 24 * 400
#: Zip parts are in time order, oldest first, so their files read as the day went.
ARCHIVE_ORDER = "oldest"
_PLAN_PAGE = 500


# --- Requests ----------------------------------------------------------------------------


IDS_HELP = 'ids must be a list of image ids, e.g. {"ids": ["garden:1700000000000-ab12"]}.'


def _ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise BadParameter("ids", IDS_HELP)
    if len(value) > BULK_MAX:
        raise BadParameter("ids", f"ids may name at most {BULK_MAX} images per request; got {len(value)}. "
                                  "Fix: send the rest in another request.")
    bad = [v for v in value if not is_valid_image_id(v)]
    if bad:
        raise BadParameter("ids", f"ids holds something that is not an image id: {shown(bad[0])}.")
    return list(dict.fromkeys(value))


class IdsBody(ma.Schema):
    """The images to act on."""

    class Meta:
        unknown = ma.EXCLUDE

    ids = Param(_ids, {"type": "array", "items": {"type": "string"}, "maxItems": BULK_MAX,
                       "minItems": 1}, strip=False, required=True,
                error_messages={"required": IDS_HELP.replace("{", "{{").replace("}", "}}")},
                description=f"Image ids, at most {BULK_MAX}.")


def _expiries(value: Any) -> list[tuple[str, float]]:
    message = ('items must be a list of {"id", "expires_at"} objects, e.g. {"items": '
               '[{"id": "garden:1700000000000-ab12", "expires_at": 1700003600}]}.')
    if not isinstance(value, list) or not value or len(value) > BULK_MAX:
        raise BadParameter("items", message if len(value or []) <= BULK_MAX else
                           f"items may name at most {BULK_MAX} images per request.")
    out = []
    for item in value:
        if not isinstance(item, dict) or not is_valid_image_id(str(item.get("id", ""))):
            raise BadParameter("items", message)
        when = item.get("expires_at")
        if isinstance(when, bool) or not isinstance(when, int | float) or not math.isfinite(when):
            raise BadParameter("items", message)
        out.append((str(item["id"]), float(when)))
    return out


class ExpiriesBody(ma.Schema):
    """When each image should expire again (the undo of a bulk keep, or "let them expire")."""

    class Meta:
        unknown = ma.EXCLUDE

    items = Param(_expiries, {"type": "array", "maxItems": BULK_MAX, "items": {
        "type": "object", "properties": {"id": {"type": "string"}, "expires_at": {"type": "number"}}}},
        strip=False, required=True, error_messages={"required": "items must be a list of "
                                                    '{{"id", "expires_at"}} objects.'},
        description=f"At most {BULK_MAX} images and their new expiry (Unix seconds).")


def _part_mb(text: str) -> int:
    low, high = PART_MB_RANGE
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadParameter("part_mb", f"part_mb must be a whole number of megabytes from {low} to {high}; "
                                      f"got {shown(text)}.")
    return int(text)


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= ARCHIVE_MAX_PICTURES:
        raise BadParameter("count", f"count must be a whole number from 1 to {ARCHIVE_MAX_PICTURES}; "
                                    f"got {shown(text)}.")
    return int(text)


def _archive_ids(text: str) -> list[str]:
    return _ids([v for v in text.split(",") if v])


PlanQuery = schemas._schema("ArchivePlanQuery", {
    "part_mb": Param(_part_mb, {"type": "integer", "minimum": PART_MB_RANGE[0], "maximum": PART_MB_RANGE[1],
                                "default": PART_MB}, description="Largest part, in megabytes."),
})
ArchiveQuery = schemas._schema("ArchiveQuery", {
    "ids": Param(_archive_ids, {"type": "string"}, description=f"Comma-separated image ids (at most "
                 f"{BULK_MAX}); without it, the pictures of the filter, oldest first."),
    "cursor": Param(str, {"type": "string", "maxLength": 200},
                    description="Start after this position (a part's `cursor` from the plan)."),
    "count": Param(_count, {"type": "integer", "minimum": 1, "maximum": ARCHIVE_MAX_PICTURES},
                   description="How many pictures this part holds (from the plan)."),
    "part": Param(_count, {"type": "integer", "minimum": 1}, description="Part number, for the file name."),
})
TimelineQuery = schemas._schema("TimelineQuery", {})


# --- Answers -----------------------------------------------------------------------------


class Missing(ma.Schema):
    missing = fields.List(fields.String(), required=True,
                          metadata={"description": "Ids that were not there (expired or deleted)."})


class BulkDeleted(Missing):
    deleted = fields.List(fields.String(), required=True)


class KeptItem(ma.Schema):
    id = fields.String(required=True)
    previous_expires_at = fields.Float(required=True, allow_none=True)


class BulkKept(Missing):
    kept = fields.List(fields.Nested(KeptItem), required=True)


class ExpiringItem(ma.Schema):
    id = fields.String(required=True)
    expires_at = fields.Float(required=True)


class BulkExpiring(Missing):
    expiring = fields.List(fields.Nested(ExpiringItem), required=True)


class Part(ma.Schema):
    part = fields.Integer(required=True)
    count = fields.Integer(required=True)
    bytes = fields.Integer(required=True)
    first = fields.Float(required=True, metadata={"description": "Time of its first picture."})
    last = fields.Float(required=True, metadata={"description": "Time of its last picture."})
    url = fields.String(required=True, metadata={"description": "GET it to download the zip."})


class Plan(ma.Schema):
    count = fields.Integer(required=True)
    bytes = fields.Integer(required=True)
    part_mb = fields.Integer(required=True)
    truncated = fields.Boolean(required=True, metadata={
        "description": f"More than {PLAN_MAX_PICTURES} pictures match: only those are planned."})
    parts = fields.List(fields.Nested(Part), required=True)


class Timeline(ma.Schema):
    hours = fields.List(fields.List(fields.Float()), required=True, metadata={
        "description": "[hour start (Unix seconds), pictures] for every hour that has any, oldest first."})
    truncated = fields.Boolean(required=True)


# --- Bulk actions --------------------------------------------------------------------------


@bp.post("/api/images/bulk/delete")
@bp.arguments(IdsBody, location="json", as_kwargs=False)
@bp.response(200, BulkDeleted)
@bp.errors(400)
def bulk_delete(body: dict[str, Any]) -> dict[str, Any]:
    """Delete up to 500 images in one round trip."""
    ids = body["ids"]
    pipe = get_redis().pipeline(transaction=False)
    for image_id in ids:
        pipe.delete(image_key(image_id))
    done = pipe.execute()
    return {"deleted": [i for i, n in zip(ids, done) if n],
            "missing": [i for i, n in zip(ids, done) if not n]}


@bp.post("/api/images/bulk/keep")
@bp.arguments(IdsBody, location="json", as_kwargs=False)
@bp.response(200, BulkKept)
@bp.errors(400)
def bulk_keep(body: dict[str, Any]) -> dict[str, Any]:
    """Keep up to 500 images for ever, full size too (`contract.keep`, as the single Keep);
    each answer carries its old expiry, for undo."""
    client = get_redis()
    kept, missing = [], []
    for image_id in body["ids"]:
        result = _quietly(contract.keep, client, image_id)
        if result is None:
            missing.append(image_id)
        else:
            kept.append({"id": image_id, "previous_expires_at": result.would_have_expired})
    return {"kept": kept, "missing": missing}


@bp.post("/api/images/bulk/expire")
@bp.arguments(ExpiriesBody, location="json", as_kwargs=False)
@bp.response(200, BulkExpiring)
@bp.errors(400)
def bulk_expire(body: dict[str, Any]) -> dict[str, Any]:
    """Give up to 500 kept images their planned expiries back (`contract.let_expire`, as the
    single "Let it expire"); the `expires_at` given is used only for a picture without a
    plan (the reference's), never sooner than 10 s from now."""
    client = get_redis()
    now = time.time()
    expiring, missing = [], []
    for image_id, when in body["items"]:
        fallback = max(when - now, contract.MIN_LET_EXPIRE_SECONDS)
        result = _quietly(contract.let_expire, client, image_id, fallback=fallback)
        if result is None:
            missing.append(image_id)
        else:
            expiring.append({"id": image_id, "expires_at": round(result.expires_at, 3)})
    return {"expiring": expiring, "missing": missing}


def _quietly(action, client: redis.Redis, image_id: str, **kwargs):
    """Run a keep or let-expire; a key of another type (redis-cli) counts as missing."""
    try:
        return action(client, image_id, **kwargs)
    except redis.ResponseError as exc:
        if "WRONGTYPE" not in str(exc):
            raise
        return None


# --- Zip downloads -------------------------------------------------------------------------


def _sizes(rows: list) -> list[int]:
    """Bytes of each row's picture: its size_bytes, else (reference hashes) HSTRLEN."""
    unknown = [r for r in rows if not r.fields.get(F_SIZE, "").isdigit()]
    measured: dict[str, int] = {}
    if unknown:
        pipe = get_redis().pipeline(transaction=False)
        for row in unknown:
            pipe.hstrlen(image_key(row.image_id), F_IMAGE_DATA)
        measured = {row.image_id: int(n) for row, n in zip(unknown, pipe.execute())}
    return [measured[r.image_id] if r.image_id in measured else int(r.fields[F_SIZE]) for r in rows]


def _filter_args(flt: ImageFilter) -> dict[str, str]:
    return {name: repr(value) if isinstance(value, float) else str(value)
            for name, value in vars(flt).items() if value is not None}


@bp.get("/api/archive/plan")
@bp.arguments(PlanQuery, location="query", as_kwargs=False)
@bp.response(200, Plan)
@bp.errors(400)
def archive_plan(args: dict[str, Any]) -> dict[str, Any]:
    """The zip parts that download every picture of a filter, split by size."""
    flt: ImageFilter = args["filter"]
    part_mb = args.get("part_mb") or PART_MB
    limit = part_mb * 1_000_000
    order = SORTS[ARCHIVE_ORDER]
    parts: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    start: Cursor | None = None
    cursor: Cursor | None = None
    total = count = 0
    truncated = False
    base = _filter_args(flt)
    while True:
        page = lister().page(flt, order, cursor, _PLAN_PAGE)
        for row, size in zip(page.rows, _sizes(page.rows)):
            if count >= PLAN_MAX_PICTURES:
                truncated = True
                break
            if current is None or (current["count"] and (current["bytes"] + size > limit
                                                        or current["count"] >= ARCHIVE_MAX_PICTURES)):
                current = {"part": len(parts) + 1, "count": 0, "bytes": 0,
                           "first": row.number(F_TIMESTAMP),
                           "cursor": start.encode() if start else None}
                parts.append(current)
            current["count"] += 1
            current["bytes"] += size
            current["last"] = row.number(F_TIMESTAMP)
            start = Cursor.of_row(row, order)
            count += 1
            total += size
        if truncated or page.next_cursor is None:
            break
        cursor = page.next_cursor
    for part in parts:
        query = {**base, "count": str(part["count"]), "part": str(part["part"])}
        cursor_text = part.pop("cursor")
        if cursor_text is not None:
            query["cursor"] = cursor_text
        part["url"] = url_for("bulk.archive") + "?" + urlencode(query)
    return {"count": count, "bytes": total, "part_mb": part_mb, "truncated": truncated, "parts": parts}


def _archive_name(flt: ImageFilter, part: int | None) -> str:
    when = datetime.fromtimestamp(time.time(), tz=UTC).strftime("%Y-%m-%d_%H-%M")
    name = f"pictures_{flt.camera or 'all'}_{when}"
    return name + (f"_part{part}" if part else "") + ".zip"


def _entries(rows_iter: Iterator[tuple[str, dict[str, str]]]) -> Iterator[Entry]:
    client = get_redis()
    seen: set[str] = set()
    for image_id, fields_ in rows_iter:
        ts = contract.parse_timestamp(fields_.get(F_TIMESTAMP))  # None: a hash another writer broke
        ext = images.SAFE_MIME_TYPES.get(fields_.get(F_MIME_TYPE) or "image/jpeg", "jpg")
        name = images.download_name(fields_.get(F_CAMERA), ts, ext)
        if name in seen:
            name = name.rsplit(".", 1)[0] + "_" + image_id.rsplit("-", 1)[-1].replace(":", "_") + "." + ext
        seen.add(name)
        yield Entry(name, time.time() if ts is None else ts, partial(_picture, client, image_key(image_id)))


def _picture(client: redis.Redis, key: str) -> bytes | None:
    """The picture's bytes: from Redis, else from the archive of originals (when its full size
    has left Redis), else None (it went away: MISSING.txt names it)."""
    data = client.hget(key, F_IMAGE_DATA)
    if isinstance(data, bytes):
        return data
    try:
        from .archived import serve_original

        served = serve_original(key.removeprefix("image:"), False)
        if served is None or served.status_code != 200:
            return None
        return b"".join(served.iter_encoded())
    except Exception as exc:  # an archive that is away is a missing picture, not a broken zip
        logger.warning("Cannot read %s from the archive for a zip: %s", key, type(exc).__name__)
        return None


@bp.get("/api/archive")
@bp.arguments(ArchiveQuery, location="query", as_kwargs=False)
@bp.doc(responses={"200": {"description": "A zip of the pictures, streamed as it is built.",
                           "content": {"application/zip": {"schema": BINARY}}}})
@bp.errors(400)
def archive(args: dict[str, Any]) -> Response:
    """Download pictures as one zip: the ids given, or a part of a filter (see the plan)."""
    flt: ImageFilter = args["filter"]
    order = SORTS[ARCHIVE_ORDER]
    ids = args.get("ids")
    if ids:
        client = get_redis()
        pipe = client.pipeline(transaction=False)
        for image_id in ids:
            pipe.hmget(image_key(image_id), F_TIMESTAMP, F_CAMERA, F_MIME_TYPE)
        found = [(i, {F_TIMESTAMP: t.decode() if t else "0", F_CAMERA: c.decode() if c else "",
                      F_MIME_TYPE: m.decode() if m else "image/jpeg"})
                 for i, (t, c, m) in zip(ids, pipe.execute())]
        rows_iter: Iterator[tuple[str, dict[str, str]]] = iter(found)
        name = _archive_name(flt, None)
    else:
        count = args.get("count") or ARCHIVE_MAX_PICTURES
        cursor = None
        if args.get("cursor"):
            try:
                cursor = Cursor.decode(args["cursor"], order)
            except ValueError:
                raise BadParameter("cursor", "cursor is not one this gallery made. Fix: ask "
                                             "/api/archive/plan for the parts again.") from None

        def walk(cursor: Cursor | None = cursor, left: int = count) -> Iterator[tuple[str, dict[str, str]]]:
            while left > 0:
                page = lister().page(flt, order, cursor, min(left, _PLAN_PAGE))
                for row in page.rows:
                    yield row.image_id, row.fields
                left -= len(page.rows)
                if page.next_cursor is None or not page.rows:
                    return
                cursor = page.next_cursor

        rows_iter = walk()
        name = _archive_name(flt, args.get("part"))
    body = stream_with_context(stream_zip(_entries(rows_iter)))
    response = Response(body, mimetype="application/zip", direct_passthrough=True)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# --- Timeline ------------------------------------------------------------------------------


@bp.get("/api/timeline")
@bp.arguments(TimelineQuery, location="query", as_kwargs=False)
@bp.response(200, Timeline)
@bp.errors(400)
def timeline(args: dict[str, Any]) -> dict[str, Any]:
    """Pictures per hour under a filter (one FT.AGGREGATE), for the calendar and scrubber."""
    flt: ImageFilter = args["filter"]
    parts = filter_parts(flt).narrow(F_TIMESTAMP)
    rows = index.aggregate([
        parts.text(), "TIMEOUT", services().settings.search_timeout_ms,
        "APPLY", f"floor(@{F_TIMESTAMP} / 3600) * 3600", "AS", "h",
        "GROUPBY", 1, "@h", "REDUCE", "COUNT", 0, "AS", "n",
        "SORTBY", 2, "@h", "DESC", "MAX", TIMELINE_MAX_HOURS + 1,
        "DIALECT", 2,
    ])
    hours = [[float(r["h"]), float(r["n"])] for r in rows if "h" in r and "n" in r]
    truncated = len(hours) > TIMELINE_MAX_HOURS
    return {"hours": hours[:TIMELINE_MAX_HOURS][::-1], "truncated": truncated}
