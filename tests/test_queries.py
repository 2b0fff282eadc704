"""The FT queries the gallery builds, and keyset paging over a real Redis with the search module."""

from __future__ import annotations

import random

import pytest
import redis
from redis.commands.search.query import Query

from pi.contract import METADATA_FIELDS, ensure_index
from server.gallery.chart import bucket_seconds
from server.search import (
    SORTS,
    Cursor,
    ImageFilter,
    Lister,
    QueryParts,
    Row,
    escape_tag,
    filter_parts,
    format_number,
    run_search,
    search_query,
)
from server.search import query as queries


def _args(query: Query) -> list[str]:
    return [str(a) for a in query.get_args()]


def _search_on(client: redis.Redis, seen: list[list[str]] | None = None):
    def run(query: Query) -> tuple[list[Row], int]:
        if seen is not None:
            seen.append(_args(query))
        return run_search(client, query)
    return run


def _fill(client: redis.Redis, rows: list[tuple[str, float, float, str]]) -> None:
    """Write minimal image hashes (id, timestamp, lux, camera); listing needs nothing else."""
    pipe = client.pipeline(transaction=False)
    for image_id, ts, lux, camera in rows:
        pipe.hset(f"image:{image_id}", mapping={"timestamp": repr(ts), "lux": repr(lux),
                                                "camera": camera, "mime_type": "image/jpeg"})
    pipe.execute()


def _walk(lister: Lister, flt: ImageFilter, sort: str, limit: int) -> list[str]:
    out, cursor = [], None
    for _ in range(10_000):
        page = lister.page(flt, SORTS[sort], cursor, limit)
        out += [row.image_id for row in page.rows]
        if page.next_cursor is None:
            return out
        # The cursor goes through its text form, as it does through the API.
        cursor = Cursor.decode(page.next_cursor.encode(), SORTS[sort])
    raise AssertionError("paging did not end")


def _expected(rows: list[tuple[str, float, float, str]], flt: ImageFilter, sort: str) -> list[str]:
    keep = [Row(i, {"timestamp": repr(ts), "lux": repr(lux)}) for i, ts, lux, cam in rows
            if (flt.lux_min is None or lux >= flt.lux_min) and (flt.lux_max is None or lux <= flt.lux_max)
            and (flt.since is None or ts >= flt.since) and (flt.until is None or ts <= flt.until)
            and (flt.camera is None or cam == flt.camera)]
    return [row.image_id for row in SORTS[sort].sort_rows(keep)]


# --- Building queries ------------------------------------------------------------------------


def test_tag_values_are_escaped_so_they_cannot_change_the_query() -> None:
    assert escape_tag("garden") == "garden"
    assert escape_tag("front-door") == "front\\-door"
    assert escape_tag("a|b} @lux:[0 1]") == "a\\|b\\}\\ \\@lux\\:\\[0\\ 1\\]"


def test_numbers_are_written_so_redisearch_reads_the_same_double() -> None:
    assert format_number(1700000000.123) == "1700000000.123"
    assert float(format_number(0.1 + 0.2)) == 0.1 + 0.2
    assert format_number(float("inf")) == "+inf"
    assert format_number(float("-inf")) == "-inf"
    with pytest.raises(ValueError):
        format_number(float("nan"))


def test_filter_becomes_ranges_and_escaped_tags() -> None:
    flt = ImageFilter(since=10, until=20.5, camera="garden", trigger="motion", lux_min=1, lux_max=2)
    assert filter_parts(flt).text() == (
        "@timestamp:[10.0 20.5] @lux:[1.0 2.0] @camera:{garden} @trigger:{motion}")
    assert filter_parts(ImageFilter()).text() == "*"
    assert filter_parts(ImageFilter(lux_min=5)).text() == "@lux:[5.0 +inf]"


def test_ranges_on_one_field_intersect_with_open_ends() -> None:
    parts = QueryParts().narrow("timestamp", 10, 50)
    parts.beyond("timestamp", 40, desc=True)
    assert parts.text() == "@timestamp:[10.0 (40.0]"
    parts.beyond("timestamp", 12, desc=False)
    assert parts.text() == "@timestamp:[(12.0 (40.0]"
    assert QueryParts().equal("lux", 3).text() == "@lux:[3.0 3.0]"


def test_list_queries_return_only_metadata_never_image_data() -> None:
    query = search_query(QueryParts().narrow("timestamp"), SORTS["newest"].levels[0], 25, 2000)
    args = _args(query)
    returned = args[args.index("RETURN") + 2: args.index("RETURN") + 2 + int(args[args.index("RETURN") + 1])]
    assert returned == list(METADATA_FIELDS)
    assert "image_data" not in args and "thumbnail" not in args
    assert args[args.index("SORTBY") + 1: args.index("SORTBY") + 3] == ["timestamp", "DESC"]
    # Sorted reads are exact (DIALECT 2), and always carry their own TIMEOUT.
    assert args[args.index("DIALECT") + 1] == "2"
    assert args[args.index("TIMEOUT") + 1] == "2000"
    assert args[-4:] == ["LIMIT", "0", "25", "WITHSORTKEYS"]


def test_counting_probe_reads_no_content_and_stops_at_the_cap() -> None:
    seen: list[list[str]] = []

    def fake(query: Query) -> tuple[list[Row], int]:
        seen.append(_args(query))
        return [], 0

    Lister(fake).at_least(QueryParts().narrow("lux", 1, 2), 400)
    args = seen[0]
    assert args[0] == "@lux:[1.0 2.0]"
    assert "NOCONTENT" in args and "SORTBY" not in args
    assert args[args.index("DIALECT") + 1] == "4"
    assert args[-3:] == ["LIMIT", "399", "1"]


def test_cursor_round_trips_and_rejects_anything_else() -> None:
    cursor = Cursor((120.5, 1700000000.25), "garden:1700000000250-ab12", 1)
    assert Cursor.decode(cursor.encode(), SORTS["brightest"]) == cursor
    for bad in ["", "1~x", "abc~garden:1-ab12~", "inf~garden:1-ab12~", "1~a*b~",
                "1~garden:1-ab12~7", "1~2~garden:1-ab12~"]:
        with pytest.raises(ValueError):
            Cursor.decode(bad, SORTS["newest"])


def test_bucket_width_is_a_round_step() -> None:
    assert bucket_seconds(3600, 60) == 60
    assert bucket_seconds(86400, 60) == 1800
    assert bucket_seconds(30 * 86400, 60) == 43200


# --- Against Redis ---------------------------------------------------------------------------


@pytest.fixture
def store(r: redis.Redis) -> redis.Redis:
    ensure_index(r)
    return r


def test_newest_first_is_exact_where_redisearch_dialect_4_is_wrong(store: redis.Redis) -> None:
    # RediSearch 2.10's sort optimiser (DIALECT 4) returns the wrong top rows for DESC sorts
    # with a range on the sort field; the gallery must not.
    rows = [(f"cam:{1000 + i}-0000", 1000.0 + i, float(i % 50), "cam") for i in range(3000)]
    _fill(store, rows)
    lister = Lister(_search_on(store))
    first = lister.page(ImageFilter(), SORTS["newest"], None, 3).rows
    assert [r.image_id for r in first] == ["cam:3999-0000", "cam:3998-0000", "cam:3997-0000"]
    oldest = lister.page(ImageFilter(lux_min=10, lux_max=10), SORTS["oldest"], None, 2).rows
    assert [r.image_id for r in oldest] == ["cam:1010-0000", "cam:1060-0000"]


@pytest.mark.parametrize("sort", list(SORTS))
def test_paging_with_ties_has_no_duplicates_and_no_gaps(store: redis.Redis, sort: str) -> None:
    rnd = random.Random(4)
    # Many equal timestamps (the reference stores whole seconds) and equal lux values.
    rows = [(f"c{rnd.randint(0, 3)}:{i}-{rnd.randrange(65536):04x}", float(1000 + i // 7),
             float(rnd.choice([0, 5, 5, 10, 250.5])), f"c{i % 3}") for i in range(700)]
    _fill(store, rows)
    # A tiny window forces the windowed walk even on a small store.
    lister = Lister(_search_on(store), window_cap=8)
    for flt in (ImageFilter(), ImageFilter(lux_min=5, lux_max=10), ImageFilter(camera="c1"),
                ImageFilter(since=1020, until=1060.5)):
        got = _walk(lister, flt, sort, 23)
        assert got == _expected(rows, flt, sort), flt


def test_walk_uses_hints_so_later_pages_read_only_a_window(store: redis.Redis) -> None:
    rows = [(f"cam:{i}-0000", 5000.0 + i * 10, 1.0, "cam") for i in range(600)]
    _fill(store, rows)
    seen: list[list[str]] = []
    lister = Lister(_search_on(store, seen), window_cap=50)
    first = lister.page(ImageFilter(), SORTS["newest"], None, 10)
    seen.clear()
    second = lister.page(ImageFilter(), SORTS["newest"], first.next_cursor, 10)
    assert [r.image_id for r in second.rows] == [f"cam:{i}-0000" for i in range(589, 579, -1)]
    # One capped probe and one sorted read of a small window, no full sort, no tie read.
    assert len(seen) == 2
    sorted_reads = [a for a in seen if "SORTBY" in a]
    assert len(sorted_reads) == 1 and sorted_reads[0][0].startswith("@timestamp:[")
    assert "-inf" not in sorted_reads[0][0]


def test_count_is_exact_below_the_cap_and_a_floor_above(store: redis.Redis, monkeypatch) -> None:
    _fill(store, [(f"cam:{i}-0000", 100.0 + i, float(i), "cam") for i in range(30)])
    lister = Lister(_search_on(store))
    assert lister.count(ImageFilter(lux_max=9)) == (10, True)
    monkeypatch.setattr(queries, "COUNT_CAP", 20)
    assert lister.count(ImageFilter(lux_min=0)) == (20, False)
    assert lister.count(ImageFilter(lux_min=15)) == (15, True)


@pytest.mark.parametrize("sort", ["darkest", "brightest", "newest"])
def test_many_images_sharing_one_value_page_correctly(store: redis.Redis, sort: str) -> None:
    # A night of lux 0 (and a burst within one millisecond) fills any window reaching it.
    rows = [(f"cam:{i:05d}-0000", 1000.0 + i, 0.0, "cam") for i in range(600)]
    rows += [(f"cam:{i:05d}-0001", 5000.0, float(i % 7), "cam") for i in range(120)]
    rows += [(f"cam:{i:05d}-0002", 9000.0 + i, 50.0 + i, "cam") for i in range(80)]
    _fill(store, rows)
    lister = Lister(_search_on(store), window_cap=50)
    assert _walk(lister, ImageFilter(), sort, 30) == _expected(rows, ImageFilter(), sort)
