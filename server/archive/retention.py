"""Retention in the archive: per camera, by age and by size, oldest first, never a kept picture.

The archiver enforces it (not an S3 lifecycle rule), because a lifecycle rule knows neither
sizes per camera nor which pictures the user kept. Each pass, for every camera folder:

1. sum the sizes of its objects (originals and sidecars);
2. walk its objects oldest first (the layout's names sort by time) and delete each picture
   (original and sidecar) while it is older than the camera's age limit or the camera is
   over its size limit; stop at the first picture that is neither.

A picture is kept when its sidecar says so, or when its hash in Redis has no TTL (the
gallery's Keep) -- checked again just before deleting, and written into the sidecar. Kept
pictures are never deleted, and the kept pictures the walk steps over do not count toward
the size limit, so keeping old pictures does not shrink what the limit holds of the rest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import redis

from pi import contract
from server.archive import layout
from server.archive.backends import Backend, ObjectInfo, ObjectMissing
from server.archive.settings import ArchiveSettings, Limits

logger = logging.getLogger(__name__)


def _pictures(objects: Iterator[ObjectInfo]) -> Iterator[tuple[str, list[ObjectInfo]]]:
    """Group a key-ordered listing into (base, [its objects]); a picture's objects are adjacent."""
    current: str = ""
    group: list[ObjectInfo] = []
    for info in objects:
        base, _ = layout.split_key(info.key)
        if base != current and group:
            yield current, group
            group = []
        current = base
        group.append(info)
    if group:
        yield current, group


def _is_kept(backend: Backend, client: redis.Redis | None, base: str) -> bool:
    try:
        sidecar = layout.Sidecar.from_json(backend.get(layout.sidecar_key(base)))
    except ObjectMissing:
        return False  # an original without sidecar: an interrupted write, not a kept picture
    except ValueError as exc:
        logger.warning("Sidecar of %s is unreadable (%s): treated as kept, not deleted", base, exc)
        return True
    if sidecar.kept:
        return True
    if client is not None:
        key = contract.image_key(sidecar.id)
        pipe = client.pipeline(transaction=False)
        pipe.pttl(key)
        pipe.hexists(key, contract.F_ARCHIVED)
        pttl, archived = pipe.execute()
        if pttl == -1 and archived:  # kept in the gallery since it was archived
            from server.archive.archiver import set_sidecar_kept

            set_sidecar_kept(backend, base, True, None)
            client.sadd(contract.ARCHIVE_KEPT_KEY, sidecar.id)
            return True
    return False


def enforce_camera(backend: Backend, client: redis.Redis | None, camera: str, limits: Limits, now: float,
                   stop: threading.Event | None = None) -> int:
    """Apply one camera's limits; return how many pictures were deleted."""
    if not limits.max_age_days and not limits.max_bytes:
        return 0
    prefix = camera + "/"
    total = sum(info.size for info in backend.list(prefix)) if limits.max_bytes else 0
    cutoff = now - limits.max_age_days * 86400 if limits.max_age_days else None
    deleted = 0
    kept_bytes = 0
    for base, objects in _pictures(backend.list(prefix)):
        if stop is not None and stop.is_set():
            break
        when = layout.time_of_key(objects[0].key)
        too_old = cutoff is not None and when is not None and when.timestamp() < cutoff
        too_big = bool(limits.max_bytes) and total - kept_bytes > limits.max_bytes
        if not (too_old or too_big):
            break
        size = sum(o.size for o in objects)
        if _is_kept(backend, client, base):
            kept_bytes += size
            continue
        backend.delete(*[o.key for o in objects])
        total -= size
        deleted += 1
    if kept_bytes:
        logger.debug("Retention stepped over %.1f MB of %s's kept pictures", kept_bytes / 1e6, camera)
    if deleted:
        logger.info("Retention deleted %d of %s's oldest pictures from the archive", deleted, camera)
    return deleted


def enforce_retention(backend: Backend, client: redis.Redis | None, settings: ArchiveSettings, now: float,
                      stop: threading.Event | None = None) -> int:
    """Apply every camera's limits; return how many pictures were deleted."""
    # Only camera folders: the gallery's time-lapse movies (layout.MOVIES_FOLDER) are its own.
    return sum(enforce_camera(backend, client, camera, settings.limits_for(camera), now, stop)
               for camera in backend.cameras() if contract.CAMERA_NAME_RE.match(camera))
