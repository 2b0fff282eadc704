"""The archiver: copies every stored picture's original to the archive soon after capture.

- It reads `images:new` through the consumer group `archiver` (server/worker/stream_group.py):
  an entry is acknowledged only once its picture is in the archive and the hash says so
  (`archived` field), so a crash or a restart loses nothing, and two archivers of the group
  never copy one picture on purpose.
- The stream is capped. At start, whenever entries were trimmed before they were handled,
  and every ARCHIVE_SWEEP_INTERVAL, it walks the search index (`contract.INDEX_NAME`) for
  pictures that still have their full size and no `archived` field, oldest first. The same
  walk keeps the archive's "kept" marks in step with the gallery's Keep (a hash without TTL).
- When the archive is unreachable or full, or Redis is, the entry stays pending and is
  retried with exponential backoff (capped at ARCHIVE_MAX_BACKOFF), with one warning per
  outage in the log and the error in `archive:status`. The capture daemons never wait for it.
- Every ARCHIVE_RETENTION_INTERVAL it deletes what the retention settings say (retention.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from redis.backoff import ExponentialWithJitterBackoff

from pi import contract
from server.archive import layout
from server.archive.backends import (
    ArchiveFull,
    ArchiveUnavailable,
    Backend,
    ObjectMissing,
    sha256_hex,
)
from server.archive.retention import enforce_retention
from server.archive.settings import ArchiveSettings
from server.worker.stream_group import StreamGroup

logger = logging.getLogger(__name__)

#: Keys read per page of the index walk.
WALK_PAGE = 500
#: Errors that mean "try again later", never "this picture is bad": the archive or Redis is
#: down, or Redis refuses writes for now (OOM under noeviction, a read-only replica, loading).
TRANSIENT = (ArchiveUnavailable, redis.ConnectionError, redis.TimeoutError, redis.ResponseError)


@dataclass
class Counters:
    archived: int = 0
    skipped: int = 0  # already archived
    missed: int = 0  # the original had left Redis first
    unchanged: int = 0  # near-duplicates, stored without a full size on purpose
    malformed: int = 0
    errors: list[str] = field(default_factory=list)


class Archiver:
    """One archiver process: `run(stop)` until `stop` is set (SIGTERM)."""

    def __init__(self, settings: ArchiveSettings, client: redis.Redis, backend: Backend, *,
                 clock: Callable[[], float] = time.time, batch_size: int = 20, checked: bool = False) -> None:
        self.settings, self.client, self.backend, self.clock = settings, client, backend, clock
        self.group = StreamGroup(client, settings.group, settings.consumer, start="0",
                                 claim_idle=settings.claim_idle, batch_size=batch_size)
        self.backoff = ExponentialWithJitterBackoff(cap=settings.max_backoff, base=0.5)
        self.counters = Counters()
        self.status = contract.ArchiveStatus(archive=backend.url, consumer=settings.consumer,
                                             started_at=clock())
        self.catchup_due = True
        self.catchup_left = 0
        self._field_expiry = True  # HPEXPIRETIME works (Redis >= 7.4)
        self._next_sweep = self._next_retention = self._next_status = 0.0
        self._failures = 0
        self._checked = checked  # backend.check() passed (bucket there, credentials good)

    # --- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Archive until `stop` is set. Raises ArchiveSettingsError for settings that are wrong."""
        logger.info("Archiving originals to %s (consumer %s of group %s)", self.backend.url,
                    self.settings.consumer, self.settings.group)
        delay = 0.0
        try:
            while not stop.wait(delay):
                try:
                    self.step(stop)
                except TRANSIENT as exc:
                    delay = self._failed(exc)
                else:
                    delay = 0.0
                    if self._failures:
                        logger.warning("Archive reachable again: archiving resumed (%d waiting)",
                                       self.status.backlog)
                        self._failures = 0
        finally:
            self.status.state = "stopped"
            try:
                self._write_status(force=True)
            except TRANSIENT as exc:
                logger.info("Could not write the final status (%s)", exc)
            logger.info("Archiver stopped: %d archived, %d already archived, %d near-duplicates (nothing to "
                        "archive), %d missed since start", self.counters.archived, self.counters.skipped,
                        self.counters.unchanged, self.counters.missed)

    def step(self, stop: threading.Event) -> None:
        """Do one round: the index walk when due, one batch from the stream, retention, status."""
        now = self.clock()
        if self._next_sweep == 0.0:
            contract.ensure_index(self.client)  # SearchModuleMissing: the caller says how to fix it
            self.group.ensure()
        if not self._checked:  # the archive was down at start: check it (and create the bucket) now
            self.backend.check()
            self._checked = True
        if self.catchup_due or now >= self._next_sweep:
            self.catch_up(stop)
            self._next_sweep = self.clock() + self.settings.sweep_interval
        batch = self.group.read(block=1.0)
        if batch.trimmed:
            logger.warning("%d stream entries were trimmed before they were archived; walking the "
                           "index for their pictures", batch.trimmed)
            self.catchup_due = True
        for delivery in batch.deliveries:
            if stop.is_set():
                return  # left pending: read again first after a restart
            self.archive(delivery.fields.get("id", ""))
            self.group.ack(delivery.stream_id)
            self._write_status()
        self._ok()
        if self.clock() >= self._next_retention:
            enforce_retention(self.backend, self.client, self.settings, now=self.clock(), stop=stop)
            self._next_retention = self.clock() + self.settings.retention_interval
        self._write_status()

    def _failed(self, exc: Exception) -> float:
        self._failures += 1
        delay = self.backoff.compute(self._failures)
        self.group.rewind()
        what = "Archive full" if isinstance(exc, ArchiveFull) else "Archive unreachable"
        if isinstance(exc, redis.RedisError):
            what = "Redis unavailable"
        message = f"{what}: {exc}"
        self.status.state, self.status.last_error = "retrying", message
        self.status.last_error_at = self.clock()
        if self._failures == 1:
            logger.warning("%s. Pictures stay pending in Redis, none is lost; retrying with "
                           "backoff (up to %g s)", message, self.settings.max_backoff)
        else:
            logger.info("Still failing (%s); next try in %.1f s", message, delay)
        if isinstance(exc, ArchiveFull):
            try:  # retention may free room
                enforce_retention(self.backend, self.client, self.settings, now=self.clock())
            except TRANSIENT as again:
                logger.debug("Retention while full failed too: %s", again)
        try:
            self._write_status(force=True)
        except TRANSIENT:
            pass  # Redis is what is down; the log says it
        return delay

    def _ok(self) -> None:
        self.status.state = "ok"

    def _write_status(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now < self._next_status:
            return
        self._next_status = now + self.settings.status_interval
        try:
            pending = self.group.pending_count()
            lag = self.group.lag() or 0
        except redis.ResponseError:  # no group yet (Redis was emptied): nothing pending for it
            pending, lag = 0, 0
        self.status.pending = pending
        self.status.backlog = pending + lag + self.catchup_left
        self.status.archived = self.counters.archived
        self.status.missed = self.counters.missed
        self.status.updated_at = now
        contract.save_archive_status(self.client, self.status)

    # --- one picture ----------------------------------------------------------------------

    def archive(self, image_id: str) -> str:
        """Copy one picture's original and sidecar to the archive and record it in its hash.

        Returns what happened: "archived", "already", "gone" (the hash expired first),
        "no-original" (only the thumbnail is left), "malformed". Raises ArchiveUnavailable
        (and redis errors) for problems worth retrying.
        """
        try:
            key = contract.image_key(image_id)
        except ValueError:
            logger.warning("Stream entry with an invalid image id %r skipped", image_id[:80])
            self.counters.malformed += 1
            return "malformed"
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(key)
        pipe.pttl(key)
        try:
            raw, pttl = pipe.execute()
        except redis.ResponseError as exc:
            if "WRONGTYPE" not in str(exc):
                raise
            logger.warning("%s is not a hash (another writer?); skipped", key)
            self.counters.malformed += 1
            return "malformed"
        if not raw:
            logger.warning("%s expired before it was archived (the archiver was behind)", key)
            self.counters.missed += 1
            return "gone"
        fields = {(k.decode("utf-8", "replace") if isinstance(k, bytes) else k): v for k, v in raw.items()}
        if contract.F_ARCHIVED in fields:
            self.counters.skipped += 1
            return "already"
        try:
            record = contract.ImageRecord.from_hash(fields)
        except ValueError as exc:
            logger.warning("%s is not a valid image hash (%s); skipped", key, exc)
            self.counters.malformed += 1
            return "malformed"
        if not record.image_data and record.unchanged_since is not None:
            # A near-duplicate, stored without its full size on purpose: its original is the
            # picture it is the same as (`same_as`), archived on its own.
            logger.debug("%s is a near-duplicate stored as history only; nothing to archive", key)
            self.counters.unchanged += 1
            return "unchanged"
        if not record.image_data:
            logger.warning("%s has only its thumbnail left: the full size expired before it was archived",
                           key)
            self.counters.missed += 1
            return "no-original"
        now = self.clock()
        kept = pttl == -1
        base = layout.base_name(image_id, record.camera, record.timestamp)
        original = layout.original_key(base, record.mime_type)
        # The original first, then the sidecar: a sidecar means a complete copy.
        self.backend.put(original, record.image_data, record.mime_type)
        sidecar = layout.Sidecar(
            id=image_id, original=original.rsplit("/", 1)[1], size=len(record.image_data),
            sha256=sha256_hex(record.image_data), fields=layout.text_fields(fields),
            thumbnail=record.thumbnail, expires_at=None if kept else round(now + pttl / 1000, 3),
            image_data_expires_at=self._image_data_expiry(key), kept=kept, archived_at=round(now, 3))
        self.backend.put(layout.sidecar_key(base), sidecar.to_json(), "application/json")
        del record, fields, raw
        if contract.mark_archived(self.client, image_id, self.backend.location(original)):
            if kept:
                self.client.sadd(contract.ARCHIVE_KEPT_KEY, image_id)
        else:
            logger.info("%s expired while it was archived; the archive keeps it", key)
        self.counters.archived += 1
        self.status.last_ok = now
        logger.debug("Archived %s as %s", key, original)
        return "archived"

    def _image_data_expiry(self, key: str) -> float | None:
        if not self._field_expiry:
            return None
        try:
            (when,) = self.client.execute_command("HPEXPIRETIME", key, "FIELDS", 1, contract.F_IMAGE_DATA)
        except redis.ResponseError:
            self._field_expiry = False  # Redis < 7.4: no field expiry, nothing to record
            return None
        return round(int(when) / 1000, 3) if int(when) > 0 else None

    # --- the index walk -------------------------------------------------------------------

    def catch_up(self, stop: threading.Event | None = None) -> int:
        """Archive every picture that still has its full size and no `archived` field.

        Also brings the archive's kept marks in step. Returns how many were archived.
        """
        lock = self.client.set(contract.ARCHIVE_CATCHUP_LOCK_KEY, self.settings.consumer, nx=True, ex=600)
        if not lock:
            logger.debug("Another archiver is walking the index")
            self.catchup_due = False
            return 0
        try:
            todo, kept_now, unkept_now = self._walk_index()
            self.catchup_left = len(todo)
            if todo:
                logger.info("Catching up: %d pictures in Redis with their full size are not archived yet",
                            len(todo))
            done = 0
            for _, image_id in sorted(todo):  # oldest first: nearest to losing its full size
                if stop is not None and stop.is_set():
                    return done
                if self.archive(image_id) == "archived":
                    done += 1
                self.catchup_left -= 1
                self._write_status()  # a long walk must not let the status key expire
            self._sync_kept(kept_now, unkept_now)
            self.catchup_due = False
            return done
        finally:
            self.client.delete(contract.ARCHIVE_CATCHUP_LOCK_KEY)

    def _walk_index(self) -> tuple[list[tuple[float, str]], dict[str, str], dict[str, float]]:
        """Return [(timestamp, id) to archive], {kept id: location}, {archived id with a TTL: expiry}."""
        todo: list[tuple[float, str]] = []
        kept_now: dict[str, str] = {}
        with_ttl: dict[str, float] = {}
        for keys in self._index_key_pages():
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.hmget(key, contract.F_TIMESTAMP, contract.F_ARCHIVED)
                pipe.hexists(key, contract.F_IMAGE_DATA)
                pipe.pttl(key)
            replies = pipe.execute(raise_on_error=False)
            now = self.clock()
            for i, key in enumerate(keys):
                answers = replies[3 * i:3 * i + 3]
                if any(isinstance(a, Exception) for a in answers):
                    continue  # no longer a hash (another writer): archive() would skip it too
                (ts, archived), has_original, pttl = answers
                try:
                    image_id = contract.id_from_key(key)
                    timestamp = float(ts)
                except (TypeError, ValueError):
                    continue  # not a picture we can name; archive() would skip it too
                if archived is None:
                    if has_original:
                        todo.append((timestamp, image_id))
                elif pttl == -1:
                    kept_now[image_id] = archived.decode() if isinstance(archived, bytes) else str(archived)
                elif pttl > 0:
                    with_ttl[image_id] = round(now + pttl / 1000, 3)
        return todo, kept_now, with_ttl

    def _index_key_pages(self):
        reply = self.client.execute_command("FT.AGGREGATE", contract.INDEX_NAME, "*", "LOAD", 1, "@__key",
                                            "WITHCURSOR", "COUNT", WALK_PAGE)
        while True:
            rows, cursor = reply
            keys = []
            for row in rows[1:]:
                pairs = dict(zip(row[0::2], row[1::2]))
                key = pairs.get(b"__key", pairs.get("__key"))
                if key is not None:
                    keys.append(key.decode() if isinstance(key, bytes) else key)
            if keys:
                yield keys
            if not int(cursor):
                return
            reply = self.client.execute_command("FT.CURSOR", "READ", contract.INDEX_NAME, cursor,
                                                "COUNT", WALK_PAGE)

    def _sync_kept(self, kept_now: dict[str, str], with_ttl: dict[str, float]) -> None:
        """Mark in the archive the pictures kept since they were archived, and unmark un-kept ones."""
        members = self.client.smembers(contract.ARCHIVE_KEPT_KEY)
        marked = {m.decode() if isinstance(m, bytes) else m for m in members}
        for image_id, location in kept_now.items():
            if image_id not in marked and self._set_kept(location, True, None):
                self.client.sadd(contract.ARCHIVE_KEPT_KEY, image_id)
        for image_id in marked - kept_now.keys():
            if image_id in with_ttl:
                location = self.client.hget(contract.image_key(image_id), contract.F_ARCHIVED)
                if location and self._set_kept(location.decode(), False, with_ttl[image_id]):
                    self.client.srem(contract.ARCHIVE_KEPT_KEY, image_id)
            elif not self.client.exists(contract.image_key(image_id)):
                # Deleted from Redis: the archive copy stays as it was (kept).
                self.client.srem(contract.ARCHIVE_KEPT_KEY, image_id)

    def _set_kept(self, location: str, kept: bool, expires_at: float | None) -> bool:
        key = self.backend.key_of(location)
        if key is None:
            logger.warning("Can't mark %s %s: it is not in this archive (%s)", location,
                           "kept" if kept else "not kept", self.backend.url)
            return False
        return set_sidecar_kept(self.backend, layout.split_key(key)[0], kept, expires_at)


def set_sidecar_kept(backend: Backend, base: str, kept: bool, expires_at: float | None) -> bool:
    """Rewrite a sidecar's kept mark; False when the sidecar is missing or unreadable."""
    try:
        sidecar = layout.Sidecar.from_json(backend.get(layout.sidecar_key(base)))
    except ObjectMissing:
        return False
    except ValueError as exc:
        logger.warning("Sidecar %s is unreadable (%s); kept mark not changed", base, exc)
        return False
    if sidecar.kept == kept:
        return True
    sidecar.kept = kept
    sidecar.expires_at = expires_at
    backend.put(layout.sidecar_key(base), sidecar.to_json(), "application/json")
    logger.info("Archive copy %s marked %s", base, "kept" if kept else "not kept")
    return True

