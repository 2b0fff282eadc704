"""The light chart: average, min and max lux per round time bucket (FT.AGGREGATE)."""

from __future__ import annotations

import math
from typing import Any

from pi.contract import F_LUX, F_TIMESTAMP, NUMBER_RANGES
from server.core.services import services
from server.search import SORTS, ImageFilter, filter_parts
from server.search.query import EXACT_DIALECT

from . import index
from .index import lister

#: Bucket widths the chart may use, in seconds: round numbers a person reads easily.
BUCKET_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
                2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 90 * 86400, 365 * 86400)


def bucket_seconds(span: float, buckets: int) -> int:
    """Return the smallest round bucket width that splits `span` into at most `buckets`."""
    for step in BUCKET_STEPS:
        if span / step <= buckets:
            return step
    return BUCKET_STEPS[-1]


def chart_args(flt: ImageFilter, step: int, max_buckets: int, timeout_ms: int) -> list:
    """Return FT.AGGREGATE arguments for avg/min/max lux per time bucket."""
    # Plausible values only: a lux or timestamp written as inf or 1e20 by redis-cli would
    # make a bucket no axis can draw.
    parts = filter_parts(flt.plausible()).narrow(F_LUX, *NUMBER_RANGES[F_LUX]).narrow(F_TIMESTAMP)
    return [
        parts.text(),
        "TIMEOUT", timeout_ms,
        "APPLY", f"floor(@{F_TIMESTAMP} / {step}) * {step}", "AS", "t",
        "GROUPBY", 1, "@t",
        "REDUCE", "AVG", 1, f"@{F_LUX}", "AS", "avg",
        "REDUCE", "MIN", 1, f"@{F_LUX}", "AS", "min",
        "REDUCE", "MAX", 1, f"@{F_LUX}", "AS", "max",
        "REDUCE", "COUNT", 0, "AS", "count",
        "SORTBY", 2, "@t", "ASC", "MAX", max_buckets + 2,
        "DIALECT", EXACT_DIALECT,
    ]


def chart(flt: ImageFilter, wanted: int) -> dict[str, Any]:
    """Return average, min and max lux per time bucket for the filter (FT.AGGREGATE)."""
    since, until = flt.since, flt.until
    if since is None or until is None:
        lst = lister()
        oldest = lst.first(flt.plausible(), SORTS["oldest"])
        newest = lst.first(flt.plausible(), SORTS["newest"])
        if oldest is None or newest is None:
            return {"bucket_seconds": None, "since": since, "until": until, "buckets": []}
        since = oldest.number(F_TIMESTAMP) if since is None else since
        until = newest.number(F_TIMESTAMP) if until is None else until
    step = bucket_seconds(max(until - since, 60.0), wanted)
    most = min(math.ceil((until - since) / step) + 1, 1000)
    rows = index.aggregate(chart_args(flt, step, most, services().settings.search_timeout_ms))
    buckets = []
    for row in rows:
        try:
            start = float(row["t"])
            buckets.append({"start": start, "end": start + step, "avg": round(float(row["avg"]), 2),
                            "min": float(row["min"]), "max": float(row["max"]),
                            "count": int(row["count"])})
        except (KeyError, ValueError):
            continue
    buckets.sort(key=lambda b: b["start"])
    return {"bucket_seconds": step, "since": since, "until": until, "buckets": buckets}
