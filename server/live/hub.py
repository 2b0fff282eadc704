"""The live-view hub: one Redis pub/sub subscription per camera, fanned out to every viewer.

A gallery process holds one `LiveHub` (made on first use: `server.live.get_hub()`). The first viewer
of a camera makes the hub's reader thread SUBSCRIBE to that camera's preview channel; a
few seconds after the last viewer leaves it UNSUBSCRIBEs, and with nothing left to read
the thread exits. The capture daemon publishes frames only while the channel has
subscribers, so a camera nobody watches costs nothing.

Each viewer has a one-frame slot: a new frame replaces an untaken one, so a slow viewer
has frames dropped and never accumulates a buffer. The hub keeps each camera's newest
frame, stamped with the time it arrived, so pages can show its age and say "offline" when
frames stop. A Redis outage makes every camera offline; the reader thread reconnects with
redis-py's Retry and exponential backoff and resubscribes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from pi.contract import CAMERA_NAME_RE, CameraStatus, camera_statuses, preview_channel
from pi.redis_connection import connect, redact_url
from server.core.settings import GallerySettings, default

logger = logging.getLogger(__name__)


_JPEG_MAGIC = b"\xff\xd8"
#: While Redis is marked down and no reader runs to notice its return, status calls PING it
#: at most this often.
PROBE_INTERVAL = 1.0
#: How long the list of cameras (the `cameras` registry and their heartbeats) is reused.
DIRECTORY_MAX_AGE = 5.0


class TooManyViewers(RuntimeError):
    """The process already serves its maximum number of live streams."""


class _Idle(Exception):
    """Raised inside the reader to end it: nothing is watched, or the hub stops."""


@dataclass(frozen=True)
class Frame:
    """One preview JPEG as the hub received it."""

    data: bytes
    seq: int  # per camera, counting from 1 since the hub subscribed
    received_at: float  # time.time() when the hub got it

    def age(self, now: float | None = None) -> float:
        """Return the seconds since the hub received this frame."""
        return max(0.0, (time.time() if now is None else now) - self.received_at)


class Viewer:
    """One open live stream: a slot holding only the newest frame not yet taken."""

    def __init__(self, hub: LiveHub, feed: _Feed) -> None:
        self.camera = feed.camera
        self._hub = hub
        self._feed = feed
        self._pending: Frame | None = feed.latest if feed.fresh(hub.offline_after) else None
        self.closed = False
        self.dropped = 0
        self.delivered = 0
        self._polling = False
        self._last_poll = time.monotonic()

    def next_frame(self, timeout: float) -> Frame | None:
        """Return the newest frame not taken yet, waiting up to `timeout` s; None if none."""
        with self._feed.cond:
            self._polling = True
            try:
                self._feed.cond.wait_for(lambda: self._pending is not None or self.closed, timeout)
                frame, self._pending = self._pending, None
            finally:
                self._polling = False
                self._last_poll = time.monotonic()
        if frame is not None and not self.closed:
            self.delivered += 1
            return frame
        return None

    @property
    def latest(self) -> Frame | None:
        """Return the camera's newest frame (taken or not), or None."""
        return self._feed.latest

    def close(self) -> None:
        """Leave the camera; idempotent. The subscription lingers a few seconds, then goes."""
        self._hub._release(self)

    # Called by the hub with the lock held.
    def _offer(self, frame: Frame) -> None:
        if self._pending is not None:
            self.dropped += 1
        self._pending = frame

    def _stuck(self, now: float, write_timeout: float) -> bool:
        return not self._polling and now - self._last_poll > write_timeout


class _Feed:
    """A camera the hub is subscribed to (or about to be): its viewers and newest frame."""

    def __init__(self, camera: str, lock: threading.Lock) -> None:
        self.camera = camera
        self.channel = preview_channel(camera)
        self.cond = threading.Condition(lock)
        self.viewers: set[Viewer] = set()
        self.latest: Frame | None = None
        self.seq = 0
        self.keep_until = 0.0  # monotonic; subscribed at least until then
        self.oversize_logged = False

    def fresh(self, offline_after: float) -> bool:
        return self.latest is not None and self.latest.age() <= offline_after


class LiveHub:
    """Fans each camera's preview frames out from one Redis subscription to many viewers."""

    def __init__(
        self,
        redis_url: str,
        *,
        linger: float = float(default("LIVE_LINGER")),
        offline_after: float = float(default("LIVE_OFFLINE_AFTER")),
        max_frame_bytes: int = int(default("LIVE_MAX_FRAME_BYTES")),
        max_viewers: int = 32,
        write_timeout: float = float(default("LIVE_WRITE_TIMEOUT")),
        poll_interval: float = 0.1,
        reconnect_cap: float = 2.0,
        socket_timeout: float = 3.0,
    ) -> None:
        self.redis_url = redis_url
        self.where = redact_url(redis_url)
        self.linger = linger
        self.offline_after = offline_after
        self.max_frame_bytes = max_frame_bytes
        self.max_viewers = max_viewers
        self.write_timeout = write_timeout
        self.poll_interval = poll_interval
        self.socket_timeout = socket_timeout
        self._retry = Retry(ExponentialWithJitterBackoff(cap=reconnect_cap, base=0.1), retries=-1)
        self._lock = threading.Lock()
        self._feeds: dict[str, _Feed] = {}
        self._by_channel: dict[bytes, _Feed] = {}
        # The newest frame of a feed that lapsed, kept while it is fresh: a tile whose
        # subscription lapsed between two polls goes on showing it instead of "no frames".
        self._lapsed: dict[str, Frame] = {}
        self._thread: threading.Thread | None = None
        self._client: redis.Redis | None = None
        self._stopping = False
        self._redis_ok = True
        self._probed_at = float("-inf")
        self._subscribed: frozenset[str] = frozenset()
        self._directory_lock = threading.Lock()
        self._directory: dict[str, CameraStatus] = {}
        self._directory_at = float("-inf")

    @classmethod
    def from_settings(cls, settings: GallerySettings) -> LiveHub:
        """Build a hub from the gallery's settings: REDIS_URL and the LIVE_* values."""
        return cls(
            settings.redis_url,
            linger=settings.live_linger,
            offline_after=settings.live_offline_after,
            max_frame_bytes=settings.live_max_frame_bytes,
            max_viewers=settings.live_viewer_limit,
            write_timeout=settings.live_write_timeout,
            socket_timeout=settings.redis_timeout,
        )

    # --- Public API ---------------------------------------------------------------------

    @property
    def client(self) -> redis.Redis:
        """Return the hub's Redis client (made on first use), for camera listings."""
        with self._lock:
            if self._client is None:
                self._client = connect(self.redis_url, retries=1, socket_timeout=self.socket_timeout)
            return self._client

    @property
    def redis_ok(self) -> bool:
        """Tell whether the reader is connected (True while it has nothing to read)."""
        return self._redis_ok

    def check_redis(self) -> bool:
        """Tell whether Redis answers, PINGing it (at most once a second) while no reader can tell."""
        if self._redis_ok:
            return True
        with self._lock:
            reader_running = self._thread is not None and self._thread.is_alive()
            now = time.monotonic()
            if reader_running or now - self._probed_at < PROBE_INTERVAL:
                return self._redis_ok  # a running reader sets it back itself when it reconnects
            self._probed_at = now
        try:
            self.client.ping()
        except redis.RedisError:
            return False
        if not self._redis_ok:
            self._redis_ok = True
            logger.info("Live view reaches Redis at %s again", self.where)
        return True

    def directory(self, max_age: float = DIRECTORY_MAX_AGE) -> dict[str, CameraStatus]:
        """Return the cameras with a live heartbeat by name, looking at most every `max_age` s."""
        with self._directory_lock:
            if time.monotonic() - self._directory_at < max_age:
                return dict(self._directory)
            found = camera_statuses(self.client)
            self._directory, self._directory_at = found, time.monotonic()
            return dict(found)

    def open(self, camera: str) -> Viewer:
        """Start watching a camera: subscribe if needed and return the viewer's slot."""
        _check_camera(camera)
        with self._lock:
            if self._stopping:
                raise RuntimeError("the live hub is stopped")
            if self.viewer_count_locked() >= self.max_viewers:
                raise TooManyViewers(f"{self.max_viewers} live streams are already open")
            feed = self._feed_locked(camera)
            viewer = Viewer(self, feed)
            feed.viewers.add(viewer)
            self._ensure_reader_locked()
        logger.debug("Viewer joined %s (%d watching)", camera, len(feed.viewers))
        return viewer

    def touch(self, camera: str) -> None:
        """Keep a camera subscribed for `linger` seconds without a viewer (tiles, snapshots)."""
        _check_camera(camera)
        with self._lock:
            if self._stopping:
                return
            feed = self._feed_locked(camera)
            feed.keep_until = max(feed.keep_until, time.monotonic() + self.linger)
            self._ensure_reader_locked()

    def latest(self, camera: str) -> Frame | None:
        """Return the camera's newest frame, or None when none arrived or it is gone."""
        with self._lock:
            feed = self._feeds.get(camera)
            return feed.latest if feed else None

    def wait_for_frame(self, camera: str, timeout: float) -> Frame | None:
        """Touch the camera and return its newest fresh frame, waiting up to `timeout` s."""
        self.touch(camera)
        with self._lock:
            feed = self._feeds.get(camera)
            if feed is None:
                return None
            feed.cond.wait_for(lambda: feed.fresh(self.offline_after), timeout)
            return feed.latest if feed.fresh(self.offline_after) else None

    def status(self, camera: str) -> dict[str, Any]:
        """Return what a page shows about a camera's live view."""
        now = time.time()
        with self._lock:
            feed = self._feeds.get(camera)
            frame = feed.latest if feed else self._lapsed_locked(camera)
            viewers = len(feed.viewers) if feed else 0
            subscribed = camera in self._subscribed
        age = None if frame is None else round(frame.age(now), 3)
        online = bool(self._redis_ok and age is not None and age <= self.offline_after)
        return {
            "camera": camera,
            "online": online,
            "frame_age": age,
            "frame_seq": frame.seq if frame else None,
            "frame_bytes": len(frame.data) if frame else None,
            "viewers": viewers,
            "subscribed": subscribed,
        }

    def cameras(self) -> list[str]:
        """Return the cameras the hub currently holds a feed for."""
        with self._lock:
            return sorted(self._feeds)

    def buffered_bytes(self) -> int:
        """Return the bytes of distinct frames the hub holds (newest per camera + slots)."""
        with self._lock:
            frames = {id(f.latest): len(f.latest.data) for f in self._feeds.values() if f.latest}
            self._lapsed_locked()
            frames.update({id(f): len(f.data) for f in self._lapsed.values()})
            for feed in self._feeds.values():
                for viewer in feed.viewers:
                    if viewer._pending is not None:
                        frames[id(viewer._pending)] = len(viewer._pending.data)
        return sum(frames.values())

    def stats(self) -> dict[str, Any]:
        """Return counters for tests and diagnostics."""
        with self._lock:
            return {
                "feeds": len(self._feeds),
                "viewers": self.viewer_count_locked(),
                "subscribed": sorted(self._subscribed),
                "reader_alive": self._thread is not None and self._thread.is_alive(),
                "redis_ok": self._redis_ok,
            }

    def viewer_count_locked(self) -> int:
        """Return the number of open viewers (call with the hub lock held)."""
        return sum(len(feed.viewers) for feed in self._feeds.values())

    def stop(self, timeout: float = 5.0) -> None:
        """Close every viewer, unsubscribe and end the reader thread."""
        with self._lock:
            self._stopping = True
            for feed in self._feeds.values():
                for viewer in feed.viewers:
                    viewer.closed = True
                feed.viewers.clear()
                feed.cond.notify_all()
            self._lapsed.clear()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        if self._client is not None:
            self._client.close()

    # --- Internals ----------------------------------------------------------------------

    def _feed_locked(self, camera: str) -> _Feed:
        feed = self._feeds.get(camera)
        if feed is None:
            feed = self._feeds[camera] = _Feed(camera, self._lock)
            self._by_channel[feed.channel.encode()] = feed
            feed.latest = self._lapsed_locked(camera)
            feed.seq = feed.latest.seq if feed.latest else 0
            self._lapsed.pop(camera, None)
        return feed

    def _lapsed_locked(self, camera: str = "") -> Frame | None:
        """Return a lapsed feed's frame while it is fresh; forget those that aged out."""
        for name in [n for n, f in self._lapsed.items() if f.age() > self.offline_after]:
            del self._lapsed[name]
        return self._lapsed.get(camera)

    def _release(self, viewer: Viewer) -> None:
        with self._lock:
            feed = viewer._feed
            viewer.closed = True
            viewer._pending = None
            if viewer in feed.viewers:
                feed.viewers.discard(viewer)
                feed.keep_until = max(feed.keep_until, time.monotonic() + self.linger)
            feed.cond.notify_all()

    def _ensure_reader_locked(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="live-hub-reader", daemon=True)
            self._thread.start()

    def _wanted_locked(self) -> frozenset[str] | None:
        """Drop feeds nobody wants and stuck viewers; None when the reader should end."""
        now = time.monotonic()
        for feed in list(self._feeds.values()):
            for viewer in [v for v in feed.viewers if v._stuck(now, self.write_timeout)]:
                logger.info("Dropping a live viewer of %s that took no frame for %.0f s",
                            feed.camera, self.write_timeout)
                feed.viewers.discard(viewer)
                viewer.closed = True
                viewer._pending = None
                feed.keep_until = max(feed.keep_until, now + self.linger)
            if not feed.viewers and now >= feed.keep_until:
                del self._feeds[feed.camera]
                del self._by_channel[feed.channel.encode()]
                if feed.latest is not None and feed.fresh(self.offline_after):
                    self._lapsed[feed.camera] = feed.latest
        if self._stopping or not self._feeds:
            self._thread = None
            self._subscribed = frozenset()
            return None
        return frozenset(self._feeds)

    def _run(self) -> None:
        try:
            self._retry.call_with_retry(self._pump, self._on_redis_error, with_failure_count=True)
        except _Idle:
            pass
        except Exception:
            logger.exception("The live view reader stopped on an unexpected error")
            with self._lock:
                self._thread = None
                self._subscribed = frozenset()
        logger.debug("Live view reader ended")

    def _pump(self) -> None:
        """Subscribe to the wanted channels and deliver frames until nothing is wanted."""
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        subscribed: frozenset[str] = frozenset()
        try:
            while True:
                with self._lock:
                    wanted = self._wanted_locked()
                    channels = {c: self._feeds[c].channel for c in wanted or ()}
                if wanted is None:
                    raise _Idle
                if wanted != subscribed:
                    added, removed = wanted - subscribed, subscribed - wanted
                    if added:
                        pubsub.subscribe(*(channels[c] for c in added))
                    if removed:
                        pubsub.unsubscribe(*(preview_channel(c) for c in removed))
                    subscribed = wanted
                    with self._lock:
                        self._subscribed = subscribed
                    logger.debug("Live view subscribed to %s", ", ".join(sorted(subscribed)))
                if not self._redis_ok:
                    self._redis_ok = True
                    logger.info("Live view reconnected to Redis at %s", self.where)
                message = pubsub.get_message(ignore_subscribe_messages=True,
                                             timeout=self.poll_interval)
                if message and message.get("type") == "message":
                    self._deliver(message["channel"], message["data"])
        finally:
            with self._lock:
                self._subscribed = frozenset()
            pubsub.close()

    def _on_redis_error(self, error: Exception, failures: int) -> None:
        if self._redis_ok:
            logger.warning("Live view lost Redis at %s (%s); camera views show offline until "
                           "it is back (retrying with backoff)", self.where, error)
        self._redis_ok = False
        with self._lock:
            # Wake viewers so streams notice; end the reader if nobody waits for it.
            for feed in self._feeds.values():
                feed.cond.notify_all()
            if self._wanted_locked() is None:
                raise _Idle from error

    def _deliver(self, channel: bytes | str, data: bytes | str) -> None:
        if isinstance(channel, str):
            channel = channel.encode()
        if isinstance(data, str):
            data = data.encode("latin-1")
        with self._lock:
            feed = self._by_channel.get(channel)
            if feed is None:
                return
            if len(data) > self.max_frame_bytes or not data.startswith(_JPEG_MAGIC):
                if not feed.oversize_logged:
                    feed.oversize_logged = True
                    logger.warning("Dropping live frames from %s that are not JPEGs of at most "
                                   "%d bytes (this one: %d bytes); logged once per camera",
                                   feed.camera, self.max_frame_bytes, len(data))
                return
            feed.seq += 1
            frame = Frame(data=data, seq=feed.seq, received_at=time.time())
            feed.latest = frame
            for viewer in feed.viewers:
                viewer._offer(frame)
            feed.cond.notify_all()


def _check_camera(camera: str) -> None:
    if not CAMERA_NAME_RE.match(camera):
        raise ValueError(f"invalid camera name {camera!r}")
