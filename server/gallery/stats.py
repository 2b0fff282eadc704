"""The stats panel and the camera status bar: counts, memory, and camera heartbeats."""

from __future__ import annotations

import logging
from typing import Any

from pi.contract import (
    CAMERA_NAME_RE,
    F_CAMERA,
    F_TIMESTAMP,
    F_TRIGGER,
    TRIGGERS,
    camera_statuses,
)
from server.core.services import get_redis
from server.search import SORTS, ImageFilter

from . import index as search
from .archived import archive_state
from .index import lister

logger = logging.getLogger(__name__)

#: At most this many cameras are listed (from the `cameras` registry, then the camera tags).
MAX_CAMERAS = 100


def _edge(order_name: str) -> dict[str, Any] | None:
    row = lister().first(ImageFilter(), SORTS[order_name])
    if row is None:
        return None
    return {"id": row.image_id, "timestamp": row.number(F_TIMESTAMP), "camera": row.fields.get(F_CAMERA)}


def stats() -> dict[str, Any]:
    """Return the image count, Redis memory used and its limit, the oldest and newest image, and
    the archive of originals (archived.archive_state)."""
    count = search.num_docs()
    memory = get_redis().info("memory")
    limit = int(memory.get("maxmemory", 0) or 0)
    return {
        "count": count,
        "memory": {
            "used_bytes": int(memory.get("used_memory", 0)),
            "max_bytes": limit or None,
            "policy": memory.get("maxmemory_policy"),
        },
        "oldest": _edge("oldest"),
        "newest": _edge("newest"),
        "archive": archive_state(get_redis()),
    }


def cameras() -> list[dict[str, Any]]:
    """Return every camera (from heartbeats and from stored images) with its online state."""
    client = get_redis()
    statuses = camera_statuses(client, MAX_CAMERAS)
    by_lower = {name.lower(): name for name in statuses}
    for tag in search.tag_values(F_CAMERA)[:MAX_CAMERAS]:
        by_lower.setdefault(tag.lower(), tag)
    out = []
    for name in sorted(by_lower.values(), key=str.lower):
        status = statuses.get(name)
        newest = None
        if CAMERA_NAME_RE.match(name):
            newest = lister().first(ImageFilter(camera=name), SORTS["newest"])
        last = max(filter(None, [status.last_capture if status else None,
                                 newest.number(F_TIMESTAMP) if newest else None]), default=None)
        out.append({
            "name": name,
            "online": status is not None,
            "host": status.host if status else None,
            "started_at": status.started_at if status and status.started_at else None,
            "triggers": [t for t in (status.triggers if status else "").split(",") if t],
            "last_capture": last,
            "last_id": (status.last_id if status and status.last_id else
                        (newest.image_id if newest else None)),
        })
    return out


def facets() -> dict[str, list[str]]:
    """Return the camera and trigger values the filter menus offer."""
    triggers = set(TRIGGERS) | set(search.tag_values(F_TRIGGER))
    names = [c["name"] for c in cameras()]
    return {"cameras": names, "triggers": sorted(triggers)}
