"""Motion bursts, reviewed like events: consecutive motion pictures from one camera, each
less than `gap` seconds after the one before, make one burst. The gallery lists the bursts
of a filter with a strip of their pictures, and "mark reviewed" remembers a burst by its
first picture's id in the sorted set `REVIEWED_KEY` (pi/contract.py).

Limits: a listing reads at most `SCAN_MAX` motion pictures (the newest first are kept when
there are more) and answers at most `BURSTS_MAX` bursts, newest first; a review request
names at most 500 bursts.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import marshmallow as ma
from flask import url_for
from marshmallow import fields

from pi.contract import F_CAMERA, F_TIMESTAMP, REVIEWED_FORGET_AFTER, REVIEWED_KEY
from server.core.openapi import Blueprint, Param
from server.core.services import get_redis
from server.search import SORTS, BadParameter, Cursor, ImageFilter
from server.search.filters import shown

from . import schemas
from .bulk import IdsBody
from .index import lister

bp = Blueprint("bursts", __name__, description="Motion bursts, reviewed like events.")

#: Default and allowed seconds between two pictures of one burst.
GAP = 60
GAP_RANGE = (5, 3600)
SCAN_MAX = 5000
BURSTS_MAX = 200
STRIP = 6
_PAGE = 500


def _gap(text: str) -> int:
    low, high = GAP_RANGE
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadParameter("gap", f"gap must be a whole number of seconds from {low} to {high}; "
                                  f"got {shown(text)}.")
    return int(text)


BurstsQuery = schemas._schema("BurstsQuery", {
    "gap": Param(_gap, {"type": "integer", "minimum": GAP_RANGE[0], "maximum": GAP_RANGE[1], "default": GAP},
                 description="Seconds at most between two pictures of one burst."),
})


class Burst(ma.Schema):
    id = fields.String(required=True, metadata={"description": "The burst's first picture's id."})
    camera = fields.String(required=True, allow_none=True)
    start = fields.Float(required=True)
    end = fields.Float(required=True)
    count = fields.Integer(required=True)
    reviewed = fields.Boolean(required=True)
    thumbnails = fields.List(fields.String(), required=True,
                             metadata={"description": f"Up to {STRIP} thumbnails across the burst."})


class Bursts(ma.Schema):
    bursts = fields.List(fields.Nested(Burst), required=True)
    gap = fields.Integer(required=True)
    truncated = fields.Boolean(required=True)


class ReviewBody(IdsBody):
    """The bursts (their first picture's id) to mark reviewed, or not."""

    reviewed = fields.Boolean(load_default=True)


class Reviewed(ma.Schema):
    reviewed = fields.List(fields.String(), required=True)
    unreviewed = fields.List(fields.String(), required=True)


def _motion_newest_first(flt: ImageFilter) -> tuple[list[tuple[str, str, float]], bool]:
    """(id, camera, time) of the filter's motion pictures, newest first, at most SCAN_MAX."""
    motion = dataclasses.replace(flt, trigger="motion")
    order = SORTS["newest"]
    out: list[tuple[str, str, float]] = []
    cursor: Cursor | None = None
    while len(out) < SCAN_MAX:
        page = lister().page(motion, order, cursor, min(_PAGE, SCAN_MAX - len(out)))
        out += [(r.image_id, (r.fields.get(F_CAMERA) or "").lower(), r.number(F_TIMESTAMP))
                for r in page.rows]
        if page.next_cursor is None:
            return out, False
        cursor = page.next_cursor
    return out, True


def group(pictures: list[tuple[str, str, float]], gap: float) -> list[list[tuple[str, str, float]]]:
    """Group pictures (newest first) into bursts per camera; bursts newest first."""
    open_: dict[str, list[tuple[str, str, float]]] = {}
    done: list[list[tuple[str, str, float]]] = []
    for pic in pictures:
        current = open_.get(pic[1])
        if current is not None and current[-1][2] - pic[2] <= gap:
            current.append(pic)
            continue
        if current is not None:
            done.append(current)
        open_[pic[1]] = [pic]
    done += open_.values()
    return sorted(done, key=lambda b: b[0][2], reverse=True)


@bp.get("/api/bursts")
@bp.arguments(BurstsQuery, location="query", as_kwargs=False)
@bp.response(200, Bursts)
@bp.errors(400)
def bursts(args: dict[str, Any]) -> dict[str, Any]:
    """The motion bursts under a filter, newest first, with a strip of each and its review."""
    gap = args.get("gap") or GAP
    pictures, truncated = _motion_newest_first(args["filter"])
    found = group(pictures, gap)
    truncated = truncated or len(found) > BURSTS_MAX
    found = found[:BURSTS_MAX]
    firsts = [b[-1][0] for b in found]  # oldest picture of each burst: its stable id
    scores = get_redis().zmscore(REVIEWED_KEY, firsts) if firsts else []
    out = []
    for burst, first, score in zip(found, firsts, scores):
        oldest_first = burst[::-1]
        step = max(1, len(oldest_first) / STRIP)
        strip = [oldest_first[int(i * step)][0] for i in range(min(STRIP, len(oldest_first)))]
        out.append({"id": first, "camera": burst[0][1] or None, "start": oldest_first[0][2],
                    "end": oldest_first[-1][2], "count": len(burst), "reviewed": score is not None,
                    "thumbnails": [url_for("api.image_thumbnail", image_id=i, w=160) for i in strip]})
    return {"bursts": out, "gap": gap, "truncated": truncated}


@bp.post("/api/bursts/review")
@bp.arguments(ReviewBody, location="json", as_kwargs=False)
@bp.response(200, Reviewed)
@bp.errors(400)
def review(body: dict[str, Any]) -> dict[str, Any]:
    """Mark bursts reviewed (or not), by their first picture's id; at most 500 per request."""
    ids: list[str] = body["ids"]
    client = get_redis()
    pipe = client.pipeline(transaction=True)
    if body.get("reviewed", True):
        now = time.time()
        pipe.zadd(REVIEWED_KEY, dict.fromkeys(ids, now))
        pipe.zremrangebyscore(REVIEWED_KEY, "-inf", now - REVIEWED_FORGET_AFTER)
        pipe.execute()
        return {"reviewed": ids, "unreviewed": []}
    pipe.zrem(REVIEWED_KEY, *ids)
    pipe.execute()
    return {"reviewed": [], "unreviewed": ids}


