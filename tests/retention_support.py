"""Pictures in each retention tier, stored as the capture daemon stores them (issue 9)."""

from __future__ import annotations

import io
import time

import redis
from PIL import Image, ImageDraw

from pi.contract import ImageRecord, image_id, save_image


def make_webp(width: int = 160, height: int = 90, shade: int = 90, label: str = "") -> bytes:
    """Return a small WebP thumbnail, as the daemon makes them."""
    img = Image.new("RGB", (width, height), (shade, 120, 200 - shade // 2))
    ImageDraw.Draw(img).text((6, 6), label, fill=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, "WEBP", quality=60)
    return buf.getvalue()


def store_thumbnail_only(r: redis.Redis, *, camera: str = "garden", timestamp: float | None = None,
                         state: str = "expired", gone_at: float | None = None,
                         same_as: str | None = None, unchanged_since: float | None = None,
                         lux: float = 20.0, ttl: float = 86400) -> str:
    """Store a picture whose full size is gone: "expired" (at `gone_at`), "trimmed" (at
    `gone_at`, before its plan) or "unchanged" (a near-duplicate of `same_as`)."""
    ts = time.time() - 3 * 3600 if timestamp is None else timestamp
    gone_at = min(ts + 600, time.time() - 1) if gone_at is None else gone_at
    record = ImageRecord(timestamp=ts, camera=camera, trigger="interval", lux=lux, width=1280,
                         height=720, thumbnail=make_webp(label=f"{camera} {state}"))
    if state == "expired":
        record.plan_full_until = record.full_until = gone_at
    elif state == "trimmed":
        record.plan_full_until, record.full_until = gone_at + 3000, gone_at
    elif state == "unchanged":
        record.full_until = ts
        record.unchanged_since = ts - 600 if unchanged_since is None else unchanged_since
        record.same_as = same_as
    else:
        raise ValueError(state)
    new_id = image_id(camera, ts)
    save_image(r, record, ttl, new_id)
    return new_id
