"""The gallery's settings: one table, read from the environment once, validated, typed.

`from_env()` reads the environment into config keys (the names users set); `finalize()`
checks the merged config (environment plus a test's overrides) and returns it together with
the typed `GallerySettings` every wing reads (`services().settings`), so no code re-casts a
setting with int() or float() where it uses it. A bad value raises SettingsError naming the
variable; `pi-gallery` turns that into one line and exit status 2.
"""

from __future__ import annotations

import importlib.util
import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pi.contract import DEFAULT_REDIS_URL

if TYPE_CHECKING:
    from server.archive.settings import ArchiveSettings

#: The largest page a client may ask for; bigger requests get a 400 naming `limit`.
MAX_PAGE_SIZE = 100


class SettingsError(ValueError):
    """A setting has a value the gallery cannot use; the message names it and the fix."""


@dataclass(frozen=True)
class Number:
    """One numeric setting: its variable, default and bounds."""

    key: str
    default: float
    low: float
    high: float
    integer: bool = False

    def parse(self, text: str) -> float | int:
        """Return the value of `text`, or raise SettingsError naming the variable."""
        kind = "a whole number" if self.integer else "a number"
        try:
            value: float | int = int(text) if self.integer else float(text)
        except ValueError:
            raise SettingsError(f"{self.key}={text!r} is not {kind}; use {kind} from {self.low} "
                                f"to {self.high}.") from None
        if not math.isfinite(value) or not self.low <= value <= self.high:
            raise SettingsError(f"{self.key}={text!r} is out of range; use {kind} from {self.low} "
                                f"to {self.high}.")
        return value


#: Every numeric setting of the gallery process, with its default and bounds.
NUMBERS = (
    Number("GALLERY_PORT", 5000, 1, 65535, integer=True),
    # Server-Sent Events and live MJPEG hold a thread each for as long as they are open.
    Number("GALLERY_THREADS", 64, 4, 1024, integer=True),
    Number("GALLERY_PAGE_SIZE", 24, 1, MAX_PAGE_SIZE, integer=True),
    Number("REDIS_TIMEOUT", 3.0, 0.5, 60.0),
    # Per-query TIMEOUT sent with every FT.SEARCH and FT.AGGREGATE, in milliseconds.
    Number("GALLERY_SEARCH_TIMEOUT_MS", 2000, 10, 60000, integer=True),
    # An event stream ends after this long and the browser reconnects (freeing the thread).
    Number("GALLERY_SSE_SECONDS", 300, 1, 3600),
    Number("GALLERY_THUMBNAIL_WIDTH", 480, 64, 1920, integer=True),
    # Live view: streams per process (0: half the threads), seconds without a frame before
    # a camera shows offline, and seconds a subscription outlives its last viewer.
    Number("LIVE_MAX_VIEWERS", 0, 0, 1024, integer=True),
    Number("LIVE_OFFLINE_AFTER", 5.0, 0.5, 3600),
    Number("LIVE_LINGER", 3.0, 0, 3600),
    # Frames larger than this are dropped (the daemon's own limit should be lower).
    Number("LIVE_MAX_FRAME_BYTES", 1024 * 1024, 1024, 64 * 1024 * 1024, integer=True),
    # A viewer that has not taken a frame for this long is stuck writing to a dead client.
    Number("LIVE_WRITE_TIMEOUT", 30.0, 0.1, 3600),
    # Time-lapse: the longest movie in frames, and seconds a finished movie is kept.
    Number("TIMELAPSE_MAX_FRAMES", 10_000, 1, 1_000_000, integer=True),
    Number("TIMELAPSE_TTL", 3600, 10, 30 * 86400, integer=True),
)
_BY_KEY = {n.key: n for n in NUMBERS}


def default(key: str) -> float | int:
    """Return the default of a numeric setting (for code that runs without the gallery)."""
    return _BY_KEY[key].default


@dataclass(frozen=True)
class GallerySettings:
    """The gallery process's settings, validated; read them as `services().settings`."""

    redis_url: str
    password: str | None
    secret_key: str
    host: str
    port: int
    threads: int
    page_size: int
    redis_timeout: float
    search_timeout_ms: int
    sse_seconds: float
    thumbnail_width: int
    live_max_viewers: int
    live_offline_after: float
    live_linger: float
    live_max_frame_bytes: int
    live_write_timeout: float
    timelapse_max_frames: int
    timelapse_ttl: int
    timelapse_tmpdir: str | None = None
    #: The archive of originals (ARCHIVE_URL and the settings beside it), None without one.
    archive: ArchiveSettings | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GallerySettings:
        """Return the typed settings of a finalized config."""
        def num(key: str) -> Any:
            return config.get(key, _BY_KEY[key].default)

        return cls(
            redis_url=config["REDIS_URL"], password=config.get("GALLERY_PASSWORD") or None,
            secret_key=config["SECRET_KEY"], host=config.get("GALLERY_HOST") or "127.0.0.1",
            port=num("GALLERY_PORT"), threads=num("GALLERY_THREADS"),
            page_size=num("GALLERY_PAGE_SIZE"), redis_timeout=float(num("REDIS_TIMEOUT")),
            search_timeout_ms=num("GALLERY_SEARCH_TIMEOUT_MS"),
            sse_seconds=float(num("GALLERY_SSE_SECONDS")),
            thumbnail_width=num("GALLERY_THUMBNAIL_WIDTH"),
            live_max_viewers=num("LIVE_MAX_VIEWERS"),
            live_offline_after=float(num("LIVE_OFFLINE_AFTER")),
            live_linger=float(num("LIVE_LINGER")),
            live_max_frame_bytes=num("LIVE_MAX_FRAME_BYTES"),
            live_write_timeout=float(num("LIVE_WRITE_TIMEOUT")),
            timelapse_max_frames=num("TIMELAPSE_MAX_FRAMES"), timelapse_ttl=num("TIMELAPSE_TTL"),
            timelapse_tmpdir=config.get("TIMELAPSE_TMPDIR") or None,
            archive=config.get("ARCHIVE"),
        )

    @property
    def live_viewer_limit(self) -> int:
        """Open MJPEG streams per process: LIVE_MAX_VIEWERS, or half the threads when 0."""
        return self.live_max_viewers or max(1, self.threads // 2)


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the gallery's config, read from the environment (or `environ`) and validated."""
    env = os.environ if environ is None else environ
    config: dict[str, Any] = {
        # Where the images are; the reference's variable and default.
        "REDIS_URL": env.get("REDIS_URL") or DEFAULT_REDIS_URL,
        # Login is off unless a password is set.
        "GALLERY_PASSWORD": env.get("GALLERY_PASSWORD") or None,
        # Signs the session cookie; a random one per start logs everybody out on restart.
        "SECRET_KEY": env.get("SECRET_KEY") or None,
        "GALLERY_HOST": env.get("GALLERY_HOST") or "127.0.0.1",
    }
    for number in NUMBERS:
        text = (env.get(number.key) or "").strip()
        config[number.key] = number.parse(text) if text else number.default
    # The archive's settings (server/archive/settings.py), read by the gallery too: it serves
    # originals whose full size has left Redis from there. Parsed in finalize().
    config.update({name: value for name, value in env.items() if name.startswith(ARCHIVE_PREFIX)})
    return config


#: Settings of the archive of originals start with this (ARCHIVE_URL, ARCHIVE_S3_ENDPOINT...).
ARCHIVE_PREFIX = "ARCHIVE_"


def _archive_settings(config: Mapping[str, Any]) -> ArchiveSettings | None:
    """Read the archive's settings with the archiver's own parser, or None without ARCHIVE_URL."""
    if not str(config.get("ARCHIVE_URL") or "").strip():
        return None
    from server.archive import settings as archive

    env = {**os.environ, **{k: str(v) for k, v in config.items()
                            if k.startswith(ARCHIVE_PREFIX) and v is not None}}
    env["REDIS_URL"] = config["REDIS_URL"]
    env.pop("LOG_LEVEL", None)  # the gallery's own logging, not the archiver's
    try:
        found = archive.load_settings(env)
    except archive.SettingsError as exc:
        raise SettingsError(str(exc)) from None
    if found.scheme == "s3" and importlib.util.find_spec("boto3") is None:
        raise SettingsError("ARCHIVE_URL is s3:// but boto3 is not installed in the gallery: "
                            "pip install '.[server,archive]' (or unset ARCHIVE_URL).")
    return found


def finalize(config: dict[str, Any]) -> tuple[dict[str, Any], GallerySettings]:
    """Check the merged config (environment plus test overrides), fill in a secret key, and
    return it with its typed settings."""
    _check_redis_url(config["REDIS_URL"])
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = secrets.token_hex(32)
    config["ARCHIVE"] = _archive_settings(config)
    for number in NUMBERS:
        value = config.get(number.key, number.default)
        if number.integer and (not isinstance(value, int) or isinstance(value, bool)):
            raise SettingsError(f"{number.key} must be a whole number, not {value!r}.")
        if not number.integer and (isinstance(value, bool) or not isinstance(value, int | float)
                                   or value < 0 or (value == 0 and number.low > 0)):
            raise SettingsError(f"{number.key} must be a positive number of seconds, not {value!r}.")
    return config, GallerySettings.from_config(config)


def _check_redis_url(url: str) -> None:
    scheme = urlsplit(url).scheme
    if scheme not in ("redis", "rediss", "unix"):
        # Never echo the URL: it may hold a password.
        raise SettingsError(
            "REDIS_URL must start with redis://, rediss:// or unix://, e.g. redis://localhost:6379."
        )
