"""Reading archived originals back: where a picture's original is, and its bytes.

Used by the gallery (server/gallery/archived.py: the original and download routes) and by
the time-lapse (frames whose full size has left Redis). No Flask here: the time-lapse also
runs from the command line.

A hash's `archived` field is input like any other: it is followed only when it points into
the archive the reader is configured with (`backend.key_of` gives a key), so a hash written
with redis-cli can't make the gallery read another bucket or a file outside the folder.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from pi import contract
from server.archive.backends import ArchiveError, Backend, ObjectMissing, _check_key

logger = logging.getLogger(__name__)


def text(value: Any) -> str | None:
    """Return a Redis value as text (None stays None)."""
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def archive_key(backend: Backend, location: str | None) -> str | None:
    """Return the archive key of an `archived` location, or None when it is not in this archive."""
    if not location:
        return None
    key = backend.key_of(location)
    if not key:
        return None
    try:
        return _check_key(key)  # no "..", no absolute paths
    except ValueError:
        return None


def read_original(client: redis.Redis, backend: Backend, redis_key: str) -> bytes | None:
    """Return the archived original of the hash at `redis_key`, or None when there is none.

    For the time-lapse, which reads whole frames anyway: None when the hash has no
    `archived` field, when it points elsewhere, when the object is missing, or when the
    archive can't be read right now (logged; the frame is then skipped).
    """
    key = archive_key(backend, text(client.hget(redis_key, contract.F_ARCHIVED)))
    if key is None:
        return None
    try:
        return backend.get(key)
    except ObjectMissing:
        logger.info("The archived original of %s is missing from the archive (%s)", redis_key, key)
    except ArchiveError as exc:
        logger.warning("Can't read the archived original of %s: %s", redis_key, exc)
    return None
