"""Making Redis clients that retry with backoff, and naming a server without its password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry


def connect(
    url: str,
    *,
    retries: int = 3,
    socket_timeout: float = 5.0,
    backoff_cap: float = 2.0,
    **kwargs,
) -> redis.Redis:
    """Return a client for `url` that retries dropped connections with backoff.

    Timeouts are not retried: a server that hangs would only make every caller wait
    `retries` times longer before it can fall back (spool, or answer 503). RESP2 is used on
    purpose: redis-py's search result parser is the same on every server version with it.
    """
    retry = Retry(ExponentialWithJitterBackoff(cap=backoff_cap, base=0.05), retries,
                  supported_errors=(redis.ConnectionError,))
    return redis.Redis.from_url(
        url,
        protocol=2,
        retry=retry,
        retry_on_error=[redis.ConnectionError],
        socket_timeout=socket_timeout,
        socket_connect_timeout=min(socket_timeout, 3.0),
        health_check_interval=30,
        **kwargs,
    )


def redact_url(url: str) -> str:
    """Return `url` with any password replaced by `***`, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{user}:***@{host}" if user else f":***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
