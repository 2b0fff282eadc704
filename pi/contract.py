"""The Redis data contract shared by the capture daemon (the writer) and the gallery.

Everything either process needs to agree on lives here and nowhere else: the key
names, the hash fields, the search index, and how a picture becomes a hash and back.
It imports only the standard library and redis, so the gallery never pulls in camera code.
The README's "Data model" section documents the same contract for redis-cli users.
"""

from __future__ import annotations

import logging
import math
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from redis.commands.search.field import Field, NumericField, TagField
from redis.commands.search.index_definition import IndexDefinition, IndexType

logger = logging.getLogger(__name__)

# --- Key names -------------------------------------------------------------------------

KEY_PREFIX = "image:"
INDEX_NAME = "idx:images"
#: Capped stream with one entry per stored image, for live views and other consumers.
STREAM_KEY = "images:new"
STREAM_MAXLEN = 1000
CAMERA_KEY_PREFIX = "camera:"
#: Sorted set of camera names, scored by the time of each camera's last heartbeat, so the
#: gallery finds cameras without scanning the keyspace.
CAMERAS_KEY = "cameras"
#: A camera silent for this long is dropped from `cameras`.
CAMERA_FORGET_AFTER = 30 * 86400
TIMELAPSE_KEY_PREFIX = "timelapse:"
#: Sorted set of the motion bursts marked reviewed in the gallery: each burst's first image
#: id, scored by when it was reviewed (entries older than REVIEWED_FORGET_AFTER are dropped).
REVIEWED_KEY = "gallery:reviewed"
REVIEWED_FORGET_AFTER = 90 * 86400

MIME_JPEG = "image/jpeg"

#: Camera names go into keys, tags and URLs, so they are kept to a safe alphabet.
CAMERA_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
#: What may follow `image:` in a key we serve. Covers our ids and the reference's
#: `image:<unix seconds>`; excludes glob and query syntax, so an id can't escape the prefix.
IMAGE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}(?::[A-Za-z0-9_.-]{1,40})?$")

TRIGGERS = ("interval", "sensor", "motion", "manual")


def image_id(camera: str, timestamp: float, nonce: str | None = None) -> str:
    """Return a new image id: `<camera>:<unix milliseconds>-<4 hex digits>`.

    The camera name keeps several cameras apart; milliseconds plus a random suffix keep
    pictures apart that one camera takes within the same millisecond, and two cameras that
    were (wrongly) given the same name.
    """
    if not CAMERA_NAME_RE.match(camera):
        raise ValueError(f"invalid camera name {camera!r}")
    nonce = nonce if nonce is not None else secrets.token_hex(2)
    return f"{camera}:{int(round(timestamp * 1000))}-{nonce}"


def image_key(image_id_: str) -> str:
    """Return the Redis key for an image id, refusing ids that could leave `image:`."""
    if not is_valid_image_id(image_id_):
        raise ValueError(f"invalid image id {image_id_!r}")
    return KEY_PREFIX + image_id_


def is_valid_image_id(image_id_: str) -> bool:
    """Tell whether a string is a well-formed image id."""
    return bool(IMAGE_ID_RE.match(image_id_))


def id_from_key(key: str | bytes) -> str:
    """Return the image id of an `image:` key."""
    if isinstance(key, bytes):
        key = key.decode()
    if not key.startswith(KEY_PREFIX):
        raise ValueError(f"not an image key: {key!r}")
    return key[len(KEY_PREFIX):]


def camera_key(camera: str) -> str:
    """Return the key of a camera's heartbeat hash (it carries a short TTL)."""
    return f"{CAMERA_KEY_PREFIX}{camera}"


def preview_channel(camera: str) -> str:
    """Return the pub/sub channel that carries a camera's live preview frames."""
    return f"{CAMERA_KEY_PREFIX}{camera}:frame"


def timelapse_key(job_id: str) -> str:
    """Return the key of a time-lapse job's state hash."""
    return f"{TIMELAPSE_KEY_PREFIX}{job_id}"


# --- The image hash --------------------------------------------------------------------

# Field names. Redis keeps no field order; this is the order the gallery shows them in.
F_TIMESTAMP = "timestamp"
F_CAPTURED_AT = "captured_at"
F_CAMERA = "camera"
F_TRIGGER = "trigger"
F_MIME_TYPE = "mime_type"
F_LUX = "lux"
F_WIDTH = "width"
F_HEIGHT = "height"
F_SIZE = "size_bytes"
F_EXPOSURE = "exposure_time"
F_GAIN = "analogue_gain"
F_COLOUR_TEMP = "colour_temperature"
F_LENS = "lens_position"
F_THUMBNAIL = "thumbnail"
F_IMAGE_DATA = "image_data"

BINARY_FIELDS = frozenset({F_IMAGE_DATA, F_THUMBNAIL})
#: Every text field a listing may ask for: all but the two binary ones.
METADATA_FIELDS = (
    F_TIMESTAMP, F_CAPTURED_AT, F_CAMERA, F_TRIGGER, F_MIME_TYPE, F_LUX, F_WIDTH, F_HEIGHT,
    F_SIZE, F_EXPOSURE, F_GAIN, F_COLOUR_TEMP, F_LENS,
)
_KNOWN = frozenset(METADATA_FIELDS) | BINARY_FIELDS


@dataclass
class ImageRecord:
    """One captured picture and its metadata, as stored in one `image:` hash.

    `image_data` and `thumbnail` are None when a listing did not load them. Camera
    metadata the contract has no field for goes into `extra` and is stored under its
    own (snake_case) name.
    """

    timestamp: float
    image_data: bytes | None = None
    mime_type: str = MIME_JPEG
    lux: float | None = None
    camera: str | None = None
    trigger: str | None = None
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None
    exposure_time: int | None = None  # microseconds
    analogue_gain: float | None = None
    colour_temperature: int | None = None  # kelvin
    lens_position: float | None = None  # dioptres
    thumbnail: bytes | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def captured_at(self) -> str:
        """Return the capture time as ISO 8601 UTC, for people reading the hash."""
        dt = datetime.fromtimestamp(self.timestamp, tz=UTC)
        return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def to_hash(self) -> dict[str, bytes | str]:
        """Return the hash fields to HSET; fields that are None are left out."""
        size = self.size_bytes
        if size is None and self.image_data is not None:
            size = len(self.image_data)
        values: dict[str, Any] = {
            F_TIMESTAMP: _fmt_float(self.timestamp, 3),
            F_CAPTURED_AT: self.captured_at,
            F_CAMERA: self.camera,
            F_TRIGGER: self.trigger,
            F_MIME_TYPE: self.mime_type,
            F_LUX: None if self.lux is None else _fmt_float(self.lux, 1),
            F_WIDTH: self.width,
            F_HEIGHT: self.height,
            F_SIZE: size,
            F_EXPOSURE: self.exposure_time,
            F_GAIN: None if self.analogue_gain is None else _fmt_float(self.analogue_gain, 3),
            F_COLOUR_TEMP: self.colour_temperature,
            F_LENS: None if self.lens_position is None else _fmt_float(self.lens_position, 3),
        }
        out: dict[str, bytes | str] = {k: str(v) for k, v in values.items() if v is not None}
        for name, value in self.extra.items():
            if name in _KNOWN:
                raise ValueError(f"extra metadata {name!r} clashes with a contract field")
            out[name] = str(value)
        if self.thumbnail is not None:
            out[F_THUMBNAIL] = self.thumbnail
        if self.image_data is not None:
            out[F_IMAGE_DATA] = self.image_data
        return out

    @classmethod
    def from_hash(cls, data: Mapping[Any, Any]) -> ImageRecord:
        """Build a record from HGETALL or search-result fields (bytes or str keys).

        Accepts the reference project's hashes: only image_data, timestamp, mime_type
        and lux, with integer strings and no thumbnail. Every value is treated as input
        from any writer (redis-cli is a documented way in): a number that is not finite,
        not a number or out of its plausible range becomes None ("unknown"), text loses
        control characters and is cut to a sane length. A hash without a usable timestamp
        raises MalformedImage, since a picture can't be placed in time without one.
        """
        h = {(k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k)): v for k, v in data.items()}
        text = {k: _clean_text(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
                for k, v in h.items() if k not in BINARY_FIELDS and v is not None}
        timestamp = parse_timestamp(text.get(F_TIMESTAMP))
        if timestamp is None:
            shown = repr(text.get(F_TIMESTAMP, "missing"))[:40]
            raise MalformedImage(f"image hash has no usable timestamp ({shown})")
        image_data = _as_bytes(h.get(F_IMAGE_DATA))
        size = _int(text.get(F_SIZE), F_SIZE)
        if size is None and image_data is not None:
            size = len(image_data)
        return cls(
            timestamp=timestamp,
            image_data=image_data,
            mime_type=text.get(F_MIME_TYPE) or MIME_JPEG,
            lux=_float(text.get(F_LUX), F_LUX),
            camera=text.get(F_CAMERA) or None,
            trigger=text.get(F_TRIGGER) or None,
            width=_int(text.get(F_WIDTH), F_WIDTH),
            height=_int(text.get(F_HEIGHT), F_HEIGHT),
            size_bytes=size,
            exposure_time=_int(text.get(F_EXPOSURE), F_EXPOSURE),
            analogue_gain=_float(text.get(F_GAIN), F_GAIN),
            colour_temperature=_int(text.get(F_COLOUR_TEMP), F_COLOUR_TEMP),
            lens_position=_float(text.get(F_LENS), F_LENS),
            thumbnail=_as_bytes(h.get(F_THUMBNAIL)),
            extra={k[:MAX_TEXT]: v for k, v in text.items() if k not in _KNOWN | {"id", "payload"}},
        )


class MalformedImage(ValueError):
    """An `image:` hash that can't be read as a picture (another writer put it there)."""


#: The capture times a camera can plausibly have: 2000-01-01 to 2100-01-01 UTC. A time in
#: milliseconds (JavaScript's Date.now()) or a year-1 date is outside, so it is refused.
TIMESTAMP_RANGE = (946684800.0, 4102444800.0)
#: Plausible ranges of the numeric fields; a value outside is stored by someone else's
#: mistake and reads as unknown.
NUMBER_RANGES: dict[str, tuple[float, float]] = {
    F_LUX: (0.0, 1e7),
    F_WIDTH: (1, 1_000_000),
    F_HEIGHT: (1, 1_000_000),
    F_SIZE: (0, 2**40),
    F_EXPOSURE: (0, 1e10),
    F_GAIN: (0.0, 1e5),
    F_COLOUR_TEMP: (0, 1e6),
    F_LENS: (-1e4, 1e4),
}
#: Longest text value read from a hash; longer text (a 1 MB camera name) is cut.
MAX_TEXT = 256
_HEARTBEAT_TIMES = (0.0, TIMESTAMP_RANGE[1])
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_timestamp(text: str | None) -> float | None:
    """Return a hash's `timestamp` as unix seconds, or None when it is not a plausible time."""
    return _float(text, bounds=TIMESTAMP_RANGE)


def _clean_text(value: str) -> str:
    return _CONTROL.sub("", value[:MAX_TEXT])


def _fmt_float(value: float, places: int) -> str:
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return text or "0"


def _float(text: str | None, name: str | None = None,
           bounds: tuple[float, float] | None = None) -> float | None:
    """Parse a number read from Redis: None unless finite and inside the field's range."""
    if text in (None, ""):
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    low, high = bounds or NUMBER_RANGES.get(name or "", (-math.inf, math.inf))
    if not math.isfinite(value) or not low <= value <= high:
        return None
    return value


def _int(text: str | None, name: str | None = None) -> int | None:
    value = _float(text, name)
    return None if value is None else int(value)


def _as_bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    text = str(value)
    try:
        return text.encode("latin-1")  # a client with decode_responses=True read it so
    except UnicodeEncodeError:
        return text.encode("utf-8")


# --- Storing ---------------------------------------------------------------------------


def save_image(client: redis.Redis, record: ImageRecord, ttl: float, image_id_: str) -> str:
    """Store a record with its TTL and announce it on the stream, atomically (MULTI/EXEC).

    HSET, EXPIRE and XADD travel in one round trip and apply together, so no hash is ever
    left without its TTL. Returns the key written. `ttl` must be positive.
    """
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    key = image_key(image_id_)
    pipe = client.pipeline(transaction=True)
    pipe.hset(key, mapping=record.to_hash())
    pipe.pexpire(key, int(ttl * 1000))
    pipe.xadd(STREAM_KEY, stream_entry(image_id_, record), maxlen=STREAM_MAXLEN, approximate=True)
    pipe.execute()
    return key


@dataclass(frozen=True)
class StreamEntry:
    """One entry of the `images:new` stream: which image was stored, and its key metadata.

    `to_fields()` is what the daemon writes; `from_fields()` reads an entry back, tolerant of
    entries another writer made by hand (missing or unreadable values become None; an entry
    without an image id gives None).
    """

    image_id: str
    timestamp: float | None = None
    camera: str | None = None
    trigger: str | None = None
    lux: float | None = None

    def to_fields(self) -> dict[str, str]:
        """Return the entry's stream fields."""
        entry = {"id": self.image_id}
        if self.timestamp is not None:
            entry[F_TIMESTAMP] = _fmt_float(self.timestamp, 3)
        if self.camera:
            entry[F_CAMERA] = self.camera
        if self.trigger:
            entry[F_TRIGGER] = self.trigger
        if self.lux is not None:
            entry[F_LUX] = _fmt_float(self.lux, 1)
        return entry

    @classmethod
    def from_fields(cls, fields: Mapping[Any, Any]) -> StreamEntry | None:
        """Read an entry (bytes or str keys and values); None when it names no valid image."""
        text = {(k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k)):
                (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
                for k, v in fields.items()}
        image_id_ = text.get("id", "")
        if not is_valid_image_id(image_id_):
            return None

        def number(name: str) -> float | None:
            try:
                value = float(text[name])
            except (KeyError, ValueError):
                return None
            return value if math.isfinite(value) else None

        return cls(image_id_, number(F_TIMESTAMP), text.get(F_CAMERA) or None,
                   text.get(F_TRIGGER) or None, number(F_LUX))


def stream_entry(image_id_: str, record: ImageRecord) -> dict[str, str]:
    """Return the fields of the stream entry announcing a stored image."""
    return StreamEntry(image_id_, record.timestamp, record.camera, record.trigger,
                       record.lux).to_fields()


# --- Camera heartbeat ------------------------------------------------------------------


@dataclass
class CameraStatus:
    """What a capture daemon says about itself in its heartbeat hash `camera:<name>`."""

    camera: str
    host: str = ""
    started_at: float = 0.0
    last_capture: float | None = None
    last_id: str | None = None
    triggers: str = ""

    def to_hash(self) -> dict[str, str]:
        """Return the heartbeat hash fields."""
        out = {"camera": self.camera, "host": self.host, "started_at": _fmt_float(self.started_at, 3),
               "triggers": self.triggers, "updated_at": _fmt_float(time.time(), 3)}
        if self.last_capture is not None:
            out["last_capture"] = _fmt_float(self.last_capture, 3)
        if self.last_id:
            out["last_id"] = self.last_id
        return out

    @classmethod
    def from_hash(cls, data: Mapping[Any, Any]) -> CameraStatus:
        """Build a status from HGETALL of a heartbeat key."""
        h = {_s(k): _clean_text(_s(v)) for k, v in data.items()}
        return cls(camera=h.get("camera", ""), host=h.get("host", ""),
                   started_at=_float(h.get("started_at"), bounds=_HEARTBEAT_TIMES) or 0.0,
                   last_capture=_float(h.get("last_capture"), bounds=_HEARTBEAT_TIMES),
                   last_id=h.get("last_id") or None,
                   triggers=h.get("triggers", ""))


def save_heartbeat(client: redis.Redis, status: CameraStatus, ttl: float) -> None:
    """Refresh a camera's heartbeat hash and its short TTL, and note it in `cameras`, atomically."""
    now = time.time()
    key = camera_key(status.camera)
    pipe = client.pipeline(transaction=True)
    pipe.hset(key, mapping=status.to_hash())
    pipe.expire(key, max(1, math.ceil(ttl)))
    pipe.zadd(CAMERAS_KEY, {status.camera: now})
    pipe.zremrangebyscore(CAMERAS_KEY, "-inf", now - CAMERA_FORGET_AFTER)
    pipe.execute()


def clear_heartbeat(client: redis.Redis, camera: str) -> None:
    """Remove a camera's heartbeat (it stopped cleanly), so it shows offline at once."""
    client.delete(camera_key(camera))


def camera_statuses(client: redis.Redis, limit: int | None = None) -> dict[str, CameraStatus]:
    """Return the registered cameras whose heartbeat is still alive, by name (at most `limit`)."""
    names = [name for name in camera_names(client) if CAMERA_NAME_RE.match(name)][:limit]
    if not names:
        return {}
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.hgetall(camera_key(name))
    return {name: CameraStatus.from_hash(data) for name, data in zip(names, pipe.execute()) if data}


def camera_names(client: redis.Redis) -> list[str]:
    """Return the cameras that sent a heartbeat in the last CAMERA_FORGET_AFTER seconds."""
    names = client.zrangebyscore(CAMERAS_KEY, time.time() - CAMERA_FORGET_AFTER, "+inf")
    return sorted(n.decode() if isinstance(n, bytes) else n for n in names)


# --- The search index ------------------------------------------------------------------

#: The reference's three fields first, then ours. Everything filterable is indexed.
SCHEMA: tuple[Field, ...] = (
    TagField(F_MIME_TYPE),
    NumericField(F_LUX, sortable=True),
    NumericField(F_TIMESTAMP, sortable=True),
    TagField(F_CAMERA, sortable=True),
    TagField(F_TRIGGER),
    NumericField(F_WIDTH),
    NumericField(F_HEIGHT),
    NumericField(F_SIZE),
    NumericField(F_EXPOSURE),
    NumericField(F_GAIN),
    NumericField(F_COLOUR_TEMP),
    NumericField(F_LENS),
)


class SearchModuleMissing(RuntimeError):
    """The Redis server has no search module (RediSearch / Redis Query Engine)."""


def search_module_missing_message(where: str) -> str:
    """Return the one-paragraph explanation and fix for a Redis without search."""
    return (
        f"The Redis server at {where} has no search module (RediSearch), so the "
        f"{INDEX_NAME} index cannot be used. Fix: run Redis Stack with `docker compose up -d` "
        "and point REDIS_URL at it (redis://localhost:6379), or unset REDIS_URL so "
        "`make run` starts the embedded Redis with the search module."
    )


def has_search_module(client: redis.Redis) -> bool:
    """Tell whether the server answers FT.* commands."""
    try:
        client.execute_command("FT._LIST")
    except redis.ResponseError as exc:
        if "unknown command" in str(exc).lower():
            return False
        raise
    return True


def ensure_index(client: redis.Redis, where: str = "the configured Redis") -> str:
    """Create `idx:images`, or add the fields an older schema lacks; never drop it.

    Idempotent and safe to race: both processes call it at start. Returns "created",
    "altered" or "unchanged". Raises SearchModuleMissing when the server has no FT.*.
    """
    if not has_search_module(client):
        raise SearchModuleMissing(search_module_missing_message(where))
    index = client.ft(INDEX_NAME)
    try:
        existing = _index_attributes(index.info())
    except redis.ResponseError as exc:
        if not _is_missing_index(exc):
            raise
        try:
            index.create_index(
                list(SCHEMA), definition=IndexDefinition(prefix=[KEY_PREFIX], index_type=IndexType.HASH)
            )
            logger.info("Created search index %s on %s*", INDEX_NAME, KEY_PREFIX)
            return "created"
        except redis.ResponseError as race:
            if "already exists" not in str(race).lower():
                raise
            existing = _index_attributes(index.info())
    missing = [f for f in SCHEMA if f.name not in existing]
    for schema_field in missing:
        try:
            index.alter_schema_add([schema_field])
        except redis.ResponseError as exc:
            if "duplicate" not in str(exc).lower():
                raise
    if missing:
        logger.info("Added fields %s to search index %s", ", ".join(f.name for f in missing), INDEX_NAME)
        return "altered"
    return "unchanged"


def index_fields(client: redis.Redis) -> dict[str, str]:
    """Return the index's attributes as {name: type}, e.g. {"lux": "NUMERIC"}."""
    return _index_attributes(client.ft(INDEX_NAME).info())


def _is_missing_index(exc: Exception) -> bool:
    text = str(exc).lower()
    return "unknown index" in text or "no such index" in text or "not found" in text


def _index_attributes(info: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for attr in info.get("attributes", []):
        if isinstance(attr, Mapping):
            pairs = {_s(k): _s(v) for k, v in attr.items()}
        else:
            items = [_s(x) for x in attr]
            pairs = dict(zip(items[0::2], items[1::2]))
        name = pairs.get("attribute") or pairs.get("identifier")
        if name:
            out[name] = pairs.get("type", "")
    return out


def _s(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# --- Settings both processes read --------------------------------------------------------

DEFAULT_REDIS_URL = "redis://localhost:6379"


def redis_url_from_env() -> str:
    """Return REDIS_URL, or the reference's default of localhost:6379."""
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
