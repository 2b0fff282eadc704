"""The gallery's Redis client: made in `init_app` from config, reached with `get_redis()`."""

from __future__ import annotations

import redis
from flask import Flask, current_app

from pi.redis_connection import connect, redact_url


def init_app(app: Flask) -> None:
    """Create the app's Redis client from `app.config["REDIS_URL"]`."""
    url = app.config["REDIS_URL"]
    # One quick retry only: a page should fail fast with a 503, not hang while Redis is away.
    app.extensions["redis"] = connect(url, retries=1, socket_timeout=app.config.get("REDIS_TIMEOUT", 3.0))
    app.extensions["redis_where"] = redact_url(url)


def get_redis() -> redis.Redis:
    """Return the current app's Redis client."""
    return current_app.extensions["redis"]


def redis_where() -> str:
    """Return the current app's Redis URL with any password hidden, for messages."""
    return current_app.extensions["redis_where"]
