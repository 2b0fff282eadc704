"""The gallery's settings: read from the environment in one place, and validated."""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pi.contract import DEFAULT_REDIS_URL

#: The largest page a client may ask for; bigger requests get a 400 naming `limit`.
MAX_PAGE_SIZE = 100


class SettingsError(ValueError):
    """A setting has a value the gallery cannot use; the message names it and the fix."""


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the gallery's config, read from the environment (or `environ`) and validated."""
    env = os.environ if environ is None else environ
    return {
        # Where the images are; the reference's variable and default.
        "REDIS_URL": env.get("REDIS_URL") or DEFAULT_REDIS_URL,
        # Login is off unless a password is set.
        "GALLERY_PASSWORD": env.get("GALLERY_PASSWORD") or None,
        # Signs the session cookie; a random one per start logs everybody out on restart.
        "SECRET_KEY": env.get("SECRET_KEY") or None,
        "GALLERY_HOST": env.get("GALLERY_HOST") or "127.0.0.1",
        "GALLERY_PORT": _number(env, "GALLERY_PORT", 5000, 1, 65535, integer=True),
        # Server-Sent Events and live MJPEG hold a thread each for as long as they are open.
        "GALLERY_THREADS": _number(env, "GALLERY_THREADS", 64, 4, 1024, integer=True),
        "GALLERY_PAGE_SIZE": _number(env, "GALLERY_PAGE_SIZE", 24, 1, MAX_PAGE_SIZE, integer=True),
        "REDIS_TIMEOUT": _number(env, "REDIS_TIMEOUT", 3.0, 0.5, 60.0),
        # Per-query TIMEOUT sent with every FT.SEARCH and FT.AGGREGATE, in milliseconds.
        "GALLERY_SEARCH_TIMEOUT_MS": _number(env, "GALLERY_SEARCH_TIMEOUT_MS", 2000, 10, 60000,
                                             integer=True),
        # An event stream ends after this long and the browser reconnects (freeing the thread).
        "GALLERY_SSE_SECONDS": _number(env, "GALLERY_SSE_SECONDS", 300, 1, 3600),
        "GALLERY_THUMBNAIL_WIDTH": _number(env, "GALLERY_THUMBNAIL_WIDTH", 480, 64, 1920, integer=True),
        # Live view: streams per process (0: half the threads), seconds without a frame before
        # a camera shows offline, and seconds a subscription outlives its last viewer.
        "LIVE_MAX_VIEWERS": _number(env, "LIVE_MAX_VIEWERS", 0, 0, 1024, integer=True),
        "LIVE_OFFLINE_AFTER": _number(env, "LIVE_OFFLINE_AFTER", 5.0, 0.5, 3600),
        "LIVE_LINGER": _number(env, "LIVE_LINGER", 3.0, 0, 3600),
        # Time-lapse: the longest movie in frames, and seconds a finished movie is kept.
        "TIMELAPSE_MAX_FRAMES": _number(env, "TIMELAPSE_MAX_FRAMES", 10_000, 1, 1_000_000, integer=True),
        "TIMELAPSE_TTL": _number(env, "TIMELAPSE_TTL", 3600, 10, 30 * 86400, integer=True),
    }


def finalize(config: dict[str, Any]) -> dict[str, Any]:
    """Check the merged config (environment plus test overrides) and fill in a secret key."""
    _check_redis_url(config["REDIS_URL"])
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = secrets.token_hex(32)
    for key in ("GALLERY_PORT", "GALLERY_THREADS", "GALLERY_PAGE_SIZE", "GALLERY_SEARCH_TIMEOUT_MS",
                "GALLERY_THUMBNAIL_WIDTH"):
        if not isinstance(config.get(key), int) or isinstance(config.get(key), bool):
            raise SettingsError(f"{key} must be a whole number, not {config.get(key)!r}.")
    for key in ("REDIS_TIMEOUT", "GALLERY_SSE_SECONDS"):
        if not isinstance(config.get(key), int | float) or config[key] <= 0:
            raise SettingsError(f"{key} must be a positive number of seconds, not {config.get(key)!r}.")
    return config


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float,
            integer: bool = False) -> Any:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    kind = "a whole number" if integer else "a number"
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not {kind}; use {kind} from {low} to {high}.") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise SettingsError(f"{name}={text!r} is out of range; use {kind} from {low} to {high}.")
    return value


def _check_redis_url(url: str) -> None:
    scheme = urlsplit(url).scheme
    if scheme not in ("redis", "rediss", "unix"):
        # Never echo the URL: it may hold a password.
        raise SettingsError(
            "REDIS_URL must start with redis://, rediss:// or unix://, e.g. redis://localhost:6379."
        )
