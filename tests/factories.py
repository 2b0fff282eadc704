"""Test data: real JPEGs and image hashes written the way each writer writes them."""

from __future__ import annotations

import io
import time

import redis
from PIL import Image, ImageDraw

from pi.contract import ImageRecord, image_id, image_key, save_image


def make_jpeg(width: int = 320, height: int = 180, shade: int = 128, label: str = "") -> bytes:
    """Return a real JPEG of the given size, a flat shade with an optional label."""
    img = Image.new("RGB", (width, height), (shade, shade, min(255, shade + 40)))
    if label:
        ImageDraw.Draw(img).text((10, 10), label, fill=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def store_image(
    r: redis.Redis,
    *,
    camera: str = "testcam",
    timestamp: float | None = None,
    lux: float = 100.0,
    trigger: str = "interval",
    ttl: float = 3600,
    width: int = 320,
    height: int = 180,
    thumbnail: bool = True,
    **extra_fields,
) -> str:
    """Store one image as the capture daemon does; return its id."""
    ts = time.time() if timestamp is None else timestamp
    data = make_jpeg(width, height, shade=int(min(255, lux)) % 256, label=f"{camera} {ts:.0f}")
    record = ImageRecord(
        timestamp=ts, image_data=data, lux=lux, camera=camera, trigger=trigger,
        width=width, height=height, exposure_time=10000, analogue_gain=1.5,
        colour_temperature=5200, lens_position=1.0,
        thumbnail=make_jpeg(160, 90, shade=60) if thumbnail else None, **extra_fields,
    )
    new_id = image_id(camera, ts)
    save_image(r, record, ttl, new_id)
    return new_id


def store_reference_image(r: redis.Redis, timestamp: int, lux: int, ttl: int | None = 3600) -> str:
    """Store an image exactly as the reference project's capture.py did; return its id."""
    key = f"image:{timestamp}"
    pipe = r.pipeline(transaction=False)
    pipe.hset(key, mapping={"image_data": make_jpeg(640, 360, shade=lux % 256), "timestamp": timestamp,
                            "mime_type": "image/jpeg", "lux": int(lux)})
    if ttl:
        pipe.expire(key, ttl)
    pipe.execute()
    return str(timestamp)


def reference_index(r: redis.Redis) -> None:
    """Create idx:images with the reference README's FT.CREATE, verbatim."""
    r.execute_command(
        "FT.CREATE", "idx:images", "ON", "HASH", "PREFIX", "1", "image:", "SCHEMA",
        "mime_type", "TAG", "lux", "NUMERIC", "SORTABLE", "timestamp", "NUMERIC", "SORTABLE",
    )


__all__ = ["make_jpeg", "store_image", "store_reference_image", "reference_index", "image_key"]
