"""The gallery's guard around the image index: created lazily when missing, and again when
Redis lost it (a fresh server, FLUSHALL); every query the gallery runs goes through here."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from flask import Flask
from redis.commands.search.query import Query

from pi.contract import INDEX_NAME, SearchModuleMissing, ensure_index
from server.core.services import get_redis, redis_where, services
from server.search import Lister, Row, rows
from server.search.rows import index_size, run_aggregate, run_search

logger = logging.getLogger(__name__)

T = TypeVar("T")


def init_app(app: Flask) -> None:
    """Try to create the index at start; if Redis is away, the first request does it."""
    with app.app_context():
        try:
            ensure_ready()
        except (redis.RedisError, SearchModuleMissing) as exc:
            logger.warning("Redis at %s is not ready yet (%s); the gallery retries on each request",
                           redis_where(), type(exc).__name__)


def ensure_ready() -> None:
    """Make sure the index exists, creating it if start-up could not (raises Redis errors)."""
    state = services()
    if state.index_ready:
        return
    client = get_redis()
    result = ensure_index(client, redis_where())
    if result != "unchanged":
        logger.info("Search index %s %s", INDEX_NAME, result)
        _wait_for_indexing(client)
    state.index_ready = True


def forget_ready() -> None:
    """Make the next query check the index again (it was found missing)."""
    services().index_ready = False


#: How long a request waits for a new index to take in the images already stored.
INDEXING_WAIT_SECONDS = 5.0


def _wait_for_indexing(client: redis.Redis) -> None:
    """Wait (briefly) while RediSearch indexes existing hashes in the background."""
    deadline = time.monotonic() + INDEXING_WAIT_SECONDS
    while time.monotonic() < deadline:
        indexing = client.ft(INDEX_NAME).info().get("indexing", 0)
        if float(rows._text(indexing) or 0) == 0:
            return
        time.sleep(0.02)
    logger.warning("Search index %s is still indexing stored images; lists may be incomplete "
                   "for a few seconds", INDEX_NAME)


def is_missing_index(exc: Exception) -> bool:
    """Tell whether a ResponseError says the index does not exist."""
    text = str(exc).lower()
    return "no such index" in text or "unknown index" in text


def _with_index(run: Callable[[], T]) -> T:
    ensure_ready()
    try:
        return run()
    except redis.ResponseError as exc:
        if not is_missing_index(exc):
            raise
    # Redis lost the index (a fresh server, or FLUSHALL): make it again and retry once.
    forget_ready()
    ensure_ready()
    return run()


def search(query: Query) -> tuple[list[Row], int]:
    """Run FT.SEARCH on the app's Redis; return the rows and the reported total."""
    return _with_index(lambda: run_search(get_redis(), query))


def aggregate(args: list[Any]) -> list[dict[str, str]]:
    """Run FT.AGGREGATE with raw arguments; return its rows as dicts of strings."""
    return _with_index(lambda: run_aggregate(get_redis(), args))


def num_docs() -> int:
    """Return how many images the index holds, from FT.INFO (costs nothing)."""
    return _with_index(lambda: index_size(get_redis()))


def tag_values(field: str) -> list[str]:
    """Return the distinct values of a TAG field (RediSearch lowercases them)."""
    return _with_index(lambda: rows.tag_values(get_redis(), field))


class ListHints(dict):
    """The walk hints the app's listers share (see `server.search.query.Hint`)."""


def lister() -> Lister:
    """Return a Lister bound to the app's index and search timeout."""
    found = services()
    return Lister(search, found.settings.search_timeout_ms, found.one(ListHints, ListHints))
