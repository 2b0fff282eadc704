"""Rebuild picture hashes in Redis from the archive (after a Redis disk was lost, say).

For the cameras and the time range asked, every sidecar becomes a hash again: the metadata
and the thumbnail (made again from the original with Pillow when the sidecar has none),
the `archived` field, and with `full=True` the original too. Each hash gets the TTL it
would have had (its sidecar's `expires_at`); kept pictures come back kept (no TTL), and
pictures whose time is up are skipped unless `expired_ttl` gives them one. The full size
gets its field expiry back where Redis has field expiry. Hashes already in Redis are left
as they are. Nothing is written to the stream: restored pictures are not "new".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import redis

from pi import contract
from server.archive import layout
from server.archive.backends import Backend, ObjectMissing

logger = logging.getLogger(__name__)

#: The box a remade thumbnail fits in (the capture daemon's default THUMBNAIL_SIZE).
THUMBNAIL_BOX = (320, 320)


@dataclass
class RestoreReport:
    restored: int = 0
    with_full_size: int = 0
    present: int = 0  # already in Redis: left alone
    expired: int = 0  # its time was up: skipped
    unreadable: int = 0

    def summary(self) -> str:
        return (f"{self.restored} restored ({self.with_full_size} with full size), {self.present} already "
                f"in Redis, {self.expired} skipped because they would have expired, "
                f"{self.unreadable} unreadable")


def _sidecars(backend: Backend, camera: str, since: datetime | None,
              until: datetime | None) -> Iterable[str]:
    start_after = layout.time_key(camera, since) if since else None
    end = layout.time_key(camera, until) if until else None
    for info in backend.list(camera + "/", start_after=start_after):
        if end is not None and info.key[:len(end)] > end:
            return
        if info.key.endswith("." + layout.SIDECAR_EXT):
            yield info.key


def _remake_thumbnail(jpeg: bytes) -> bytes | None:
    try:
        from pi.thumbnails import make_thumbnail
    except ImportError:  # no Pillow: the gallery makes one from the full size when it has it
        return None
    try:
        return make_thumbnail(jpeg, THUMBNAIL_BOX)
    except Exception as exc:  # a broken JPEG must not stop the restore of the others
        logger.warning("Could not make a thumbnail (%s)", exc)
        return None


def restore(client: redis.Redis, backend: Backend, *, cameras: list[str] | None = None,
            since: datetime | None = None, until: datetime | None = None, full: bool = False,
            expired_ttl: float | None = None, dry_run: bool = False, now: float) -> RestoreReport:
    """Restore hashes from the archive; return what was done."""
    report = RestoreReport()
    contract.ensure_index(client)
    field_expiry = True
    for camera in cameras or backend.cameras():
        for sidecar_key in _sidecars(backend, camera, since, until):
            base = layout.split_key(sidecar_key)[0]
            try:
                sidecar = layout.Sidecar.from_json(backend.get(sidecar_key))
            except (ValueError, ObjectMissing) as exc:
                logger.warning("Skipped %s: %s", sidecar_key, exc)
                report.unreadable += 1
                continue
            if ((since and sidecar.timestamp < since.timestamp())
                    or (until and sidecar.timestamp > until.timestamp())):
                continue
            key = contract.image_key(sidecar.id)
            if sidecar.kept:
                ttl = None
            elif sidecar.expires_at is not None and sidecar.expires_at > now + 1:
                ttl = sidecar.expires_at - now
            elif expired_ttl:
                ttl = expired_ttl
            else:
                report.expired += 1
                continue
            if client.exists(key):
                report.present += 1
                continue
            original_key = base + "." + sidecar.original.rsplit(".", 1)[-1]
            original = None
            full_until = sidecar.image_data_expires_at
            want_full = full and (full_until is None or full_until > now + 1 or bool(expired_ttl))
            thumbnail = sidecar.thumbnail
            try:
                if want_full or thumbnail is None:
                    original = backend.get(original_key)
            except ObjectMissing:
                logger.warning("Original of %s is missing from the archive; restoring its metadata only",
                               sidecar.id)
            if thumbnail is None and original is not None:
                thumbnail = _remake_thumbnail(original)
            thumb_field = {contract.F_THUMBNAIL: thumbnail} if thumbnail else {}
            record = contract.ImageRecord.from_hash({**sidecar.fields, **thumb_field})
            fields = record.to_hash()
            fields[contract.F_ARCHIVED] = backend.location(original_key)
            if want_full and original is not None:
                fields[contract.F_IMAGE_DATA] = original
                report.with_full_size += 1
            report.restored += 1
            if dry_run:
                continue
            pipe = client.pipeline(transaction=True)
            pipe.hset(key, mapping=fields)
            if ttl is not None:
                pipe.pexpire(key, max(1000, int(ttl * 1000)))
            pipe.execute()
            field_ttl = (sidecar.image_data_expires_at - now) if sidecar.image_data_expires_at else None
            if (want_full and original is not None and field_expiry and field_ttl and field_ttl > 0
                    and (ttl is None or field_ttl < ttl)):
                try:
                    client.execute_command("HPEXPIRE", key, math.ceil(field_ttl * 1000), "FIELDS", 1,
                                           contract.F_IMAGE_DATA)
                except redis.ResponseError:
                    field_expiry = False  # Redis < 7.4: the full size lives as long as the key
            if ttl is None:
                client.sadd(contract.ARCHIVE_KEPT_KEY, sidecar.id)
    return report
