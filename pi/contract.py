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
from collections.abc import Mapping, Sequence
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
#: The gallery's login sessions (one key per session, so logout ends it server-side) and
#: its failed-login rate limits (Flask-Limiter's keys start with this).
SESSION_KEY_PREFIX = "gallery:session:"
LOGIN_LIMITS_KEY_PREFIX = "gallery:limits"
#: Sorted set of the motion bursts marked reviewed in the gallery: each burst's first image
#: id, scored by when it was reviewed (entries older than REVIEWED_FORGET_AFTER are dropped).
REVIEWED_KEY = "gallery:reviewed"
REVIEWED_FORGET_AFTER = 90 * 86400
#: Hash of full-size budgets and the minimum age (see "Retention" below and the README).
BUDGETS_KEY = "retention:budgets"
#: Per camera: sorted set of the ids of its pictures that still have their full size,
#: scored by capture time (unix seconds): the order budgets trim in, oldest first.
FULL_SET_PREFIX = "retention:full:"
#: The notifier's state (server/notify): per-target status, delivery marks, digests.
NOTIFY_KEY_PREFIX = "notify:"
#: Hash: camera name -> "online" or "offline", as the notifier last announced it.
NOTIFY_CAMERAS_KEY = "notify:cameras"
#: Hash: the notifier process itself (consumer, started_at, updated_at, pending, lag, targets).
NOTIFY_STATUS_KEY = "notify:status"

MIME_JPEG = "image/jpeg"
MIME_WEBP = "image/webp"

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


def session_key(session_id: str) -> str:
    """Return the key that keeps a gallery login session alive."""
    return f"{SESSION_KEY_PREFIX}{session_id}"


def full_set_key(camera: str) -> str:
    """Return the key of a camera's sorted set of full-size pictures (oldest first)."""
    return f"{FULL_SET_PREFIX}{camera}"


def notify_target_key(target: str) -> str:
    """Return the key of a notification target's status hash (last fired, last error, rule)."""
    return f"{NOTIFY_KEY_PREFIX}target:{target}"


def notify_cooldown_key(target: str) -> str:
    """Return the key of a target's hash camera -> time of the picture it last fired for."""
    return f"{NOTIFY_KEY_PREFIX}cooldown:{target}"


def notify_digest_key(target: str) -> str:
    """Return the key of a target's hash camera -> JSON of the digest being collected."""
    return f"{NOTIFY_KEY_PREFIX}digest:{target}"


def notify_done_key(stream_id: str) -> str:
    """Return the key of the set of targets already done with one stream entry."""
    return f"{NOTIFY_KEY_PREFIX}done:{stream_id}"


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
# Retention (issue 9). Times are unix seconds; see "Retention tiers" below.
F_THUMBNAIL_MIME = "thumbnail_mime"
#: When the full size (image_data) goes or went; indexed, so "full size available" is
#: `@full_until:[<now> +inf]`. "inf" while the picture is kept.
F_FULL_UNTIL = "full_until"
#: What the capture settings planned for the full size and the whole picture; "Let it
#: expire" restores them.
F_PLAN_FULL_UNTIL = "plan_full_until"
F_PLAN_HISTORY_UNTIL = "plan_history_until"
#: A near-duplicate stored without its full size: the capture time and id of the last
#: stored picture it matches.
F_UNCHANGED_SINCE = "unchanged_since"
F_SAME_AS = "same_as"

BINARY_FIELDS = frozenset({F_IMAGE_DATA, F_THUMBNAIL})
#: The retention fields (issue 9), in the order shown; `unchanged_since` and `same_as` only
#: in near-duplicates, none in the reference's hashes.
RETENTION_FIELDS = (F_THUMBNAIL_MIME, F_FULL_UNTIL, F_PLAN_FULL_UNTIL, F_PLAN_HISTORY_UNTIL,
                    F_UNCHANGED_SINCE, F_SAME_AS)
#: Every text field a listing may ask for: all but the two binary ones.
METADATA_FIELDS = (
    F_TIMESTAMP, F_CAPTURED_AT, F_CAMERA, F_TRIGGER, F_MIME_TYPE, F_LUX, F_WIDTH, F_HEIGHT,
    F_SIZE, F_EXPOSURE, F_GAIN, F_COLOUR_TEMP, F_LENS, *RETENTION_FIELDS,
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
    thumbnail_mime: str | None = None
    full_until: float | None = None
    plan_full_until: float | None = None
    plan_history_until: float | None = None
    unchanged_since: float | None = None
    same_as: str | None = None

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
            F_THUMBNAIL_MIME: self.thumbnail_mime,
            F_FULL_UNTIL: None if self.full_until is None else _fmt_float(self.full_until, 3),
            F_PLAN_FULL_UNTIL: None if self.plan_full_until is None else _fmt_float(self.plan_full_until, 3),
            F_PLAN_HISTORY_UNTIL: (None if self.plan_history_until is None
                                   else _fmt_float(self.plan_history_until, 3)),
            F_UNCHANGED_SINCE: None if self.unchanged_since is None else _fmt_float(self.unchanged_since, 3),
            F_SAME_AS: self.same_as,
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
            thumbnail_mime=text.get(F_THUMBNAIL_MIME) or None,
            full_until=_until(text.get(F_FULL_UNTIL)),
            plan_full_until=_float(text.get(F_PLAN_FULL_UNTIL)),
            plan_history_until=_float(text.get(F_PLAN_HISTORY_UNTIL)),
            unchanged_since=_float(text.get(F_UNCHANGED_SINCE)),
            same_as=text.get(F_SAME_AS) or None,
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


def save_image(client: redis.Redis, record: ImageRecord, ttl: float, image_id_: str, *,
               full_ttl: float | None = None, trim: TrimPolicy | None = None) -> str:
    """Store a record with its TTL and announce it on the stream, atomically (MULTI/EXEC).

    HSET, PEXPIRE and XADD travel in one round trip and apply together, so no hash is ever
    left without its TTL. Returns the key written. `ttl` must be positive.

    Two tiers (issue 9): with `full_ttl` shorter than `ttl`, the same MULTI also gives the
    `image_data` field its own, shorter expiry (HPEXPIRE): the full size goes after
    `full_ttl`, the thumbnail and metadata after `ttl`. The caller checks once that the
    server has field expiry (`supports_field_expiry`). The picture also joins its camera's
    full-size set, and with a `trim` policy that camera's oldest full-size pictures over its
    budget drop to thumbnail-only in the same MULTI (`TRIM_SCRIPT`).
    """
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    key = image_key(image_id_)
    now = time.time()
    tiered = full_ttl is not None and 0 < full_ttl < ttl and record.image_data is not None
    if record.plan_history_until is None:
        record.plan_history_until = round(now + ttl, 3)
    if record.image_data is not None:
        if record.plan_full_until is None:
            record.plan_full_until = round(now + (full_ttl if tiered and full_ttl else ttl), 3)
        record.full_until = record.plan_full_until
    elif record.full_until is None:
        record.full_until = record.timestamp  # stored without its full size
    if record.thumbnail is not None and record.thumbnail_mime is None:
        record.thumbnail_mime = sniff_image_mime(record.thumbnail)
    pipe = client.pipeline(transaction=True)
    pipe.hset(key, mapping=record.to_hash())
    pipe.pexpire(key, int(ttl * 1000))
    if tiered:
        assert full_ttl is not None
        pipe.execute_command("HPEXPIRE", key, int(full_ttl * 1000), "FIELDS", 1, F_IMAGE_DATA)
    has_set = record.image_data is not None and record.camera and CAMERA_NAME_RE.match(record.camera)
    if has_set:
        assert record.camera is not None
        set_key = full_set_key(record.camera)
        pipe.zadd(set_key, {image_id_: round(record.timestamp, 3)})
        # Entries older than the key's TTL are gone with their key (the trim script also
        # drops any entry whose full size has gone, however it went).
        pipe.zremrangebyscore(set_key, "-inf", f"({now - ttl:.3f}")
        if trim is not None:
            _eval(pipe, _TRIM_LUA, [set_key], trim.script_args(now))
    pipe.xadd(STREAM_KEY, stream_entry(image_id_, record), maxlen=STREAM_MAXLEN, approximate=True)
    results = pipe.execute()
    if has_set and trim is not None:
        trimmed, kept_bytes = results[-2]
        trim.last_trimmed, trim.last_bytes = int(trimmed), int(kept_bytes)
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
        """Read an entry (bytes or str keys and values); None when it names no valid image.

        Values another writer got wrong read as None: a timestamp or light level that is not
        a finite number (or an implausible light level), a camera or trigger outside the
        safe alphabet.
        """
        h = {_s(k): _s(v) for k, v in fields.items()}
        image_id_ = h.get("id", "")
        if not is_valid_image_id(image_id_):
            return None
        camera, trigger = h.get(F_CAMERA) or None, h.get(F_TRIGGER) or None
        return cls(image_id_, _float(h.get(F_TIMESTAMP)),
                   camera if camera and CAMERA_NAME_RE.match(camera) else None,
                   trigger if trigger and CAMERA_NAME_RE.match(trigger) else None,
                   _float(h.get(F_LUX), F_LUX))


@dataclass(frozen=True)
class CheckedStreamEntry(StreamEntry):
    """A stream entry `read_stream_entry` checked: it has a plausible timestamp."""

    timestamp: float = 0.0


def read_stream_entry(fields: Mapping[Any, Any]) -> CheckedStreamEntry:
    """Return the entry a stream message announces, or raise ValueError naming what is wrong.

    The strict reader, for workers that act on each picture (the notifier): the id must be
    a valid image id, the timestamp a plausible time, and a camera or trigger that is
    present must be a valid name. (`StreamEntry.from_fields` is the tolerant reader.)
    """
    h = {_s(k): _s(v) for k, v in fields.items()}
    entry = StreamEntry.from_fields(h)
    if entry is None:
        raise ValueError(f"invalid image id {h.get('id', '')[:60]!r}")
    timestamp = parse_timestamp(h.get(F_TIMESTAMP))
    if timestamp is None:
        raise ValueError(f"invalid timestamp {h.get(F_TIMESTAMP, '')[:40]!r}")
    if h.get(F_CAMERA) and entry.camera is None:
        raise ValueError(f"invalid camera name {h[F_CAMERA][:40]!r}")
    if h.get(F_TRIGGER) and entry.trigger is None:
        raise ValueError(f"invalid trigger {h[F_TRIGGER][:40]!r}")
    camera = entry.camera or (entry.image_id.split(":", 1)[0] if ":" in entry.image_id else None)
    return CheckedStreamEntry(entry.image_id, timestamp, camera, entry.trigger, entry.lux)


def sniff_image_mime(data: bytes) -> str:
    """Return the MIME type of image bytes (JPEG, WebP or PNG) from their magic number."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return MIME_WEBP
    if data.startswith(b"\x89PNG"):
        return "image/png"
    return MIME_JPEG


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
    # A key of another type there (redis-cli) is no heartbeat, not a failure of Redis.
    replies = pipe.execute(raise_on_error=False)
    return {name: CameraStatus.from_hash(data) for name, data in zip(names, replies)
            if data and not isinstance(data, Exception)}


def camera_names(client: redis.Redis) -> list[str]:
    """Return the cameras that sent a heartbeat in the last CAMERA_FORGET_AFTER seconds."""
    try:
        names = client.zrangebyscore(CAMERAS_KEY, time.time() - CAMERA_FORGET_AFTER, "+inf")
    except redis.ResponseError as exc:
        if "WRONGTYPE" not in str(exc):
            raise
        return []  # another writer put something else there: no registered camera
    return sorted(n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names)


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
    NumericField(F_FULL_UNTIL),
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


# --- Archive of originals (server/archive) ------------------------------------------------

#: Hash field the archiver adds once a picture's original is in the archive: where it is,
#: as a URL without credentials (file:///srv/archive/garden/2025/11/21/21-38-58.123-3fa2.jpg
#: or s3://bucket/prefix/garden/...). Written only to a hash that exists, so its TTL stays.
F_ARCHIVED = "archived"
#: The archiver's consumer group on STREAM_KEY.
ARCHIVE_GROUP = "archiver"
#: Hash with the archiver's state (ArchiveStatus), refreshed every few seconds with a short TTL:
#: a missing key means no archiver runs.
ARCHIVE_STATUS_KEY = "archive:status"
ARCHIVE_STATUS_TTL = 60
#: Set of image ids whose archive copy is marked kept (the archiver keeps it in step with keep).
ARCHIVE_KEPT_KEY = "archive:kept"
#: Held (SET NX with a TTL) by the archiver that walks the index, so two never walk at once.
ARCHIVE_CATCHUP_LOCK_KEY = "archive:catchup-lock"

_MARK_ARCHIVED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


def mark_archived(client: redis.Redis, image_id_: str, location: str) -> bool:
    """Record in a picture's hash where its original was archived; False if the hash is gone.

    HSET of a new field leaves the key's TTL and other fields' expiry (image_data) as they
    were; the script makes sure an expired picture is not brought back as a hash without TTL.
    """
    return bool(client.eval(_MARK_ARCHIVED, 1, image_key(image_id_), F_ARCHIVED, location))


@dataclass
class ArchiveStatus:
    """What the archiver says about itself in `archive:status`, for the stats panel and /healthz."""

    state: str = "starting"  # "ok", "retrying" (archive or Redis unreachable/full), "stopped"
    archive: str = ""  # the archive's URL, without credentials
    consumer: str = ""
    started_at: float = 0.0
    updated_at: float = 0.0
    last_ok: float | None = None  # when the last picture was archived
    last_error: str = ""
    last_error_at: float | None = None
    pending: int = 0  # stream entries delivered and not yet archived
    backlog: int = 0  # pictures waiting: pending, not yet delivered, and found by the index walk
    archived: int = 0  # pictures archived since start
    missed: int = 0  # pictures whose original had left Redis before the archiver got to them

    def to_hash(self) -> dict[str, str]:
        """Return the status hash fields (None left out)."""
        out = {name: (_fmt_float(value, 3) if isinstance(value, float) else str(value))
               for name, value in vars(self).items() if value is not None}
        return out

    @classmethod
    def from_hash(cls, data: Mapping[Any, Any]) -> ArchiveStatus:
        """Build a status from HGETALL of `archive:status`; bad numbers read as unknown."""
        h = {_s(k): _s(v) for k, v in data.items()}
        return cls(state=h.get("state", ""), archive=h.get("archive", ""), consumer=h.get("consumer", ""),
                   started_at=_float(h.get("started_at")) or 0.0,
                   updated_at=_float(h.get("updated_at")) or 0.0,
                   last_ok=_float(h.get("last_ok")), last_error=h.get("last_error", ""),
                   last_error_at=_float(h.get("last_error_at")), pending=_int(h.get("pending")) or 0,
                   backlog=_int(h.get("backlog")) or 0, archived=_int(h.get("archived")) or 0,
                   missed=_int(h.get("missed")) or 0)


def save_archive_status(client: redis.Redis, status: ArchiveStatus) -> None:
    """Replace `archive:status` with `status` and its short TTL, atomically."""
    pipe = client.pipeline(transaction=True)
    pipe.delete(ARCHIVE_STATUS_KEY)
    pipe.hset(ARCHIVE_STATUS_KEY, mapping=status.to_hash())
    pipe.expire(ARCHIVE_STATUS_KEY, ARCHIVE_STATUS_TTL)
    pipe.execute()


def read_archive_status(client: redis.Redis) -> ArchiveStatus | None:
    """Return the archiver's status, or None when no archiver runs."""
    data = client.hgetall(ARCHIVE_STATUS_KEY)
    return ArchiveStatus.from_hash(data) if data else None


# --- Query syntax ------------------------------------------------------------------------

#: RediSearch's rule for tag values: every ASCII punctuation mark and blank is escaped with a
#: backslash. That includes '_' (a lone `{_}` is a syntax error) and leaves letters outside
#: ASCII alone (escaped, they no longer match). A ',' is the TAG separator: "a,b" is stored
#: as the two tags a and b, so no query matches it whole.
_TAG_SPECIAL = re.compile(r"([\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f])")


def escape_tag(value: str) -> str:
    """Escape every character of a tag value that query syntax could read as an operator."""
    return _TAG_SPECIAL.sub(r"\\\1", value)


# --- Settings both processes read --------------------------------------------------------

DEFAULT_REDIS_URL = "redis://localhost:6379"


def redis_url_from_env() -> str:
    """Return REDIS_URL, or the reference's default of localhost:6379."""
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


# --- Retention: two tiers, keep, budgets (issue 9) -------------------------------------
#
# A picture is one hash in two tiers: the full-size `image_data` field has its own expiry
# (HPEXPIRE, Redis >= 7.4), shorter than the key's, which carries the thumbnail and
# metadata. The daemon owns its camera's pictures: after each store it trims its own
# oldest full-size pictures down to its budget, exactly oldest first, in the same MULTI.

#: Fields of BUDGETS_KEY: bytes for `default`, `total` and `camera:<name>`, seconds for `min_age`.
BUDGET_DEFAULT = "default"
BUDGET_TOTAL = "total"
BUDGET_MIN_AGE = "min_age"
BUDGET_CAMERA_PREFIX = "camera:"
#: "Let it expire" never expires anything sooner than this from now.
MIN_LET_EXPIRE_SECONDS = 10.0

_TRIM_LUA = """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local budget = tonumber(ARGV[1])
local protect = tonumber(ARGV[2])
local live, total = {}, 0
for i = 1, #ids, 2 do
  local key = ARGV[4] .. ids[i]
  local size = redis.call('HSTRLEN', key, 'image_data')
  if size == 0 or redis.call('PTTL', key) == -1 then
    redis.call('ZREM', KEYS[1], ids[i])
  else
    total = total + size
    live[#live + 1] = {ids[i], key, size, tonumber(ids[i + 1])}
  end
end
local trimmed = 0
if budget >= 0 then
  for _, e in ipairs(live) do
    if total <= budget or e[4] >= protect then break end
    redis.call('HDEL', e[2], 'image_data')
    redis.call('HSET', e[2], 'full_until', ARGV[3])
    redis.call('ZREM', KEYS[1], e[1])
    total = total - e[3]
    trimmed = trimmed + 1
  end
end
return {trimmed, total}
"""

_KEEP_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-2, 0} end
local pttl = redis.call('PTTL', KEYS[1])
redis.call('PERSIST', KEYS[1])
local full = redis.call('HEXISTS', KEYS[1], 'image_data')
if full == 1 then
  redis.pcall('HPERSIST', KEYS[1], 'FIELDS', 1, 'image_data')
  redis.call('HSET', KEYS[1], 'full_until', 'inf')
end
if KEYS[2] then redis.call('ZREM', KEYS[2], ARGV[1]) end
return {pttl, full}
"""

_LET_EXPIRE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'image_data') == 1 then
  local full_ms = tonumber(ARGV[2])
  if full_ms < tonumber(ARGV[1]) then
    local ok = redis.pcall('HPEXPIREAT', KEYS[1], full_ms, 'FIELDS', 1, 'image_data')
    if type(ok) == 'table' and ok.err then full_ms = tonumber(ARGV[1]) end
  end
  redis.call('HSET', KEYS[1], 'full_until', string.format('%.3f', full_ms / 1000))
  if KEYS[2] then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4]) end
  return full_ms
end
return 0
"""

def _eval(client: Any, source: str, keys: list[str], args: list[Any]) -> Any:
    """Run a Lua script with EVAL: the script travels with the call (a few hundred bytes),
    so it needs no SCRIPT LOAD round trip and survives a restarted Redis; Redis caches it
    compiled."""
    return client.eval(source, len(keys), *keys, *args)


@dataclass
class TrimPolicy:
    """A camera's full-size budget as the daemon applies it after each store.

    `budget` is bytes of full-size JPEGs (None: no budget, only stale entries are
    cleaned); pictures younger than `min_age` seconds are never trimmed. After a store,
    `last_trimmed` and `last_bytes` say how many were trimmed and the bytes left.
    """

    budget: int | None
    min_age: float = 0.0
    last_trimmed: int = 0
    last_bytes: int = 0

    def script_args(self, now: float) -> list[str]:
        """Return the trim script's ARGV."""
        budget = -1 if self.budget is None else int(self.budget)
        return [str(budget), f"{now - self.min_age:.3f}", f"{now:.3f}", KEY_PREFIX]


def supports_field_expiry(client: redis.Redis) -> bool:
    """Tell whether the server expires single hash fields (HPEXPIRE, Redis >= 7.4).

    Probes with HPEXPIRE on a key that doesn't exist, which writes nothing. Redis Stack
    7.2 (or a server that renamed the command away) answers "unknown command".
    """
    try:
        client.execute_command("HPEXPIRE", f"{FULL_SET_PREFIX}probe:none", 1000, "FIELDS", 1, F_IMAGE_DATA)
    except redis.ResponseError as exc:
        text = str(exc).lower()
        if "unknown command" in text or "noperm" in text or "no permission" in text:
            return False
        raise
    return True


def trim_full_size(client: redis.Redis, camera: str, policy: TrimPolicy) -> int:
    """Trim a camera's oldest full-size pictures down to its budget now; return how many.

    The daemon does this after every store; this is for a budget that just shrank.
    """
    result = _eval(client, _TRIM_LUA, [full_set_key(camera)], policy.script_args(time.time()))
    policy.last_trimmed, policy.last_bytes = int(result[0]), int(result[1])
    return policy.last_trimmed


@dataclass
class KeepResult:
    """What `keep` did: when the picture would have expired, and whether it has its full size."""

    would_have_expired: float | None
    full_size: bool


def keep(client: redis.Redis, image_id_: str) -> KeepResult | None:
    """Keep a picture for ever: no key TTL, no full-size TTL, out of its camera's budget.

    Returns None when there is no such picture.
    """
    key = image_key(image_id_)
    camera = _text(client.hget(key, F_CAMERA))
    keys = [key] + ([full_set_key(camera)] if camera and CAMERA_NAME_RE.match(camera) else [])
    pttl, full = _eval(client, _KEEP_LUA, keys, [image_id_])
    if pttl == -2:
        return None
    when = None if pttl < 0 else round(time.time() + pttl / 1000, 3)
    return KeepResult(when, bool(full))


@dataclass
class ExpiryResult:
    """What `let_expire` set: when the picture goes, and when its full size goes (None: gone already)."""

    expires_at: float
    full_until: float | None


def let_expire(client: redis.Redis, image_id_: str, fallback: float = 86400.0) -> ExpiryResult | None:
    """Undo keep: give the picture back the expiries its capture settings planned.

    A picture whose plan has passed gets MIN_LET_EXPIRE_SECONDS; one without a plan (the
    reference's, or one kept before issue 9) gets `fallback` seconds. Returns None when
    there is no such picture.
    """
    key = image_key(image_id_)
    fields = [_text(v) for v in client.hmget(key, F_CAMERA, F_TIMESTAMP, F_PLAN_FULL_UNTIL,
                                             F_PLAN_HISTORY_UNTIL)]
    camera, timestamp, plan_full, plan_history = fields
    now = time.time()
    floor = now + MIN_LET_EXPIRE_SECONDS
    history = _float(plan_history)
    history_at = max(floor, history if history is not None and math.isfinite(history) else now + fallback)
    full = _float(plan_full)
    full_at = max(floor, full) if full is not None and math.isfinite(full) else history_at
    full_at = min(full_at, history_at)
    keys = [key] + ([full_set_key(camera)] if camera and CAMERA_NAME_RE.match(camera) else [])
    ts = _float(timestamp) or now
    result = _eval(client, _LET_EXPIRE_LUA, keys,
                   [math.ceil(history_at * 1000), math.ceil(full_at * 1000), f"{ts:.3f}", image_id_])
    if result == -2:
        return None
    return ExpiryResult(round(history_at, 3), None if result == 0 else round(int(result) / 1000, 3))


def _until(text: str | None) -> float | None:
    """Parse `full_until`: unix seconds, or `inf` for a kept picture; None if unreadable."""
    if text is not None and text.strip().lower() in ("inf", "+inf"):
        return math.inf
    return _float(text)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@dataclass
class FullSizeState:
    """Which tier a picture is in, for the gallery's labels and download.

    `state` is "full" (image_data present), "expired" (its time ran out), "trimmed" (its
    camera's budget dropped it early), "unchanged" (a near-duplicate stored without it) or
    "missing" (gone, reason unknown: a reference picture, or redis-cli).
    """

    state: str
    full_until: float | None = None  # when it goes or went; inf while kept
    expires_at: float | None = None  # when the whole picture goes; None if kept
    kept: bool = False
    unchanged_since: float | None = None
    same_as: str | None = None

    @property
    def has_full_size(self) -> bool:
        """Tell whether the full-size picture can be shown and downloaded."""
        return self.state == "full"


def tier_from_fields(fields: Mapping[Any, Any], has_image: bool, pttl_ms: int | None = None,
                     now: float | None = None) -> FullSizeState:
    """Return a picture's tier from its text fields, whether image_data exists, and its PTTL.

    Pure, so the gallery can label listing rows (which carry the fields, and can test
    image_data with HSTRLEN) without another round trip per picture.
    """
    h = {_text(k): _text(v) for k, v in fields.items()}
    now = time.time() if now is None else now
    full_until = _until(h.get(F_FULL_UNTIL))
    plan = _float(h.get(F_PLAN_FULL_UNTIL))
    kept = pttl_ms == -1
    expires_at = None if pttl_ms is None or pttl_ms < 0 else round(now + pttl_ms / 1000, 3)
    unchanged = _float(h.get(F_UNCHANGED_SINCE))
    if has_image:
        state = "full"
    elif unchanged is not None:
        state = "unchanged"
    elif full_until is not None and plan is not None and full_until < plan - 1:
        state = "trimmed"
    elif full_until is not None:
        state = "expired"
    else:
        state = "missing"
    return FullSizeState(state, full_until, expires_at, kept, unchanged, h.get(F_SAME_AS) or None)


def full_size_state(client: redis.Redis, image_id_: str) -> FullSizeState | None:
    """Read which tier a picture is in (None: no such picture)."""
    key = image_key(image_id_)
    pipe = client.pipeline(transaction=False)
    pipe.hmget(key, F_FULL_UNTIL, F_PLAN_FULL_UNTIL, F_UNCHANGED_SINCE, F_SAME_AS)
    pipe.hexists(key, F_IMAGE_DATA)
    pipe.pttl(key)
    values, has_image, pttl = pipe.execute()
    if pttl == -2:
        return None
    names = (F_FULL_UNTIL, F_PLAN_FULL_UNTIL, F_UNCHANGED_SINCE, F_SAME_AS)
    fields = {n: v for n, v in zip(names, values) if v is not None}
    return tier_from_fields(fields, bool(has_image), pttl)


def full_size_query(now: float | None = None) -> str:
    """Return the FT.SEARCH clause matching pictures whose full size is still there."""
    now = time.time() if now is None else now
    return f"@{F_FULL_UNTIL}:[{now:.3f} +inf]"


# --- Budgets -----------------------------------------------------------------------------

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|k|m|g)?\s*$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1_000_000, "mb": 1_000_000,
          "g": 1_000_000_000, "gb": 1_000_000_000}
_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$", re.I)
_AGE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class BudgetError(ValueError):
    """A budget value can't be used; the message names the field and what it accepts."""


def parse_bytes(text: str, name: str) -> int:
    """Parse a budget: bytes, or a number with kb/mb/gb (decimal units), e.g. 64mb."""
    match = _SIZE_RE.match(str(text))
    if not match:
        raise BudgetError(f"{name}={text!r} is not a size: use bytes or a number with kb, mb "
                          "or gb, e.g. 64mb")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])


def parse_age(text: str, name: str = BUDGET_MIN_AGE) -> float:
    """Parse the minimum age: seconds, or a number with s/m/h/d, e.g. 2h."""
    match = _AGE_RE.match(str(text))
    if not match:
        raise BudgetError(f"{name}={text!r} is not a duration: use seconds or a number with "
                          "s, m, h or d, e.g. 2h")
    return float(match.group(1)) * _AGE_UNITS[(match.group(2) or "").lower()]


@dataclass
class Budgets:
    """The full-size budgets in `retention:budgets` (bytes) and the minimum age (seconds).

    None means "no budget". A camera with its own budget gets exactly that; the other
    cameras share the rest of `total` equally, each also held to `default`.
    """

    default: int | None = None
    total: int | None = None
    cameras: dict[str, int] = field(default_factory=dict)
    min_age: float = 0.0

    def validate(self) -> None:
        """Raise BudgetError naming the first unusable value."""
        for name, value in ((BUDGET_DEFAULT, self.default), (BUDGET_TOTAL, self.total),
                            *((BUDGET_CAMERA_PREFIX + c, v) for c, v in self.cameras.items())):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise BudgetError(f"{name}={value!r} is not a size: use a whole number of bytes, 0 or more")
        for camera in self.cameras:
            if not CAMERA_NAME_RE.match(camera):
                raise BudgetError(f"camera {camera!r} is not a camera name: 1-32 letters, digits, - or _")
        if not (isinstance(self.min_age, (int, float)) and math.isfinite(self.min_age) and self.min_age >= 0):
            raise BudgetError(f"{BUDGET_MIN_AGE}={self.min_age!r} is not a duration: use seconds, 0 or more")
        if self.total is not None and sum(self.cameras.values()) > self.total:
            raise BudgetError(f"the camera budgets add up to {sum(self.cameras.values())} bytes, more than "
                              f"{BUDGET_TOTAL}={self.total}: lower them or raise the total")

    def to_hash(self) -> dict[str, str]:
        """Return the fields of `retention:budgets`."""
        out: dict[str, str] = {}
        if self.default is not None:
            out[BUDGET_DEFAULT] = str(self.default)
        if self.total is not None:
            out[BUDGET_TOTAL] = str(self.total)
        for camera, value in sorted(self.cameras.items()):
            out[BUDGET_CAMERA_PREFIX + camera] = str(value)
        if self.min_age:
            out[BUDGET_MIN_AGE] = _fmt_float(self.min_age, 3)
        return out

    @classmethod
    def from_hash(cls, data: Mapping[Any, Any]) -> tuple[Budgets, list[str]]:
        """Parse `retention:budgets`; return the budgets and a problem per unusable field.

        Unusable fields (another writer may use redis-cli) are left out, not guessed.
        """
        out, problems = cls(), []
        for raw_name, raw_value in data.items():
            name, value = _text(raw_name) or "", _text(raw_value) or ""
            try:
                if name == BUDGET_MIN_AGE:
                    out.min_age = parse_age(value, name)
                elif name == BUDGET_DEFAULT:
                    out.default = parse_bytes(value, name)
                elif name == BUDGET_TOTAL:
                    out.total = parse_bytes(value, name)
                elif name.startswith(BUDGET_CAMERA_PREFIX):
                    camera = name[len(BUDGET_CAMERA_PREFIX):]
                    if not CAMERA_NAME_RE.match(camera):
                        raise BudgetError(f"{name}: {camera!r} is not a camera name")
                    out.cameras[camera] = parse_bytes(value, name)
                else:
                    raise BudgetError(f"{name} is not a budget field: use default, total, "
                                      "min_age or camera:<name>")
            except BudgetError as exc:
                problems.append(str(exc))
        return out, problems

    def for_camera(self, camera: str, sharers: Sequence[str] = ()) -> int | None:
        """Return the camera's full-size budget in bytes (None: none).

        Its own `camera:<name>` if set; otherwise `default`, and at most an equal share,
        among `sharers` (the cameras without their own budget that hold full-size pictures
        or are online; this one counts in any case), of `total` minus the cameras' own budgets.
        """
        if camera in self.cameras:
            return self.cameras[camera]
        limit = self.default
        if self.total is not None:
            rest = max(0, self.total - sum(self.cameras.values()))
            count = len({c for c in sharers if c not in self.cameras} | {camera})
            share = rest // count
            limit = share if limit is None else min(limit, share)
        return limit


def read_budgets(client: redis.Redis) -> tuple[Budgets, list[str]]:
    """Read `retention:budgets`; return the budgets and a problem per unusable field."""
    return Budgets.from_hash(client.hgetall(BUDGETS_KEY))


def write_budgets(client: redis.Redis, budgets: Budgets) -> None:
    """Validate and replace `retention:budgets` (atomically); raise BudgetError if unusable."""
    budgets.validate()
    pipe = client.pipeline(transaction=True)
    pipe.delete(BUDGETS_KEY)
    fields: dict[Any, Any] = dict(budgets.to_hash())
    if fields:
        pipe.hset(BUDGETS_KEY, mapping=fields)
    pipe.execute()


def budget_sharers(client: redis.Redis) -> list[str]:
    """Return the cameras that share `total`: those online and those holding full-size pictures."""
    names = camera_names(client)
    if not names:
        return []
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.exists(camera_key(name))
        pipe.zcard(full_set_key(name))
    answers = pipe.execute()
    return [name for name, online, held in zip(names, answers[0::2], answers[1::2]) if online or held]


def camera_trim_policy(client: redis.Redis, camera: str) -> tuple[TrimPolicy, list[str]]:
    """Return the camera's trim policy from the current budgets, and any problems with them."""
    budgets, problems = read_budgets(client)
    sharers = budget_sharers(client) if budgets.total is not None else []
    return TrimPolicy(budgets.for_camera(camera, sharers), budgets.min_age), problems
