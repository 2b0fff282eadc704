"""FT query text: numeric ranges intersected per field and exact tag values, all escaped.

Every query string is built here from validated numbers and escaped tag values, so nothing a
user types can change its meaning.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

from pi.contract import escape_tag


def format_number(value: float) -> str:
    """Return a number as query text that RediSearch parses to the same double."""
    if math.isnan(value):
        raise ValueError("NaN is not a usable bound")
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return repr(float(value))


@dataclass
class _Range:
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def narrow(self, low: float | None, high: float | None, low_open: bool, high_open: bool) -> None:
        if low is not None and (low > self.low or (low == self.low and low_open)):
            self.low, self.low_open = low, low_open
        if high is not None and (high < self.high or (high == self.high and high_open)):
            self.high, self.high_open = high, high_open

    def text(self) -> str:
        low = ("(" if self.low_open and math.isfinite(self.low) else "") + format_number(self.low)
        high = ("(" if self.high_open and math.isfinite(self.high) else "") + format_number(self.high)
        return f"[{low} {high}]"


@dataclass
class QueryParts:
    """Numeric ranges (intersected per field) and exact tag values, joined into a query string."""

    ranges: dict[str, _Range] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    #: Times compared with the moment the query runs: field -> True (the field is now or
    #: later, or missing) or False (earlier than now). See `not_before_now`.
    until_now: dict[str, bool] = field(default_factory=dict)

    def copy(self) -> QueryParts:
        """Return an independent copy."""
        return QueryParts({k: replace(v) for k, v in self.ranges.items()}, dict(self.tags),
                          dict(self.until_now))

    def not_before_now(self, name: str, later: bool) -> QueryParts:
        """Keep hashes whose time `name` is now or later (`later`; a hash without the field
        counts as later), or else earlier than now. Now is when `text()` runs; returns self.

        Later is `-@name:[-inf (now]`: RediSearch's negation also matches hashes that lack
        the field, which a range alone leaves out.
        """
        self.until_now[name] = later
        return self

    def narrow(self, name: str, low: float | None = None, high: float | None = None, *,
               low_open: bool = False, high_open: bool = False) -> QueryParts:
        """Intersect the range on `name` with [low, high] (or open ends); returns self."""
        self.ranges.setdefault(name, _Range()).narrow(low, high, low_open, high_open)
        return self

    def equal(self, name: str, value: float) -> QueryParts:
        """Restrict `name` to exactly `value`; returns self."""
        return self.narrow(name, value, value)

    def beyond(self, name: str, value: float, desc: bool) -> QueryParts:
        """Restrict `name` to values strictly after `value` in the given sort direction."""
        if desc:
            return self.narrow(name, high=value, high_open=True)
        return self.narrow(name, low=value, low_open=True)

    def without(self, name: str) -> QueryParts:
        """Return a copy without the range on `name`."""
        out = self.copy()
        out.ranges.pop(name, None)
        return out

    def set_range(self, name: str, low: float, high: float, low_open: bool,
                  high_open: bool) -> QueryParts:
        """Replace the range on `name`; returns self."""
        self.ranges[name] = _Range(low, high, low_open, high_open)
        return self

    def text(self) -> str:
        """Return the query string."""
        parts = [f"@{name}:{rng.text()}" for name, rng in self.ranges.items()]
        parts += [f"@{name}:{{{escape_tag(value)}}}" for name, value in self.tags.items()]
        now = format_number(round(time.time(), 3))
        parts += [f"{'-' if later else ''}@{name}:[-inf ({now}]" for name, later in self.until_now.items()]
        return " ".join(parts) or "*"

    def key(self) -> str:
        """Return the query text with "now" in place of the time (a key for walk hints)."""
        saved = self.until_now
        try:
            self.until_now = {}
            return self.text() + "".join(f" {name}:{later}" for name, later in saved.items())
        finally:
            self.until_now = saved
