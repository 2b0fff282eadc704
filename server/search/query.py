"""Sorts, cursors, keyset paging and counting: how the gallery and the time-lapse page.

Listing uses keyset paging: a page asks for the images
strictly after the previous page's last one (its sort values plus its id as the tiebreak),
through a numeric range on the sort field, read in windows small enough that page 100
costs what page 1 costs, at any store size (see `Lister`).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.commands.search.query import Query

from pi.contract import F_LUX, F_TIMESTAMP, METADATA_FIELDS, is_valid_image_id

from .filters import ImageFilter, filter_parts
from .parts import QueryParts, format_number
from .rows import Row, SearchIncomplete

logger = logging.getLogger(__name__)

#: Counting probes use DIALECT 4 without SORTBY: it stops reading once LIMIT is reached.
DIALECT = 4
#: Sorted reads use DIALECT 2, which sorts every match of the query exactly.
EXACT_DIALECT = 2
#: A sorted read covers a window of the sort field holding fewer matches than this.
WINDOW_CAP = 400
#: Images sharing every sort value are fetched whole and ordered by id; this caps that group.
TIE_GROUP_CAP = 1000
#: Filtered totals are counted up to this, then shown as "1,000+".
COUNT_CAP = 1000

SearchFn = Callable[[Query], tuple[list[Row], int]]


# --- Sort orders and cursors --------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """One sort key: a SORTABLE numeric field and its direction."""

    field: str
    desc: bool


@dataclass(frozen=True)
class Order:
    """A total order: sort keys, most significant first, then the image id as the tiebreak."""

    levels: tuple[Level, ...]
    id_desc: bool

    def reversed(self) -> Order:
        """Return the opposite order (for "previous image")."""
        return Order(tuple(Level(lv.field, not lv.desc) for lv in self.levels), not self.id_desc)

    def sort_rows(self, rows: list[Row]) -> list[Row]:
        """Sort rows in this order, in Python (for groups RediSearch returned unordered)."""
        out = sorted(rows, key=lambda row: row.image_id, reverse=self.id_desc)
        for level in reversed(self.levels):
            out.sort(key=functools.partial(_number_of, level.field), reverse=level.desc)
        return out


@dataclass(frozen=True)
class Sort:
    """A named sort the API offers: its order and the label the page shows."""

    name: str
    label: str
    order: Order


#: The sorts, declared once: the page's menu, the validation and the OpenAPI enum use them.
SORT_OPTIONS: tuple[Sort, ...] = (
    Sort("newest", "Newest first", Order((Level(F_TIMESTAMP, True),), id_desc=True)),
    Sort("oldest", "Oldest first", Order((Level(F_TIMESTAMP, False),), id_desc=False)),
    Sort("brightest", "Brightest first",
         Order((Level(F_LUX, True), Level(F_TIMESTAMP, True)), id_desc=True)),
    Sort("darkest", "Darkest first",
         Order((Level(F_LUX, False), Level(F_TIMESTAMP, True)), id_desc=True)),
)
SORTS: dict[str, Order] = {sort.name: sort.order for sort in SORT_OPTIONS}
DEFAULT_SORT = "newest"


@dataclass(frozen=True)
class Cursor:
    """A position in an order: the last image's sort values and its id.

    `shared` says how many leading sort values the next image shares with this one, when
    that is known: rows equal on more values than that cannot follow, so their reads are
    skipped. None means unknown (all are read).
    """

    values: tuple[float, ...]
    image_id: str
    shared: int | None = None

    def encode(self) -> str:
        """Return the cursor as URL-safe text, e.g. `1700000000.5~garden:1700000000500-ab12~0`."""
        shared = "" if self.shared is None else str(self.shared)
        return "~".join([*(format_number(v) for v in self.values), self.image_id, shared])

    @classmethod
    def decode(cls, text: str, order: Order) -> Cursor:
        """Parse cursor text for `order`; raises ValueError when it is malformed."""
        parts = text.split("~")
        depth = len(order.levels)
        if len(parts) != depth + 2 or len(text) > 200:
            raise ValueError("wrong number of parts")
        values = tuple(float(p) for p in parts[:depth])
        if not all(math.isfinite(v) for v in values) or not is_valid_image_id(parts[depth]):
            raise ValueError("bad value or id")
        shared = None
        if parts[-1]:
            if not (parts[-1].isascii() and parts[-1].isdigit()) or int(parts[-1]) > depth:
                raise ValueError("bad shared depth")
            shared = int(parts[-1])
        return cls(values, parts[depth], shared)

    @classmethod
    def of_row(cls, row: Row, order: Order, following: Row | None = None) -> Cursor:
        """Return the cursor just past `row` in `order` (`following` is the next row, if known)."""
        values = tuple(row.number(lv.field) for lv in order.levels)
        shared = None
        if following is not None:
            shared = 0
            for level, value in zip(order.levels, values):
                if following.number(level.field) != value:
                    break
                shared += 1
        return cls(values, row.image_id, shared)


# --- Running queries ----------------------------------------------------------------------


class SearchQuery(Query):
    """A redis-py Query that, when sorted, also asks for each row's exact sort key."""

    def __init__(self, query_string: str) -> None:
        super().__init__(query_string)
        self.sort_field: str | None = None
        self.returns_content = True

    def sort_by(self, field: str, asc: bool = True) -> SearchQuery:
        """Sort by `field`; the reply then carries exact values of it (WITHSORTKEYS)."""
        self.sort_field = field
        super().sort_by(field, asc)
        return self

    def no_content(self) -> SearchQuery:
        """Return ids only."""
        self.returns_content = False
        super().no_content()
        return self

    def get_args(self) -> list:
        """Return the FT.SEARCH arguments (after the index name)."""
        args = super().get_args()
        return [*args, "WITHSORTKEYS"] if self.sort_field else args


def search_query(parts: QueryParts, sort: Level | None, limit: int, timeout_ms: int, *,
                 offset: int = 0, fields: Sequence[str] = METADATA_FIELDS,
                 dialect: int = EXACT_DIALECT) -> SearchQuery:
    """Return an FT.SEARCH query that RETURNs only metadata fields (never image_data)."""
    query = SearchQuery(parts.text()).paging(offset, limit).dialect(dialect).timeout(timeout_ms)
    if fields:
        query.return_fields(*fields)
    else:
        query.no_content()
    if sort is not None:
        query.sort_by(sort.field, asc=not sort.desc)
    return query


@dataclass
class Page:
    """One page of a listing, and the cursor of the next (None at the end)."""

    rows: list[Row]
    next_cursor: Cursor | None


@dataclass
class Hint:
    """What the last walk over one query learnt: matches per unit of the sort field, and
    the value of its first row (where a walk from an open end should start)."""

    density: float | None = None
    anchor: float | None = None


#: How wide a walk's first window is, with no hint.
DEFAULT_WIDTH = {F_TIMESTAMP: 3600.0, F_LUX: 50.0}
#: Brighter than direct sunlight: where a walk down from the brightest starts, with no hint.
BRIGHTEST_LUX = 200_000.0
MAX_HINTS = 512
#: Windows one read may walk before it sorts the rest in one go.
MAX_WINDOWS = 48


#: The finite doubles: a range on a sort field that leaves out +inf and -inf.
FINITE = (-1.7976931348623157e308, 1.7976931348623157e308)


def sortable_range(name: str) -> tuple[float, float]:
    """Return the values of a sort field that have a place in its order: finite ones.

    An `inf` written by redis-cli reads as unknown (pi.contract), like a missing field, and a
    cursor can't step past it. Finite values outside the contract's plausible range (a
    timestamp in milliseconds) are still found, and left out of the answer by the reader.
    """
    return FINITE


def _unbounded(value: float) -> bool:
    """Tell whether a range end is open (infinite, or the largest finite double)."""
    return math.isinf(value) or abs(value) >= FINITE[1]


class Lister:
    """Lists images in a total order with keyset paging, through a search function.

    RediSearch sorts exactly only by reading every match (DIALECT 2), and its DIALECT 4
    sort optimiser returns wrong rows for DESC sorts with a range on the sort field
    (RediSearch issue 5130; reproduced on 2.10). So sorted reads walk the sort field in
    windows that each hold a few pages of matches: capped counts (DIALECT 4 without
    SORTBY, which stops at LIMIT and is exact) size each window, and each window is
    sorted exactly. Hints (matches per unit, where the data starts) make the first
    window the right one almost always, so a page costs the same at any store size.
    """

    def __init__(self, search: SearchFn, timeout_ms: int = 2000,
                 hints: dict[tuple, Hint] | None = None, window_cap: int = WINDOW_CAP) -> None:
        self.search = search
        self.timeout_ms = timeout_ms
        self.hints = hints if hints is not None else {}
        self.window_cap = window_cap

    def base_parts(self, flt: ImageFilter, order: Order) -> QueryParts:
        """Return the filter's parts, plus the plausible range of each sort field.

        The range leaves out hashes without the field, or with an infinite value (they have
        no place in the order).
        """
        parts = filter_parts(flt)
        for level in order.levels:
            low, high = sortable_range(level.field)
            parts.narrow(level.field, low, high)
        return parts

    def page(self, flt: ImageFilter, order: Order, cursor: Cursor | None, limit: int) -> Page:
        """Return up to `limit` images after `cursor` (or from the start) in `order`."""
        rows = self.after(self.base_parts(flt, order), order, cursor, limit + 1)
        if len(rows) > limit:
            return Page(rows[:limit], Cursor.of_row(rows[limit - 1], order, rows[limit]))
        # A short page means the end, unless a search timed out and returned partial results
        # silently (ON_TIMEOUT RETURN): check that nothing follows the last row.
        if rows and self.after(self.base_parts(flt, order), order, Cursor.of_row(rows[-1], order), 1):
            raise SearchIncomplete("a page came back short")
        return Page(rows, None)

    def after(self, parts: QueryParts, order: Order, cursor: Cursor | None, n: int) -> list[Row]:
        """Return the first `n` rows strictly after `cursor` in `order`.

        The rows after (v1, v2, id) are, in order: those equal on every value with a later id;
        then those equal on v1 with v2 beyond; then those with v1 beyond. Each part is a
        range query ordered by its first free level.
        """
        if cursor is None:
            return self.top(parts, order, 0, n)
        out: list[Row] = []
        depth = len(order.levels)
        for fixed in range(depth if cursor.shared is None else cursor.shared, -1, -1):
            segment = parts.copy()
            for i in range(fixed):
                segment.equal(order.levels[i].field, cursor.values[i])
            if fixed == depth:
                group = self.tie_group(segment, order)
                out += [r for r in group if _id_after(r.image_id, cursor.image_id, order.id_desc)]
            else:
                level = order.levels[fixed]
                segment.beyond(level.field, cursor.values[fixed], level.desc)
                out += self.top(segment, order, fixed, n - len(out))
            if len(out) >= n:
                break
        return out[:n]

    def top(self, parts: QueryParts, order: Order, start: int, n: int) -> list[Row]:
        """Return the first `n` rows matching `parts`, ordered by `order.levels[start:]` and id.

        A sort by one field leaves ties in no set order, so when the n-th row shares its
        value with the row after it, that tied group is fetched on its own and ordered by
        the next level.
        """
        if n <= 0:
            return []
        if start == len(order.levels):
            return self.tie_group(parts, order)[:n]
        level = order.levels[start]
        rows = self.ordered(parts, level, n + 1)
        sub = Order(order.levels[start:], order.id_desc)
        if len(rows) <= n or rows[n - 1].number(level.field) != rows[n].number(level.field):
            return sub.sort_rows(rows[:n])
        boundary = rows[n - 1].number(level.field)
        head = [r for r in rows[:n] if r.number(level.field) != boundary]
        tied = parts.copy().equal(level.field, boundary)
        return sub.sort_rows(head) + self.top(tied, order, start + 1, n - len(head))

    def tie_group(self, parts: QueryParts, order: Order) -> list[Row]:
        """Return every row matching `parts` (equal on all sort values), ordered by id."""
        rows, _ = self.search(search_query(parts, None, TIE_GROUP_CAP, self.timeout_ms))
        if len(rows) >= TIE_GROUP_CAP:
            logger.warning("More than %d images share one sort value; paging may skip some",
                           TIE_GROUP_CAP)
        return sorted(rows, key=lambda r: r.image_id, reverse=order.id_desc)

    def at_least(self, parts: QueryParts, n: int) -> bool:
        """Tell whether at least `n` images match, reading at most `n` of them."""
        probe = search_query(parts, None, 1, self.timeout_ms, offset=n - 1, fields=(),
                             dialect=DIALECT)
        rows, _ = self.search(probe)
        return bool(rows)

    def ordered(self, parts: QueryParts, level: Level, k: int) -> list[Row]:
        """Return the first `k` rows matching `parts` in `level` order, exactly.

        Walks the field from its front (the end the order starts at) in windows of fewer
        than `window_cap` matches, each sorted by RediSearch; what is left once fewer than
        `window_cap` remain is sorted in one read.
        """
        rng = parts.ranges[level.field]
        sign = -1.0 if level.desc else 1.0  # direction of travel along the field
        back, back_open = (rng.low, rng.low_open) if level.desc else (rng.high, rng.high_open)
        cur, cur_open = (rng.high, rng.high_open) if level.desc else (rng.low, rng.low_open)
        open_front = _unbounded(cur)
        key = (parts.without(level.field).key(), level.field, level.desc)
        hint = self.hints.get(key) or self._fallback_hint(level)
        density, anchor = hint.density, hint.anchor
        width = DEFAULT_WIDTH.get(level.field, 1.0)
        rows: list[Row] = []
        walked = False
        for _ in range(MAX_WINDOWS):
            if len(rows) >= k:
                break
            need = k - len(rows)
            # With a hint, go straight to the window; otherwise (and once a window came up
            # short) check whether what is left is small enough to sort in one read.
            if not (density and not walked):
                remaining = parts.copy().set_range(level.field,
                                                   *_span(cur, cur_open, back, back_open, sign))
                if not self.at_least(remaining, self.window_cap):
                    rows += self.search(search_query(remaining, level, need, self.timeout_ms))[0]
                    break
            walked = True
            if density:
                width = 2.0 * need / density
            start = cur
            if _unbounded(cur):
                start = anchor if anchor is not None else self._default_anchor(level)
            for _ in range(16):  # shrink a window that holds too many matches...
                edge, edge_open, last = start + sign * width, False, False
                if (edge - back) * sign >= 0:
                    edge, edge_open, last = back, back_open, True
                window = parts.copy().set_range(level.field, *_span(cur, cur_open, edge, edge_open, sign))
                if not self.at_least(window, self.window_cap):
                    break
                # ...but never below the rows this page needs: many images sharing one
                # value (lux 0 all night) fill any window that reaches them.
                smaller = start + sign * width / 4.0
                span = _span(cur, cur_open, smaller, False, sign)
                if (smaller - back) * sign >= 0 or not self.at_least(
                        parts.copy().set_range(level.field, *span), need):
                    break
                width /= 4.0
            got, total = self.search(search_query(window, level, need, self.timeout_ms))
            rows += got
            # Density where the walk goes on: from the rows read, else from the window.
            spread = abs(got[-1].number(level.field) - got[0].number(level.field)) if got else 0.0
            covered = abs(edge - start)
            if len(got) >= 2 and spread > 0:
                density = (len(got) - 1) / spread
            elif total and covered > 0 and not last:
                density = total / covered
            elif not total:
                density = density / 8.0 if density else None
                width *= 8.0
            if last:
                break
            cur, cur_open = edge, not edge_open
        else:
            # Hints kept missing (very uneven data): sort what is left in one read.
            remaining = parts.copy().set_range(level.field, *_span(cur, cur_open, back, back_open, sign))
            if len(rows) < k:
                rows += self.search(search_query(remaining, level, k - len(rows), self.timeout_ms))[0]
        if walked:
            if rows and open_front:
                anchor = rows[0].number(level.field)
            if len(self.hints) > MAX_HINTS:
                self.hints.clear()
            self.hints[key] = Hint(density, anchor)
        return rows[:k]

    def _fallback_hint(self, level: Level) -> Hint:
        # A filter only removes matches, so the unfiltered walk's density is an upper bound:
        # starting from it never makes a window too big, only too small.
        bare = QueryParts().narrow(level.field).without(level.field).key()
        return self.hints.get((bare, level.field, level.desc)) or Hint()

    def _default_anchor(self, level: Level) -> float:
        if level.field == F_TIMESTAMP:
            return time.time()
        return BRIGHTEST_LUX if level.desc else 0.0

    def first(self, flt: ImageFilter, order: Order) -> Row | None:
        """Return the first image in `order`, or None when nothing matches."""
        rows = self.top(self.base_parts(flt, order), order, 0, 1)
        return rows[0] if rows else None

    def count_exact(self, flt: ImageFilter) -> int:
        """Return how many images match a filter, exactly (RediSearch counts without reading)."""
        _, total = self.search(search_query(filter_parts(flt), None, 0, self.timeout_ms, fields=()))
        return total

    def count(self, flt: ImageFilter) -> tuple[int, bool]:
        """Return (count, exact) for a filter, reading at most COUNT_CAP matches."""
        parts = filter_parts(flt)
        if self.at_least(parts, COUNT_CAP):
            return COUNT_CAP, False
        _, total = self.search(search_query(parts, None, 0, self.timeout_ms, fields=()))
        return total, True


def _number_of(field: str, row: Row) -> float:
    return row.number(field)


def _span(cur: float, cur_open: bool, edge: float, edge_open: bool, sign: float
          ) -> tuple[float, float, bool, bool]:
    """Return (low, high, low_open, high_open) of the range from `cur` toward `edge`."""
    if sign < 0:
        return edge, cur, edge_open, cur_open
    return cur, edge, cur_open, edge_open


def _id_after(image_id: str, cursor_id: str, desc: bool) -> bool:
    return image_id < cursor_id if desc else image_id > cursor_id
