"""Live preview frames on Redis pub/sub, published only while someone is watching.

A thread asks Redis `PUBSUB NUMSUB <channel>` at most every CHECK_INTERVAL seconds; while
the answer is 0 it reads no frame and encodes nothing, so a Pi nobody watches spends no
CPU on previews. While someone watches, it publishes a small JPEG (the message body is
the raw JPEG bytes) on contract.preview_channel(camera) at PREVIEW_FPS. Frames over
PREVIEW_MAX_BYTES are skipped (logged once). Frames come through SharedCamera, which gives
way to captures, and a Redis outage only pauses the previews. Nothing here is stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis

logger = logging.getLogger(__name__)

#: Seconds between two PUBSUB NUMSUB checks (so a new viewer gets frames within about this).
CHECK_INTERVAL = 0.5


class PreviewPublisher(threading.Thread):
    """Publishes preview JPEGs on one channel while it has subscribers."""

    def __init__(self, client: redis.Redis, channel: str, read_frame: Callable[[], bytes | None],
                 fps: float, max_bytes: int, stop: threading.Event,
                 check_interval: float = CHECK_INTERVAL) -> None:
        super().__init__(name="preview-publisher", daemon=True)
        self.client = client
        self.channel = channel
        self.read_frame = read_frame
        self.period = 1.0 / fps
        self.max_bytes = max_bytes
        self.stop = stop
        self.check_interval = check_interval
        self.viewers = 0
        self.published = 0
        self.frames_read = 0
        self.too_big = 0
        self._paused_by: str = ""

    def _count_viewers(self) -> int:
        try:
            counts = self.client.pubsub_numsub(self.channel)
        except redis.RedisError as exc:
            self._pause(exc)
            return 0
        self._resume()
        return int(counts[0][1]) if counts else 0

    def _pause(self, exc: BaseException) -> None:
        if not self._paused_by:
            logger.info("Live previews paused: Redis is unavailable (%s)", exc)
        self._paused_by = str(exc) or type(exc).__name__

    def _resume(self) -> None:
        if self._paused_by:
            logger.info("Live previews resumed")
        self._paused_by = ""

    def run(self) -> None:
        """Check for viewers; while there are some, read, check and publish frames."""
        next_check = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_check:
                self.viewers = self._count_viewers()
                next_check = now + self.check_interval
            if self.viewers == 0:
                self.stop.wait(max(0.0, next_check - time.monotonic()))
                continue
            self._publish_one()
            self.stop.wait(max(0.0, now + self.period - time.monotonic()))

    def _publish_one(self) -> None:
        try:
            frame = self.read_frame()
        except Exception as exc:  # camera trouble is the capture loop's to report
            logger.debug("Preview frame skipped: %s", exc)
            return
        if frame is None:
            return  # a capture has the camera
        self.frames_read += 1
        if len(frame) > self.max_bytes:
            if self.too_big == 0:
                logger.warning("A live preview frame is %d bytes, over PREVIEW_MAX_BYTES=%d; such "
                               "frames are not published (lower PREVIEW_SIZE or raise the limit)",
                               len(frame), self.max_bytes)
            self.too_big += 1
            return
        try:
            self.viewers = self.client.publish(self.channel, frame)
            self.published += 1
        except redis.RedisError as exc:
            self._pause(exc)
            self.viewers = 0
