"""Reading the gallery's request parameters; anything unusable is a 400 naming the parameter."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from pi.contract import CAMERA_NAME_RE

from .errors import bad_parameter
from .queries import DEFAULT_SORT, SORTS, Cursor, ImageFilter, Order

#: Trigger names share the camera names' safe alphabet.
TRIGGER_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
STREAM_ID_RE = re.compile(r"^\d{1,20}-\d{1,20}$")


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


#: Times outside this range (Unix seconds, years 1970 to 5138) are surely mistakes.
TIME_RANGE = (0.0, 1e11)


def number(args: Mapping[str, str], name: str, example: str,
           bounds: tuple[float, float] | None = None) -> float | None:
    """Return a finite number parameter (within `bounds`), None when absent or empty."""
    text = (args.get(name) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise bad_parameter(name, f"{name} must be a number, e.g. {name}={example}; got {_shown(text)}.")
    if bounds and not bounds[0] <= value <= bounds[1]:
        raise bad_parameter(name, f"{name} must be a Unix time in seconds, e.g. {name}={example}; "
                                  f"got {_shown(text)}.")
    return value


def name_param(args: Mapping[str, str], name: str, pattern: re.Pattern[str]) -> str | None:
    """Return a camera or trigger name; only letters, digits, '_' and '-' are accepted."""
    text = (args.get(name) or "").strip()
    if not text:
        return None
    if not pattern.match(text):
        raise bad_parameter(name, f"{name} must be 1 to 32 letters, digits, '_' or '-'; "
                                  f"got {_shown(text)}.")
    return text


def parse_filter(args: Mapping[str, str]) -> ImageFilter:
    """Return the filter in the request's query parameters."""
    flt = ImageFilter(
        since=number(args, "since", "1700000000", TIME_RANGE),
        until=number(args, "until", "1700003600", TIME_RANGE),
        camera=name_param(args, "camera", CAMERA_NAME_RE),
        trigger=name_param(args, "trigger", TRIGGER_RE),
        lux_min=number(args, "lux_min", "10"),
        lux_max=number(args, "lux_max", "500"),
    )
    if flt.since is not None and flt.until is not None and flt.since > flt.until:
        raise bad_parameter("since", "since must not be later than until; swap them.")
    if flt.lux_min is not None and flt.lux_max is not None and flt.lux_min > flt.lux_max:
        raise bad_parameter("lux_min", "lux_min must not be larger than lux_max; swap them.")
    return flt


def parse_sort(args: Mapping[str, str]) -> tuple[str, Order]:
    """Return the sort's name and order (newest by default)."""
    name = (args.get("sort") or DEFAULT_SORT).strip()
    if name not in SORTS:
        raise bad_parameter("sort", f"sort must be one of {', '.join(SORTS)}; got {_shown(name)}.")
    return name, SORTS[name]


def parse_limit(args: Mapping[str, str], default: int, maximum: int) -> int:
    """Return the page size, from 1 to `maximum`."""
    text = (args.get("limit") or "").strip()
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        raise bad_parameter("limit", f"limit must be a whole number from 1 to {maximum}; "
                                     f"got {_shown(text)}.")
    return int(text)


def parse_cursor(args: Mapping[str, str], order: Order) -> Cursor | None:
    """Return the keyset cursor, None on the first page."""
    text = (args.get("cursor") or "").strip()
    if not text:
        return None
    try:
        return Cursor.decode(text, order)
    except ValueError:
        raise bad_parameter("cursor", "cursor is not one this gallery made for this sort. "
                                      "Fix: start again from the first page.") from None


def parse_int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """Return a whole-number parameter within [low, high]."""
    text = (args.get(name) or "").strip()
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise bad_parameter(name, f"{name} must be a whole number from {low} to {high}; "
                                  f"got {_shown(text)}.")
    return int(text)


def stream_id(text: str | None, name: str) -> str | None:
    """Return a Redis stream id like `1700000000000-0`, None when absent."""
    text = (text or "").strip()
    if not text:
        return None
    if not STREAM_ID_RE.match(text):
        raise bad_parameter(name, f"{name} must be a stream id like 1700000000000-0; got {_shown(text)}.")
    return text
