"""The app's services in one typed object, `app.extensions["pi_camera"]`, reached with `services()`.

Core fills in the Redis client and the settings; each wing keeps its own long-lived objects
(the time-lapse job runner, the live hub, the thumbnail script...) in `services().one(Type,
factory)`, made once on first use under one lock, so every wing registers the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import redis
from flask import Flask, current_app

from pi.redis_connection import connect, redact_url

from .settings import GallerySettings

EXTENSION = "pi_camera"
T = TypeVar("T")


@dataclass
class Services:
    """What a gallery process holds: settings, the Redis client, and each wing's objects."""

    settings: GallerySettings
    redis: redis.Redis
    redis_where: str
    #: Whether the search index is known to exist (the gallery wing's index guard).
    index_ready: bool = False
    _objects: dict[type, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def one(self, kind: type[T], factory: Callable[[], T]) -> T:
        """Return this process's `kind` object, made by `factory` on first use."""
        with self._lock:
            obj = self._objects.get(kind)
            if obj is None:
                obj = self._objects[kind] = factory()
            return cast(T, obj)

    def peek(self, kind: type[T]) -> T | None:
        """Return the `kind` object if it was made, without making it."""
        return cast("T | None", self._objects.get(kind))


def init_app(app: Flask, settings: GallerySettings) -> Services:
    """Create the app's services: the Redis client from the settings."""
    # One quick retry only: a page should fail fast with a 503, not hang while Redis is away.
    client = connect(settings.redis_url, retries=1, socket_timeout=settings.redis_timeout)
    found = app.extensions[EXTENSION] = Services(settings, client, redact_url(settings.redis_url))
    return found


def services(app: Flask | None = None) -> Services:
    """Return the current (or given) app's services."""
    return cast(Services, (app or current_app).extensions[EXTENSION])


def get_redis() -> redis.Redis:
    """Return the current app's Redis client."""
    return services().redis


def redis_where() -> str:
    """Return the current app's Redis URL with any password hidden, for messages."""
    return services().redis_where
