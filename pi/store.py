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
    TrimPolicy,
    camera_trim_policy,
    clear_heartbeat,
    ensure_index,
    image_key,
    save_heartbeat,
    save_image,
    supports_field_expiry,
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


#: Seconds between two reads of the budgets (retention:budgets), so a change made in the
#: gallery or redis-cli applies within this long, without a restart.
BUDGET_REFRESH = 10.0


class ImageStore:
    """Writes pictures and heartbeats to Redis, or to the spool while Redis is unreachable.

    `ttl` is IMAGE_EXPIRY. With `history_ttl` longer than it (HISTORY_EXPIRY) and a Redis
    with hash-field expiry, pictures are stored in two tiers: the full size for `ttl`,
    the thumbnail and metadata for `history_ttl`. With `camera` set, that camera's
    full-size budget (read from Redis every BUDGET_REFRESH seconds) is enforced at each store.
    """

    def __init__(self, client: redis.Redis, spool: Spool, ttl: float, where: str, *,
                 history_ttl: float | None = None, camera: str | None = None) -> None:
        self.client = client
        self.spool = spool
        self.ttl = ttl
        self.history_ttl = history_ttl
        self.tiers_wanted = history_ttl is not None and history_ttl > ttl
        self.field_expiry: bool | None = None  # detected once, at the first connection
        self.camera = camera
        self.trim = TrimPolicy(None)
        self._trim_read_at = float("-inf")
        self._budget_problems: set[str] = set()
        self.trimmed = 0
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
            if self.tiers_wanted and self.field_expiry is None:
                self.field_expiry = supports_field_expiry(self.client)
                if not self.field_expiry:
                    logger.warning(
                        "Redis at %s can't expire single hash fields (HPEXPIRE needs Redis 7.4 "
                        "or newer; Redis Stack 7.2 lacks it), so HISTORY_EXPIRY is ignored: each "
                        "picture expires whole after IMAGE_EXPIRY=%g s. Fix: use Redis 8 or Redis "
                        "Stack 7.4+ (docker-compose.yml's image is)", self.where, self.ttl)
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

    @property
    def tiered(self) -> bool:
        """Tell whether pictures go in two tiers (wanted, and the server can; assumed until known)."""
        return self.tiers_wanted and self.field_expiry is not False

    def plan(self, record: ImageRecord) -> None:
        """Note in the record when its full size and the whole picture are to expire."""
        if self.tiered:
            assert self.history_ttl is not None
            record.plan_history_until = round(record.timestamp + self.history_ttl, 3)
            if record.image_data is not None:
                record.plan_full_until = round(record.timestamp + self.ttl, 3)
        else:
            record.plan_history_until = round(record.timestamp + self.ttl, 3)
            if record.image_data is not None:
                record.plan_full_until = record.plan_history_until

    def ttls(self, record: ImageRecord, now: float | None = None) -> tuple[float, float | None]:
        """Return (key TTL, full-size TTL or None) left for a planned record (may be <= 0).

        A record planned in two tiers but stored where there are none expires whole with
        its full size; one whose full size is past its plan loses it (stored as history only).
        """
        now = time.time() if now is None else now
        history = (record.plan_history_until or record.timestamp + self.ttl) - now
        full = None if record.plan_full_until is None else record.plan_full_until - now
        if record.image_data is None or full is None:
            return history, None
        if not self.tiered:
            return min(history, full), None
        if full <= 0:
            record.image_data = None
            record.full_until = record.plan_full_until
            return history, None
        return history, full if full < history else None

    def _trim_policy(self) -> TrimPolicy | None:
        """Return the camera's budget policy, re-read from Redis every BUDGET_REFRESH seconds."""
        if self.camera is None:
            return None
        now = time.monotonic()
        if now - self._trim_read_at >= BUDGET_REFRESH:
            self._trim_read_at = now
            try:
                policy, problems = camera_trim_policy(self.client, self.camera)
            except redis.RedisError as exc:
                if not is_transient(exc):
                    raise
                logger.debug("Could not read the budgets: %s", exc)
                return self.trim
            for problem in problems:
                if problem not in self._budget_problems:
                    logger.warning("Ignoring a budget in retention:budgets: %s (fix it in the "
                                   "gallery or with redis-cli HSET)", problem)
            self._budget_problems = set(problems)
            if (policy.budget, policy.min_age) != (self.trim.budget, self.trim.min_age):
                logger.info("Full-size budget of camera %s: %s, minimum age %g s", self.camera,
                            "none" if policy.budget is None else f"{policy.budget / 1e6:.1f} MB",
                            policy.min_age)
            self.trim.budget, self.trim.min_age = policy.budget, policy.min_age
        return self.trim

    def _save(self, image_id: str, record: ImageRecord, key_ttl: float, full_ttl: float | None) -> None:
        trim = self._trim_policy()
        save_image(self.client, record, key_ttl, image_id, full_ttl=full_ttl, trim=trim)
        if trim is not None and trim.last_trimmed:
            self.trimmed += trim.last_trimmed
            logger.info("Camera %s is over its full-size budget (%.1f MB): the full size of its %d "
                        "oldest pictures was dropped, their thumbnails and metadata stay (%.1f MB "
                        "of full size left)", self.camera, (trim.budget or 0) / 1e6,
                        trim.last_trimmed, trim.last_bytes / 1e6)

    def store(self, image_id: str, record: ImageRecord) -> StoreResult:
        """Store a picture with the configured TTL, or spool it; never raises for an outage."""
        start = time.perf_counter()
        key = image_key(image_id)
        self.plan(record)
        if self.online:
            try:
                key_ttl, full_ttl = self.ttls(record)
                self._save(image_id, record, max(key_ttl, 1.0), full_ttl)
                self._wrote()
                self.stored += 1
                return StoreResult(key, True, (time.perf_counter() - start) * 1000)
            except redis.RedisError as exc:
                if not is_transient(exc):
                    raise
                self._set_offline(exc)
        try:
            self.spool.put(image_id, record, record.plan_history_until or record.timestamp + self.ttl)
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
            key_ttl, full_ttl = self.ttls(item.record)
            remaining = min(item.remaining_ttl(), key_ttl)
            if remaining <= 0:
                self.spool.remove(path)
                self.expired += 1
                logger.warning("Dropped spooled picture %s: it expired %.0f s ago, before Redis "
                               "came back (IMAGE_EXPIRY)", image_key(item.image_id), -remaining)
                continue
            try:
                self._save(item.image_id, item.record, remaining, full_ttl)
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
