"""Storing pictures in Redis, falling back to the spool while Redis is away, and replaying it.

A picture goes to Redis in one MULTI/EXEC (contract.save_image). A connection error,
timeout, out-of-memory or read-only error never reaches the capture loop: the picture is
spooled to disk instead, and the store is marked offline so later pictures are spooled
at once, without waiting for the network. A background SpoolReplayer reconnects with
redis-py's backoff, makes sure of the search index, and replays the spool oldest first,
each picture with the TTL it has left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from redis.backoff import AbstractBackoff, EqualJitterBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ExecAbortError,
    NoPermissionError,
    OutOfMemoryError,
)

from pi.contract import (
    CameraStatus,
    ImageRecord,
    clear_heartbeat,
    ensure_index,
    image_key,
    save_heartbeat,
    save_image,
)
from pi.spool import Spool, SpoolCorrupt

logger = logging.getLogger(__name__)


class RedisCredentialsRefused(RuntimeError):
    """Redis refused the user name or password in REDIS_URL; the message says so."""


def is_transient(exc: BaseException) -> bool:
    """Tell whether a Redis error should be waited out (spool and retry) rather than fatal."""
    if isinstance(exc, (AuthenticationError, AuthorizationError)):
        return False
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError,
                        OutOfMemoryError, ExecAbortError)):
        return True
    if isinstance(exc, redis.ResponseError):
        text = str(exc).upper()
        return text.startswith(("OOM", "LOADING", "MASTERDOWN", "TRYAGAIN", "BUSY"))
    return False


def describe_error(exc: BaseException) -> str:
    """Return a short reason for a Redis error, without the command it was about."""
    text = str(exc)
    if isinstance(exc, OutOfMemoryError) or "maxmemory" in text:
        return "out of memory: used memory is over maxmemory"
    if isinstance(exc, redis.ReadOnlyError):
        return "it is a read-only replica"
    return (text or type(exc).__name__)[:200]


def credentials_message(where: str, exc: BaseException) -> str:
    """Return the one-paragraph explanation and fix for refused Redis credentials."""
    return (f"Redis at {where} refused the credentials in REDIS_URL ({exc}). Fix: check the "
            "user name and password in REDIS_URL, e.g. redis://default:PASSWORD@host:6379/.")


@dataclass
class StoreResult:
    """What became of one picture: stored in Redis, or spooled to disk."""

    key: str
    stored: bool
    millis: float
    spooled: bool = False


class ImageStore:
    """Writes pictures and heartbeats to Redis, or to the spool while Redis is unreachable."""

    def __init__(self, client: redis.Redis, spool: Spool, ttl: float, where: str) -> None:
        self.client = client
        self.spool = spool
        self.ttl = ttl
        self.where = where
        self.online = False
        self.index_ready = False
        self.wake = threading.Event()  # set when there is something for the replayer to do
        self.stored = self.spooled = self.replayed = self.expired = self.lost = 0
        self._offline_logged = False
        self.offline_reason = ""

    def _set_offline(self, exc: BaseException) -> None:
        self.offline_reason = describe_error(exc)
        # Warn once per outage: a Redis that answers PING but is full would otherwise flip
        # between "connected" and "unavailable" on every retry.
        if not self._offline_logged:
            logger.warning("Redis at %s is unavailable (%s); spooling pictures to %s until it "
                           "takes them again", self.where, self.offline_reason, self.spool.directory)
        else:
            logger.debug("Redis still unavailable: %s", self.offline_reason)
        self.online = False
        self.index_ready = False  # a Redis that comes back may be a new, empty one
        self._offline_logged = True
        self.wake.set()

    def connect(self) -> bool:
        """Ping Redis and make sure of the index; return whether it answers.

        Raises SearchModuleMissing for a Redis without search, and RedisCredentialsRefused
        for a bad password: both need the user, not a retry.
        """
        try:
            self.client.ping()
            if not self.index_ready:
                result = ensure_index(self.client, where=self.where)
                self.index_ready = True
                logger.debug("Search index %s", result)
        except (AuthenticationError, AuthorizationError, NoPermissionError) as exc:
            raise RedisCredentialsRefused(credentials_message(self.where, exc)) from None
        except redis.RedisError as exc:
            if not is_transient(exc):
                raise
            self._set_offline(exc)
            return False
        if not self.online and not self._offline_logged:
            logger.info("Connected to Redis at %s", self.where)
        self.online = True
        return True

    def _wrote(self) -> None:
        """Note a successful write: the end of an outage, if there was one."""
        if self._offline_logged:
            logger.info("Redis at %s takes pictures again", self.where)
            self._offline_logged = False

    def store(self, image_id: str, record: ImageRecord) -> StoreResult:
        """Store a picture with the configured TTL, or spool it; never raises for an outage."""
        start = time.perf_counter()
        key = image_key(image_id)
        if self.online:
            try:
                save_image(self.client, record, self.ttl, image_id)
                self._wrote()
                self.stored += 1
                return StoreResult(key, True, (time.perf_counter() - start) * 1000)
            except redis.RedisError as exc:
                if not is_transient(exc):
                    raise
                self._set_offline(exc)
        try:
            self.spool.put(image_id, record, record.timestamp + self.ttl)
        except OSError as exc:
            self.lost += 1
            logger.error("Picture %s is lost: Redis is unavailable and the spool can't be written "
                         "(%s; %d lost so far). Fix: free space in SPOOL_DIR=%s or check its "
                         "permissions", key, exc.strerror or exc, self.lost, self.spool.directory)
            return StoreResult(key, False, (time.perf_counter() - start) * 1000)
        self.spooled += 1
        self.wake.set()
        return StoreResult(key, False, (time.perf_counter() - start) * 1000, spooled=True)

    def replay(self, stop: threading.Event | None = None) -> bool:
        """Store spooled pictures oldest first; return False if Redis went away meanwhile."""
        for path in self.spool.paths():
            if stop is not None and stop.is_set():
                return True
            try:
                item = self.spool.load(path)
            except SpoolCorrupt:
                continue
            remaining = item.remaining_ttl()
            if remaining <= 0:
                self.spool.remove(path)
                self.expired += 1
                logger.warning("Dropped spooled picture %s: it expired %.0f s ago, before Redis "
                               "came back (IMAGE_EXPIRY)", image_key(item.image_id), -remaining)
                continue
            try:
                save_image(self.client, item.record, remaining, item.image_id)
            except redis.RedisError as exc:
                if not is_transient(exc):
                    raise
                self._set_offline(exc)
                return False
            self._wrote()
            self.spool.remove(path)
            self.replayed += 1
            logger.info("Replayed spooled picture %s (%d left in spool, %.0f s of TTL left)",
                        image_key(item.image_id), len(self.spool), remaining)
        return True

    def sign_off(self, camera: str) -> None:
        """Remove the camera's heartbeat on a clean stop, so the gallery shows it offline at once."""
        if not self.online:
            return
        try:
            clear_heartbeat(self.client, camera)
        except redis.RedisError as exc:
            logger.debug("Could not remove the heartbeat on stop: %s", exc)

    def heartbeat(self, status: CameraStatus, ttl: float) -> bool:
        """Refresh the camera's heartbeat hash and its short TTL; skipped while offline."""
        if not self.online:
            return False
        try:
            save_heartbeat(self.client, status, ttl)
        except redis.RedisError as exc:
            if not is_transient(exc):
                raise
            self._set_offline(exc)
            return False
        return True


class SpoolReplayer(threading.Thread):
    """Reconnects to Redis with backoff while pictures wait in the spool, and replays them."""

    def __init__(self, store: ImageStore, stop: threading.Event,
                 on_fatal: Callable[[BaseException], None],
                 backoff: AbstractBackoff | None = None) -> None:
        super().__init__(name="spool-replayer", daemon=True)
        self.store = store
        self.stop = stop
        self.on_fatal = on_fatal
        self.backoff = backoff or EqualJitterBackoff(cap=5.0, base=0.25)

    def run(self) -> None:
        """Wait for work; reconnect and replay; back off between failed attempts."""
        failures = 0
        while not self.stop.is_set():
            self.store.wake.clear()
            if self.store.online and len(self.store.spool) == 0:
                self.store.wake.wait()
                continue
            try:
                ok = self.store.connect() and self.store.replay(self.stop)
            except Exception as exc:  # a fatal error ends the daemon, with its message
                self.on_fatal(exc)
                return
            if ok:
                failures = 0
                continue
            failures += 1
            self.stop.wait(self.backoff.compute(failures))
