"""Running queries on the image index, creating the index lazily when it is missing."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis
from flask import Flask, current_app
from redis.commands.search.query import Query

from pi.contract import F_LUX, F_TIMESTAMP, INDEX_NAME, KEY_PREFIX, SearchModuleMissing, ensure_index

from .redis_store import get_redis, redis_where

logger = logging.getLogger(__name__)

_STATE = "gallery_index"


@dataclass(frozen=True)
class Row:
    """One search result: the image id and the text fields RETURNed for it."""

    image_id: str
    fields: dict[str, str]

    def number(self, field: str) -> float:
        """Return a numeric field as the float RediSearch compares."""
        return float(self.fields[field])


def init_app(app: Flask) -> None:
    """Try to create the index at start; if Redis is away, the first request does it."""
    app.extensions[_STATE] = {"ready": False}
    with app.app_context():
        try:
            ensure_ready()
        except (redis.RedisError, SearchModuleMissing) as exc:
            logger.warning("Redis at %s is not ready yet (%s); the gallery retries on each request",
                           redis_where(), type(exc).__name__)


def ensure_ready() -> None:
    """Make sure the index exists, creating it if start-up could not (raises Redis errors)."""
    state = current_app.extensions[_STATE]
    if state["ready"]:
        return
    client = get_redis()
    result = ensure_index(client, redis_where())
    if result != "unchanged":
        logger.info("Search index %s %s", INDEX_NAME, result)
        _wait_for_indexing(client)
    state["ready"] = True


#: How long a request waits for a new index to take in the images already stored.
INDEXING_WAIT_SECONDS = 5.0


def _wait_for_indexing(client: redis.Redis) -> None:
    """Wait (briefly) while RediSearch indexes existing hashes in the background."""
    deadline = time.monotonic() + INDEXING_WAIT_SECONDS
    while time.monotonic() < deadline:
        indexing = client.ft(INDEX_NAME).info().get("indexing", 0)
        if float(_text(indexing) or 0) == 0:
            return
        time.sleep(0.02)
    logger.warning("Search index %s is still indexing stored images; lists may be incomplete "
                   "for a few seconds", INDEX_NAME)


def is_missing_index(exc: Exception) -> bool:
    """Tell whether a ResponseError says the index does not exist."""
    text = str(exc).lower()
    return "no such index" in text or "unknown index" in text


def _with_index(run):
    ensure_ready()
    try:
        return run()
    except redis.ResponseError as exc:
        if not is_missing_index(exc):
            raise
    # Redis lost the index (a fresh server, or FLUSHALL): make it again and retry once.
    current_app.extensions[_STATE]["ready"] = False
    ensure_ready()
    return run()


def search(query: Query) -> tuple[list[Row], int]:
    """Run FT.SEARCH on the app's Redis; return the rows and the reported total."""
    return _with_index(lambda: run_search(get_redis(), query))


#: Numeric fields whose exact values keyset paging compares.
EXACT_FIELDS = (F_TIMESTAMP, F_LUX)


def run_search(client: redis.Redis, query: Query) -> tuple[list[Row], int]:
    """Run FT.SEARCH with `query` and parse the reply, with exact values for sort fields.

    RediSearch prints RETURNed numbers with 12 significant digits, so a millisecond
    timestamp (13 digits) comes back rounded. The sort key (WITHSORTKEYS, asked for by
    `queries.SearchQuery`) is exact; other rounded-looking sort fields are read from
    the hashes.
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
        if sort_key and sort_key.startswith("#"):
            fields[sort_field] = repr(float(sort_key[1:]))
        rows.append(Row(key[len(KEY_PREFIX):], fields))
    _make_exact(client, rows, skip=sort_field)
    return rows, total


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _maybe_rounded(text: str) -> bool:
    digits = text.split("e")[0].split("E")[0].lstrip("-").replace(".", "").lstrip("0")
    return len(digits) >= 12


def _make_exact(client: redis.Redis, rows: list[Row], skip: str | None) -> None:
    wanted = [(row, name) for row in rows for name in EXACT_FIELDS
              if name != skip and name in row.fields and _maybe_rounded(row.fields[name])]
    if not wanted:
        return
    pipe = client.pipeline(transaction=False)
    for row, name in wanted:
        pipe.hget(KEY_PREFIX + row.image_id, name)
    for (row, name), value in zip(wanted, pipe.execute()):
        if value is not None:
            try:
                row.fields[name] = repr(float(value))
            except ValueError:
                continue


def aggregate(args: list) -> list[dict[str, str]]:
    """Run FT.AGGREGATE with raw arguments; return its rows as dicts of strings."""
    raw = _with_index(lambda: get_redis().execute_command("FT.AGGREGATE", INDEX_NAME, *args))
    rows = []
    for item in raw[1:]:
        values = [v.decode() if isinstance(v, bytes) else str(v) for v in item]
        rows.append(dict(zip(values[0::2], values[1::2])))
    return rows


def num_docs() -> int:
    """Return how many images the index holds, from FT.INFO (costs nothing)."""
    info = _with_index(lambda: get_redis().ft(INDEX_NAME).info())
    return int(float(info.get("num_docs", 0)))


def tag_values(field: str) -> list[str]:
    """Return the distinct values of a TAG field (RediSearch lowercases them)."""
    values = _with_index(lambda: get_redis().ft(INDEX_NAME).tagvals(field))
    return sorted(v.decode() if isinstance(v, bytes) else str(v) for v in values)
