"""The filters, declared once: each is a small class that reads its query parameter, adds its
part to an FT query, tests a picture in Python (for the event stream), and describes itself
to the OpenAPI document. The list, the events, the chart, the neighbours, the time-lapse and
`/api/openapi.json` all use `FILTERS`; adding a filter here adds it everywhere.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from pi.contract import (
    CAMERA_NAME_RE,
    F_CAMERA,
    F_FULL_UNTIL,
    F_LUX,
    F_TIMESTAMP,
    F_TRIGGER,
    TIMESTAMP_RANGE,
    ImageRecord,
)

from .parts import QueryParts

#: Trigger names share the camera names' safe alphabet.
TRIGGER_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
#: Times outside this range (Unix seconds, years 1970 to 5138) are surely mistakes.
TIME_RANGE = (0.0, 1e11)


class BadParameter(ValueError):
    """A query or body parameter the server cannot use; the message names it and the fix."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message


def shown(value: str) -> str:
    """Return a user's value for an error message, cut short."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


@dataclass(frozen=True)
class ImageFilter:
    """What the user narrowed the gallery to; every value already validated."""

    since: float | None = None
    until: float | None = None
    camera: str | None = None
    trigger: str | None = None
    lux_min: float | None = None
    lux_max: float | None = None
    full_size: bool | None = None

    def plausible(self) -> ImageFilter:
        """Return this filter within the times a camera can have taken a picture (the
        contract's TIMESTAMP_RANGE), for the gallery's edges: its oldest and newest picture,
        a camera's last capture, the chart's span. A timestamp in milliseconds or 1e300
        written by redis-cli then can't stretch them to the year 58000."""
        low, high = TIMESTAMP_RANGE
        return replace(self, since=max(self.since if self.since is not None else low, low),
                       until=min(self.until if self.until is not None else high, high))

    def is_empty(self) -> bool:
        """Tell whether nothing is filtered."""
        return all(getattr(self, f.name) is None for f in fields(self))

    def matches(self, record: ImageRecord) -> bool:
        """Tell whether a picture passes this filter, as the FT query would decide."""
        return all(f.matches(getattr(self, f.name), record) for f in FILTERS
                   if getattr(self, f.name) is not None)


class Filter:
    """One filter parameter: name, index field, how it parses, queries, matches, documents."""

    name: str
    field: str
    description: str

    def parse(self, text: str) -> Any:
        """Return the value of non-empty `text`, or raise BadParameter."""
        raise NotImplementedError

    def narrow(self, parts: QueryParts, value: Any) -> None:
        """Add this filter's condition to `parts`."""
        raise NotImplementedError

    def matches(self, value: Any, record: ImageRecord) -> bool:
        """Tell whether `record` passes this filter with `value`."""
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        """Return the JSON schema of the parameter."""
        raise NotImplementedError


@dataclass(frozen=True)
class Bound(Filter):
    """A number the field must be at least (`low`) or at most (not `low`)."""

    name: str
    field: str
    low: bool
    example: str
    description: str
    is_time: bool = False

    def parse(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise BadParameter(self.name, f"{self.name} must be a number, e.g. {self.name}="
                                          f"{self.example}; got {shown(text)}.")
        if self.is_time and not TIME_RANGE[0] <= value <= TIME_RANGE[1]:
            raise BadParameter(self.name, f"{self.name} must be a Unix time in seconds, e.g. "
                                          f"{self.name}={self.example}; got {shown(text)}.")
        return value

    def narrow(self, parts: QueryParts, value: float) -> None:
        if self.low:
            parts.narrow(self.field, low=value)
        else:
            parts.narrow(self.field, high=value)

    def matches(self, value: float, record: ImageRecord) -> bool:
        have = getattr(record, self.field, None)
        if have is None:
            return False
        return have >= value if self.low else have <= value

    def schema(self) -> dict[str, Any]:
        if self.is_time:
            return {"type": "number", "minimum": TIME_RANGE[0], "maximum": TIME_RANGE[1]}
        return {"type": "number"}


@dataclass(frozen=True)
class Tag(Filter):
    """An exact tag value (RediSearch compares tags without case)."""

    name: str
    field: str
    pattern: re.Pattern[str]
    description: str

    def parse(self, text: str) -> str:
        if not self.pattern.match(text):
            raise BadParameter(self.name, f"{self.name} must be 1 to 32 letters, digits, '_' or '-'; "
                                          f"got {shown(text)}.")
        return text

    def narrow(self, parts: QueryParts, value: str) -> None:
        parts.tags[self.field] = value

    def matches(self, value: str, record: ImageRecord) -> bool:
        have = getattr(record, self.field, None)
        return isinstance(have, str) and have.lower() == value.lower()

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": self.pattern.pattern}


@dataclass(frozen=True)
class FullSize(Filter):
    """Whether the full-size picture is still there (issue 9's tiers): yes or no.

    Decided by the indexed `full_until` (when the full size goes or went; `inf` while kept)
    against the time of the query. A picture without `full_until` (the reference's, whose
    whole key expires at once) counts as having its full size.
    """

    name: str
    field: str
    description: str

    TRUE = ("1", "true", "yes")
    FALSE = ("0", "false", "no")

    def parse(self, text: str) -> bool:
        if text.lower() in self.TRUE:
            return True
        if text.lower() in self.FALSE:
            return False
        raise BadParameter(self.name, f"{self.name} must be 1 (only pictures with their full size) "
                                      f"or 0 (only thumbnail-only ones); got {shown(text)}.")

    def narrow(self, parts: QueryParts, value: bool) -> None:
        parts.not_before_now(self.field, value)

    def matches(self, value: bool, record: ImageRecord) -> bool:
        until = getattr(record, self.field, None)
        has = until is None or until >= time.time()
        return has == value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": ["1", "0", "true", "false", "yes", "no"]}


FILTERS: tuple[Filter, ...] = (
    Bound("since", F_TIMESTAMP, True, "1700000000",
          "Only images taken at or after this Unix time (seconds).", is_time=True),
    Bound("until", F_TIMESTAMP, False, "1700003600",
          "Only images taken at or before this Unix time (seconds).", is_time=True),
    Tag("camera", F_CAMERA, CAMERA_NAME_RE, "Only this camera."),
    Tag("trigger", F_TRIGGER, TRIGGER_RE, "Only this trigger (interval, sensor, motion, manual)."),
    Bound("lux_min", F_LUX, True, "10", "Only images at least this bright."),
    Bound("lux_max", F_LUX, False, "500", "Only images at most this bright."),
    FullSize("full_size", F_FULL_UNTIL, "1: only pictures whose full size is still there "
             "(not yet expired, trimmed or stored as a near-duplicate); 0: only thumbnail-only ones."),
)
#: Pairs that must not cross: (lower, upper, the message naming the fix).
ORDERED_PAIRS = (
    ("since", "until", "since must not be later than until; swap them."),
    ("lux_min", "lux_max", "lux_min must not be larger than lux_max; swap them."),
)
assert [f.name for f in FILTERS] == [f.name for f in fields(ImageFilter)], "FILTERS and ImageFilter differ"


def parse_filter(args: Mapping[str, str]) -> ImageFilter:
    """Return the filter in the request's query parameters (BadParameter names a bad one)."""
    values: dict[str, Any] = {}
    for flt in FILTERS:
        text = (args.get(flt.name) or "").strip()
        values[flt.name] = flt.parse(text) if text else None
    for low, high, message in ORDERED_PAIRS:
        if values[low] is not None and values[high] is not None and values[low] > values[high]:
            raise BadParameter(low, message)
    return ImageFilter(**values)


def filter_parts(flt: ImageFilter) -> QueryParts:
    """Return the query parts for a filter (tag values escaped, numbers formatted)."""
    parts = QueryParts()
    for one in FILTERS:
        value = getattr(flt, one.name)
        if value is not None:
            one.narrow(parts, value)
    return parts
