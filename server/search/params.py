"""Reading request parameters for the query kit; anything unusable is a BadParameter naming it.

Flask-free: callers pass `request.args` (any mapping of strings); the web core turns a
BadParameter into the API's 400 `{"error": {"code": "bad_parameter", "parameter", "message"}}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .filters import BadParameter, parse_filter, shown
from .query import DEFAULT_SORT, SORTS, Cursor, Order

__all__ = ["BadParameter", "parse_cursor", "parse_filter", "parse_int", "parse_sort", "stream_id"]

STREAM_ID_RE = re.compile(r"^\d{1,20}-\d{1,20}$")


def parse_sort(args: Mapping[str, str]) -> tuple[str, Order]:
    """Return the sort's name and order (newest by default)."""
    name = (args.get("sort") or DEFAULT_SORT).strip()
    if name not in SORTS:
        raise BadParameter("sort", f"sort must be one of {', '.join(SORTS)}; got {shown(name)}.")
    return name, SORTS[name]


def parse_cursor(args: Mapping[str, str], order: Order) -> Cursor | None:
    """Return the keyset cursor, None on the first page."""
    text = (args.get("cursor") or "").strip()
    if not text:
        return None
    try:
        return Cursor.decode(text, order)
    except ValueError:
        raise BadParameter("cursor", "cursor is not one this gallery made for this sort. "
                                     "Fix: start again from the first page.") from None


def parse_int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """Return a whole-number parameter within [low, high]."""
    text = (args.get(name) or "").strip()
    if not text:
        return default
    # isascii: '²' and other Unicode digits pass isdigit() but not int().
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise BadParameter(name, f"{name} must be a whole number from {low} to {high}; "
                                 f"got {shown(text)}.")
    return int(text)


def stream_id(text: str | None, name: str) -> str | None:
    """Return a Redis stream id like `1700000000000-0`, None when absent."""
    text = (text or "").strip()
    if not text:
        return None
    # Redis stream ids are two unsigned 64-bit numbers: a bigger one would pass the pattern,
    # then fail in Redis as "unreachable" and make the browser reconnect for ever.
    if not STREAM_ID_RE.match(text) or any(int(part) >= 2**64 for part in text.split("-")):
        raise BadParameter(name, f"{name} must be a stream id like 1700000000000-0; got {shown(text)}.")
    return text
