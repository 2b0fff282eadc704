"""One image: its metadata, its bytes, its thumbnail (made on demand), delete and keep."""

from __future__ import annotations

import io
import logging
import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from flask import Response, request, url_for
from PIL import Image, ImageOps

from pi import contract
from pi.contract import (
    BINARY_FIELDS,
    F_CAMERA,
    F_IMAGE_DATA,
    F_MIME_TYPE,
    F_THUMBNAIL,
    F_TIMESTAMP,
    METADATA_FIELDS,
    ImageRecord,
    MalformedImage,
    image_key,
    is_valid_image_id,
    parse_timestamp,
)
from server.core.errors import ApiError, image_not_found, is_out_of_memory
from server.core.pictures import open_capped
from server.core.services import get_redis, services

from . import retention

logger = logging.getLogger(__name__)

#: Content-Types served for stored images; anything else goes out as a download-only blob,
#: so a hash can never make the gallery serve HTML.
SAFE_MIME_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}
IMMUTABLE = "private, max-age=31536000, immutable"
PLACEHOLDER = Path(__file__).parent.parent / "static" / "no-preview.svg"

# Caches a made thumbnail only while the hash still exists: HSET on an expired key would
# recreate it without image data and without a TTL. HSET never touches the TTL.
_CACHE_THUMBNAIL = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
end
return -1
"""


class ThumbnailCache:
    """The thumbnail-caching script, registered once with the app's Redis client."""

    def __init__(self, client: redis.Redis) -> None:
        self.script = client.register_script(_CACHE_THUMBNAIL)

    def store(self, key: str, thumb: bytes) -> bool:
        """Cache a made thumbnail in the image's hash; False when it was there or is gone."""
        return self.script(keys=[key], args=[F_THUMBNAIL, thumb]) == 1


def thumbnail_cache() -> ThumbnailCache:
    """Return the app's thumbnail cache."""
    found = services()
    return found.one(ThumbnailCache, lambda: ThumbnailCache(found.redis))


def key_for(image_id: str) -> str:
    """Return the Redis key of an id, or raise the 404 for malformed ids."""
    if not is_valid_image_id(image_id):
        raise image_not_found(image_id)
    return image_key(image_id)


@contextmanager
def image_hash(image_id: str) -> Iterator[str]:
    """Yield the image's key; a key of another type there (redis-cli) is a 404, not a 502."""
    key = key_for(image_id)
    try:
        yield key
    except redis.ResponseError as exc:
        if "WRONGTYPE" not in str(exc):
            raise
        raise image_not_found(image_id) from None


def damaged(image_id: str, problem: MalformedImage) -> ApiError:
    """Return the 404 for a hash whose data can't be read as a picture."""
    return ApiError(404, "image_damaged",
                    f"The data stored for this image is damaged ({problem}), so it is left out of "
                    "the gallery. Fix: delete the key or write a valid timestamp (Unix seconds).")


#: Ids already logged as left out of a listing (bounded; a log line per id, not per request).
_LEFT_OUT: set[str] = set()


def summaries(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """Return the summaries of search rows, leaving out (and logging once) damaged hashes."""
    out = []
    for row in rows:
        try:
            out.append(summary(row.image_id, row.fields))
        except MalformedImage as exc:
            if row.image_id not in _LEFT_OUT and len(_LEFT_OUT) < 10_000:
                _LEFT_OUT.add(row.image_id)
                logger.warning("Image %s is left out of listings: %s", row.image_id[:80], exc)
    return out


def summary(image_id: str, fields: Mapping[str, Any], has_image: bool | None = None,
            pttl_ms: int | None = None) -> dict[str, Any]:
    """Return the JSON shape of an image's metadata, with the URLs that serve it.

    `tier` says whether the full size is there (see `retention.tier_of`); when it is gone,
    `image_url` and `download_url` serve the thumbnail, so whoever shows `image_url` never
    shows a broken image. `has_image` (HSTRLEN of image_data) makes the tier exact; without
    it, listing rows are judged by their indexed `full_until`.
    """
    record = ImageRecord.from_hash(fields)
    ext = SAFE_MIME_TYPES.get(record.mime_type, "bin")
    tier = retention.tier_of(fields, has_image, pttl_ms)
    out = {
        "id": image_id,
        "timestamp": record.timestamp,
        "captured_at": record.captured_at,
        "camera": record.camera,
        "trigger": record.trigger,
        "lux": record.lux,
        "mime_type": record.mime_type,
        "width": record.width,
        "height": record.height,
        "size_bytes": record.size_bytes,
        "exposure_time": record.exposure_time,
        "analogue_gain": record.analogue_gain,
        "colour_temperature": record.colour_temperature,
        "lens_position": record.lens_position,
        "thumbnail_url": url_for("api.image_thumbnail", image_id=image_id),
        "image_url": url_for("api.image_original", image_id=image_id),
        "download_url": url_for("api.image_original", image_id=image_id, download=1),
        "download_name": download_name(record.camera, record.timestamp, ext),
        "tier": tier,
    }
    if tier["state"] != "full":  # the thumbnail is what exists: show and offer it
        retention.point_at_thumbnail(out, record)
    return out


def with_kept(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mark the kept pictures (no TTL) of a page, with one pipelined PTTL per picture."""
    if not items:
        return items
    pipe = get_redis().pipeline(transaction=False)
    for item in items:
        pipe.pttl(image_key(item["id"]))
    for item, pttl in zip(items, pipe.execute()):
        item["kept"] = pttl == -1
    return items


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_-]+")


def download_name(camera: str | None, timestamp: float | None, ext: str) -> str:
    """Return a file name that sorts by time, e.g. `garden_2024-05-01_12-30-05_UTC.jpg`.

    The camera part keeps only letters, digits, '_' and '-' (at most 32): a camera field
    written by anyone can't put a line break or a megabyte into the header.
    """
    name = _UNSAFE_NAME.sub("-", camera or "").strip("-")[:32] or "image"
    if timestamp is None or not math.isfinite(timestamp):
        return f"{name}.{ext}"
    when = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d_%H-%M-%S")
    return f"{name}_{when}_UTC.{ext}"


def detail(image_id: str) -> dict[str, Any]:
    """Return every metadata field of an image, its TTL and whether it has a thumbnail."""
    client = get_redis()
    with image_hash(image_id) as key:
        pipe = client.pipeline(transaction=False)
        pipe.hkeys(key).pttl(key).hstrlen(key, F_IMAGE_DATA).hstrlen(key, F_THUMBNAIL)
        names, pttl, data_len, thumb_len = pipe.execute()
    if pttl == -2 or not names:
        raise image_not_found(image_id)
    names = [n.decode() if isinstance(n, bytes) else n for n in names]
    text_names = [n for n in names if n not in BINARY_FIELDS]
    values = client.hmget(key, text_names) if text_names else []
    raw = {n: v.decode("utf-8", "replace") for n, v in zip(text_names, values) if v is not None}
    if F_TIMESTAMP not in raw:
        raise image_not_found(image_id)
    try:
        out = summary(image_id, raw, has_image=data_len > 0, pttl_ms=pttl)
    except MalformedImage as exc:
        raise damaged(image_id, exc) from None
    if out["size_bytes"] is None:
        out["size_bytes"] = data_len
    known = [n for n in METADATA_FIELDS if n in raw]
    # A list, so the contract's field order survives JSON (objects are sorted by key).
    out["fields"] = [[n[:256], raw[n][:256]] for n in known + sorted(set(raw) - set(known))[:200]]
    out["kept"] = pttl == -1
    out["ttl_seconds"] = None if pttl < 0 else pttl / 1000
    out["expires_at"] = None if pttl < 0 else round(time.time() + pttl / 1000, 3)
    out["has_thumbnail"] = thumb_len > 0
    out.update(_archive_detail(image_id, raw, data_len > 0))
    if out["from_archive"] and not out["archive_note"]:  # the archive's copy is served as the original
        out["image_url"] = url_for("api.image_original", image_id=image_id)
        out["download_url"] = url_for("api.image_original", image_id=image_id, download=1)
        out["download_name"] = download_name(out["camera"], out["timestamp"],
                                             SAFE_MIME_TYPES.get(out["mime_type"], "bin"))
    return out


def _cached(response: Response, etag: str) -> Response:
    response.set_etag(etag)
    response.headers["Cache-Control"] = IMMUTABLE
    return response


def _not_modified(etag: str) -> Response | None:
    if request.if_none_match.contains(etag):
        return _cached(Response(status=304), etag)
    return None


def _from_archive(image_id: str, download: bool) -> Response | None:
    """The original from the archive when its full size has left Redis (archived.py)."""
    from .archived import serve_original

    return serve_original(image_id, download)


def _archive_detail(image_id: str, fields: Mapping[str, str], has_image: bool) -> dict[str, Any]:
    """The detail's `from_archive` and `archive_note` (archived.py)."""
    from .archived import detail_fields

    return detail_fields(image_id, fields, has_image)


def original(image_id: str, download: bool) -> Response:
    """Serve the full image, answering If-None-Match with 304 before reading the bytes."""
    client = get_redis()
    with image_hash(image_id) as key:
        size, mime, camera, timestamp = (
            client.pipeline(transaction=False).hstrlen(key, F_IMAGE_DATA)
            .hget(key, F_MIME_TYPE).hget(key, F_CAMERA).hget(key, F_TIMESTAMP).execute()
        )
    # Full size gone from Redis but archived: serve the archive's copy (before any fallback).
    served = None if size else _from_archive(image_id, download)
    if served is not None:
        return served
    if not size:
        raise retention.full_size_gone(client, image_id)
    etag = f"o-{image_id}-{size}"
    not_modified = _not_modified(etag)
    if not_modified is not None:
        return not_modified
    data = client.hget(key, F_IMAGE_DATA)
    if data is None:  # it expired between the two reads
        raise retention.full_size_gone(client, image_id)
    mime_text = mime.decode("utf-8", "replace") if mime else "image/jpeg"
    safe = mime_text if mime_text in SAFE_MIME_TYPES else "application/octet-stream"
    response = _cached(Response(data, mimetype=safe), etag)
    if download or safe == "application/octet-stream":
        ts = parse_timestamp(timestamp.decode("utf-8", "replace")) if timestamp else None
        name = download_name(camera[:256].decode("utf-8", "replace") if camera else None, ts,
                             SAFE_MIME_TYPES.get(safe, "bin"))
        response.headers.set("Content-Disposition", "attachment", filename=name)
    return response


#: Widths the grid may ask for (`?w=`): a card is about 200 CSS pixels wide.
GRID_WIDTHS = (160, 240)


def _grid_copy(data: bytes, width: int | None, etag: str) -> Response:
    """Return the thumbnail, or its copy `width` wide for a grid card (made on the fly: a
    320 px JPEG decodes and encodes in about a millisecond; browsers cache it for good)."""
    if width is not None:
        try:
            max_pixels = services().settings.max_pixels
            with open_capped(data, max_pixels) as img:
                if img.width > width:
                    img.draft("RGB", (width, max(1, width * img.height // img.width)))
                    small = img.convert("RGB")
                    small.thumbnail((width, width * 4), Image.Resampling.LANCZOS)
                    buf = io.BytesIO()
                    small.save(buf, "JPEG", quality=72, optimize=True)
                    return _cached(Response(buf.getvalue(), mimetype="image/jpeg"), f"{etag}-w{width}")
        except Exception as exc:  # Pillow raises many types for undecodable data: send it whole
            logger.debug("Cannot shrink the thumbnail (%s); sending it whole", type(exc).__name__)
    return _cached(Response(data, mimetype=sniff_mime(data)), etag)


def thumbnail(image_id: str, width: int | None = None, download: bool = False) -> Response:
    """Serve the thumbnail; for hashes without one (the reference's), make it and cache it.

    Served with its own type (`thumbnail_mime`, WebP from the capture daemon; checked
    against the bytes). `width` sends a grid card's smaller copy; `download` adds a file
    name, for pictures whose full size is gone.
    """
    client = get_redis()
    with image_hash(image_id) as key:
        size = client.hstrlen(key, F_THUMBNAIL)
    if size:
        etag = f"t-{image_id}-{size}"
        not_modified = _not_modified(etag if width is None else f"{etag}-w{width}")
        if not_modified is not None:
            return not_modified
        data = client.hget(key, F_THUMBNAIL)
        if data:
            if download:
                response = _cached(Response(data, mimetype=sniff_mime(data)), etag)
                camera, timestamp = client.hmget(key, F_CAMERA, F_TIMESTAMP)
                retention.attach_name(response, camera, timestamp, sniff_mime(data))
                return response
            return _grid_copy(data, width, etag)
    data = client.hget(key, F_IMAGE_DATA)
    if not data:
        raise image_not_found(image_id)
    try:
        settings = services().settings
        thumb = make_thumbnail(data, settings.thumbnail_width, settings.max_pixels)
    except Exception as exc:  # Pillow raises many types for undecodable or hostile data
        logger.warning("Cannot make a thumbnail for %s: %s", image_id, type(exc).__name__)
        response = Response(PLACEHOLDER.read_bytes(), mimetype="image/svg+xml")
        response.headers["Cache-Control"] = "no-cache"
        return response
    try:
        if thumbnail_cache().store(key, thumb):
            logger.info("Made and cached a %d-byte thumbnail for %s", len(thumb), image_id)
    except redis.ResponseError as exc:
        if not is_out_of_memory(exc):
            raise
        _warn_full_once(image_id)  # the thumbnail is still served, just made again next time
    return _grid_copy(thumb, width, f"t-{image_id}-{len(thumb)}")


#: Seconds between two warnings that Redis is too full to cache thumbnails.
FULL_WARNING_INTERVAL = 60.0
_last_full_warning = [float("-inf")]


def _warn_full_once(image_id: str) -> None:
    now = time.monotonic()
    if now - _last_full_warning[0] >= FULL_WARNING_INTERVAL:
        _last_full_warning[0] = now
        logger.warning("Redis is full (maxmemory), so the thumbnail made for %s is served but not "
                       "cached; fix: raise maxmemory, use maxmemory-policy volatile-ttl, or "
                       "delete pictures", image_id)


def make_thumbnail(data: bytes, width: int, max_pixels: int) -> bytes:
    """Return a JPEG at most `width` wide, decoding a JPEG at reduced size with draft().

    A picture that would still decode to more than `max_pixels` raises PictureTooLarge
    before any pixel is decoded.
    """
    with open_capped(data, max_pixels, draft=lambda w, h: (width, max(1, round(width * h / w)))) as img:
        small = ImageOps.exif_transpose(img.convert("RGB"))
        small.thumbnail((width, width * 4))
        buf = io.BytesIO()
        small.save(buf, "JPEG", quality=75, optimize=True)
        return buf.getvalue()


def sniff_mime(data: bytes) -> str:
    """Return the Content-Type of thumbnail bytes from their magic number."""
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"


def delete(image_id: str) -> None:
    """Delete an image (the index drops it at once)."""
    if not get_redis().delete(key_for(image_id)):
        raise image_not_found(image_id)


def keep(image_id: str) -> contract.KeepResult:
    """Keep a picture for ever: no key TTL, no full-size TTL, out of its camera's budget
    (`contract.keep`: PERSIST, HPERSIST image_data, full_until=inf, in one script)."""
    with image_hash(image_id) as key:
        result = contract.keep(get_redis(), key[len(contract.KEY_PREFIX):])
    if result is None:
        raise image_not_found(image_id)
    return result


def let_expire(image_id: str, fallback_at: float | None = None) -> contract.ExpiryResult:
    """Undo keep: restore the expiries the capture planned (`contract.let_expire`).

    `fallback_at` (Unix seconds) is used only for a picture without a plan (the
    reference's): it then expires then, never sooner than 10 s from now; else in a day.
    """
    fallback = 86400.0 if fallback_at is None else fallback_at - time.time()
    with image_hash(image_id) as key:
        result = contract.let_expire(get_redis(), key[len(contract.KEY_PREFIX):], fallback=fallback)
    if result is None:
        raise image_not_found(image_id)
    return result
