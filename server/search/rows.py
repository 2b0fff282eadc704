"""Running FT.SEARCH / FT.AGGREGATE / FT.TAGVALS on a Redis client and reading the replies.

Flask-free: the gallery calls these through its index guard (gallery/index.py), the
time-lapse engine and its CLI call them with their own client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from redis.commands.search.query import Query

from pi.contract import F_FULL_UNTIL, F_LUX, F_TIMESTAMP, INDEX_NAME, KEY_PREFIX


class SearchIncomplete(RuntimeError):
    """Redis returned fewer results than exist (a search timed out with ON_TIMEOUT RETURN)."""


@dataclass(frozen=True)
class Row:
    """One search result: the image id and the text fields RETURNed for it."""

    image_id: str
    fields: dict[str, str]

    def number(self, field: str) -> float:
        """Return a numeric field as the float RediSearch compares."""
        return float(self.fields[field])


#: Numeric fields whose exact values keyset paging compares (and `full_until`, shown as is).
EXACT_FIELDS = (F_TIMESTAMP, F_LUX, F_FULL_UNTIL)


def run_search(client: redis.Redis, query: Query) -> tuple[list[Row], int]:
    """Run FT.SEARCH with `query` and parse the reply, with exact values for sort fields.

    RediSearch prints RETURNed numbers rounded, so a millisecond timestamp can come back
    off by up to 5 ms. The sort key (WITHSORTKEYS, asked for by `query.SearchQuery`) is
    exact; the other sort fields are read back from the hashes (see `_make_exact`).
    """
    raw = client.execute_command("FT.SEARCH", INDEX_NAME, *query.get_args())
    sort_field = getattr(query, "sort_field", None)
    with_content = getattr(query, "returns_content", True)
    total, rows, i = int(raw[0]), [], 1
    while i < len(raw):
        key = _text(raw[i])
        i += 1
        sort_key = None
        if sort_field:
            sort_key = _text(raw[i]) if raw[i] is not None else None
            i += 1
        fields: dict[str, str] = {}
        if with_content:
            items = raw[i] or []
            i += 1
            fields = {_text(k): _text(v) for k, v in zip(items[0::2], items[1::2]) if v is not None}
        if sort_field and sort_key and sort_key.startswith("#"):
            fields[sort_field] = repr(float(sort_key[1:]))
        rows.append(Row(key[len(KEY_PREFIX):], fields))
    _make_exact(client, rows, skip=sort_field)
    return rows, total


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _make_exact(client: redis.Redis, rows: list[Row], skip: str | None) -> None:
    """Replace each RETURNed sort-field number with the hash's own text.

    RediSearch prints RETURNed numbers shortened (12 significant digits, and trailing zeros
    dropped: 1795958600.097 comes back as 1795958600.1), so no test of the printed text can
    tell a rounded value from an exact one. The hash holds the very text RediSearch parsed,
    so the values read back from it, and the cursors made of them, are exact by
    construction. `skip` (the field the query sorted by) is exact already (WITHSORTKEYS).
    A picture whose hash went away meanwhile (expired, deleted) is left out of the rows.
    """
    wanted = [(row, name) for row in rows for name in EXACT_FIELDS
              if name != skip and name in row.fields]
    if not wanted:
        return
    pipe = client.pipeline(transaction=False)
    for row, name in wanted:
        pipe.hget(KEY_PREFIX + row.image_id, name)
    gone: set[str] = set()
    for (row, name), value in zip(wanted, pipe.execute()):
        try:
            row.fields[name] = repr(float(value))
        except (TypeError, ValueError):  # gone (None), or no longer a number
            gone.add(row.image_id)
    if gone:
        rows[:] = [row for row in rows if row.image_id not in gone]


def run_aggregate(client: redis.Redis, args: list[Any]) -> list[dict[str, str]]:
    """Run FT.AGGREGATE with raw arguments; return its rows as dicts of strings."""
    raw = client.execute_command("FT.AGGREGATE", INDEX_NAME, *args)
    rows = []
    for item in raw[1:]:
        values = [_text(v) for v in item]
        rows.append(dict(zip(values[0::2], values[1::2])))
    return rows


def index_size(client: redis.Redis) -> int:
    """Return how many images the index holds, from FT.INFO (costs nothing)."""
    return int(float(client.ft(INDEX_NAME).info().get("num_docs", 0)))


def tag_values(client: redis.Redis, field: str) -> list[str]:
    """Return the distinct values of a TAG field (RediSearch lowercases them)."""
    return sorted(_text(v) for v in client.execute_command("FT.TAGVALS", INDEX_NAME, field))
