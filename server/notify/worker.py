"""The notifier's loop: stream entries and heartbeats in, notifications out, exactly once.

Delivery, per stream entry and target:

1. The target's rule decides: skip (filter, quiet hours, cooldown), add to the digest, or send.
2. A send that succeeded, a skip and a digest addition are each recorded in Redis in one
   MULTI with the entry's "done" mark for that target (`notify:done:<stream id>`, a set).
3. Only when every target is done with an entry is it acknowledged (XACK) and its mark
   deleted. A target that failed leaves the entry pending: the other targets go on, and
   after a backoff the notifier rewinds to its pending entries and retries them, in order,
   for the failed target only (the marks say which targets already had them).

So a restart or an outage makes notifications late, never repeated and never lost while the
stream still holds them. The one window left is a crash between a send and its mark: that
message is sent again on restart (webhooks carry an X-Camera-Delivery id to drop it by).
Digests are collected in Redis (`notify:digest:<target>`) and sent when their window ends.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence

import redis
from PIL import Image
from redis.backoff import EqualJitterBackoff

from pi.contract import (
    CAMERA_NAME_RE,
    CAMERAS_KEY,
    F_THUMBNAIL,
    MIME_JPEG,
    NOTIFY_CAMERAS_KEY,
    NOTIFY_STATUS_KEY,
    CheckedStreamEntry,
    camera_names,
    camera_statuses,
    image_key,
    notify_cooldown_key,
    notify_digest_key,
    notify_done_key,
    notify_target_key,
    read_stream_entry,
    sniff_image_mime,
)
from server.worker.stream_group import Delivery, StreamGroup

from .rules import DIGEST, SEND
from .targets import Digest, Links, Picture, Rejected, RetryLater, Target

logger = logging.getLogger(__name__)

#: Largest thumbnail (in pixels) the notifier decodes to re-encode it; a bigger one is
#: someone else's mistake (or a decompression bomb) and is sent as it is.
MAX_THUMBNAIL_PIXELS = 4_000_000


def as_jpeg(data: bytes) -> bytes:
    """Return a thumbnail as JPEG: Home Assistant's MQTT camera and Telegram expect JPEG, and
    the capture daemon writes WebP thumbnails (THUMBNAIL_FORMAT). Anything unreadable is
    returned as it is."""
    if sniff_image_mime(data) == MIME_JPEG:
        return data
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_THUMBNAIL_PIXELS:
                return data
            out = io.BytesIO()
            img.convert("RGB").save(out, "JPEG", quality=85)
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError):
        return data

GROUP = "notifier"
#: Delivery marks outlive any entry the capped stream can still hold.
DONE_TTL = 7 * 86400


class TargetState:
    """What the loop knows about one target's failures."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.failures = 0
        self.blocked = False  # entries wait for it until the retry, then go in order
        self.retry_at = 0.0


class Notifier:
    """Reads the stream through the `notifier` consumer group; see the module docstring."""

    def __init__(self, client: redis.Redis, targets: Sequence[Target], *, consumer: str,
                 gallery_url: str | None = None, stop: threading.Event | None = None,
                 heartbeat_check: float = 5.0, retry_cap: float = 60.0, claim_idle: float = 60.0,
                 block: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.states = [TargetState(t) for t in targets]
        self.group = StreamGroup(client, GROUP, consumer, start="$", claim_idle=claim_idle)
        self.links = Links(gallery_url)
        self.stop = stop or threading.Event()
        self.heartbeat_check = heartbeat_check
        self.backoff = EqualJitterBackoff(cap=retry_cap, base=min(1.0, retry_cap / 4))
        self.block = block
        self.clock = clock
        self.started_at = clock()
        self.next_camera_check = 0.0
        self.redis_failures = 0
        self.malformed = 0
        self.trimmed = 0
        self.sent = 0
        self.cameras: dict[str, str] = {}
        self.group_ready = False

    # --- The loop ----------------------------------------------------------------------

    def run(self) -> None:
        """Run until `stop` is set (SIGTERM); the targets are closed in any case."""
        for state in self.states:
            state.target.start()
            logger.info("Target %s, rule: %s", state.target.describe(),
                        state.target.rule.describe() or "(everything)")
        pause = 0.0
        try:
            while not self.stop.wait(pause):
                pause = self.step()
        finally:
            for state in self.states:
                try:
                    state.target.close()
                except Exception:  # closing is best effort; the broker's last will covers MQTT
                    logger.debug("Closing %s failed", state.target.name, exc_info=True)
            try:
                self.client.hset(NOTIFY_STATUS_KEY, mapping={"stopped_at": f"{self.clock():.3f}"})
            except redis.RedisError:
                pass

    def step(self) -> float:
        """Do one round of work; return how long to pause before the next (0 normally)."""
        try:
            if self.group_ready is False:
                self.group.ensure()
                self.group_ready = True
            now = self.clock()
            self._retry_due(now)
            if now >= self.next_camera_check:
                self.check_cameras(now)
                self.write_status(now)
                self.next_camera_check = now + self.heartbeat_check
            self.flush_digests(now)
            for state in self.states:
                state.target.tick(now)
            batch = self.group.read(block=self._block_for(now))
            if batch.trimmed:
                self.trimmed += batch.trimmed
                logger.warning("%d stream entries were trimmed before the notifier got to them; their "
                               "pictures were not notified", batch.trimmed)
            for delivery in batch.deliveries:
                if self.stop.is_set():
                    break  # the rest stay pending and are read first after the restart
                self.handle(delivery)
        except redis.RedisError as exc:
            self.group.rewind()  # entries of the interrupted batch are read again first
            self.redis_failures += 1
            pause = self.backoff.compute(self.redis_failures)
            if self.redis_failures == 1:
                logger.warning("Redis failed (%s: %s); retrying with backoff, the stream position is kept",
                               type(exc).__name__, exc)
            return pause
        if self.redis_failures:
            logger.info("Redis is back after %d failed attempts", self.redis_failures)
            self.redis_failures = 0
        return 0.0

    def _block_for(self, now: float) -> float:
        wake = [now + self.block, self.next_camera_check]
        wake += [s.retry_at for s in self.states if s.blocked]
        wake += [t for s in self.states for t in getattr(s.target, "motion_off_at", {}).values()]
        return min(self.block, max(0.01, min(wake) - now))

    def _retry_due(self, now: float) -> None:
        due = [s for s in self.states if s.blocked and now >= s.retry_at]
        if due:
            for state in due:
                state.blocked = False
            self.group.rewind()  # pending entries first, in order

    # --- One stream entry --------------------------------------------------------------

    def handle(self, delivery: Delivery) -> bool:
        """Notify every target about one entry; ack it when all are done. Returns whether acked."""
        sid = delivery.stream_id
        try:
            event = read_stream_entry(delivery.fields)
        except ValueError as exc:
            self.malformed += 1
            logger.warning("Skipping malformed stream entry %s: %s", sid, exc)
            self.group.ack(sid)
            return True
        if event.camera is not None and event.camera not in self.cameras:
            self.next_camera_check = 0.0  # a new camera: look at its heartbeat right away
        done_key = notify_done_key(sid)
        done = {m.decode() if isinstance(m, bytes) else m for m in self.client.smembers(done_key)}
        picture = Picture(sid, event, self._loader(event.image_id), self.links)
        waiting = False
        for state in self.states:
            if state.target.name in done:
                continue
            if state.blocked or not self._deliver(state, picture, done_key):
                waiting = True
        if waiting:
            return False
        self.group.ack(sid)
        self.client.delete(done_key)
        return True

    def _loader(self, image_id: str) -> Callable[[str], bytes | None]:
        def load(field: str) -> bytes | None:
            value = self.client.hget(image_key(image_id), field)
            if not isinstance(value, bytes) or not value:
                return None
            return as_jpeg(value) if field == F_THUMBNAIL else value
        return load

    def _deliver(self, state: TargetState, picture: Picture, done_key: str) -> bool:
        target, event = state.target, picture.event
        name = target.name
        camera = event.camera or "-"
        last_fired = None
        if target.rule.cooldown:
            last_fired = _float(self.client.hget(notify_cooldown_key(name), camera))
        decision = target.rule.decide(event, last_fired)
        pipe = self.client.pipeline(transaction=True)
        pipe.sadd(done_key, name)
        pipe.expire(done_key, DONE_TTL)
        status = notify_target_key(name)
        if decision == DIGEST:
            self._add_to_digest(pipe, name, event)
            pipe.hincrby(status, "digested", 1)
        elif decision == SEND:
            try:
                target.send_picture(picture)
            except RetryLater as exc:
                self._failed(state, str(exc))
                return False
            except Rejected as exc:
                logger.error("%s: %s; this message is skipped", name, exc)
                pipe.hset(status, mapping={"last_error": str(exc), "last_error_at": f"{self.clock():.3f}"})
                pipe.hincrby(status, "rejected", 1)
            except redis.RedisError:
                raise  # Redis itself failed (loading the thumbnail): the loop backs off
            except Exception as exc:  # a failure nobody foresaw: retried like an outage, never a crash
                if state.failures == 0:
                    logger.exception("%s failed unexpectedly", target.describe())
                self._failed(state, f"{target.name}: {type(exc).__name__}: {exc}")
                return False
            else:
                self._recovered(state)
                pipe.hset(notify_cooldown_key(name), camera, f"{event.timestamp:.3f}")
                pipe.hset(status, mapping={"last_fired": f"{self.clock():.3f}", "last_event": event.image_id,
                                           "state": "ok"})
                pipe.hincrby(status, "sent", 1)
                self.sent += 1
        else:
            pipe.hincrby(status, f"skipped_{decision}", 1)
        pipe.execute()
        return True

    def _failed(self, state: TargetState, message: str) -> None:
        state.failures += 1
        delay = self.backoff.compute(state.failures)
        state.blocked = True
        state.retry_at = self.clock() + delay
        if state.failures == 1:
            logger.warning("%s; keeping its place in the stream and retrying with backoff", message)
        else:
            logger.debug("%s (attempt %d, next in %.1f s)", message, state.failures, delay)
        try:
            self.client.hset(notify_target_key(state.target.name), mapping={
                "last_error": message, "last_error_at": f"{self.clock():.3f}", "state": "retrying",
                "failures": str(state.failures), "retry_at": f"{state.retry_at:.3f}"})
        except redis.RedisError:
            pass

    def _recovered(self, state: TargetState) -> None:
        if state.failures:
            logger.info("%s works again after %d failed attempts", state.target.describe(), state.failures)
            state.failures = 0

    # --- Digests ----------------------------------------------------------------------------

    def _add_to_digest(self, pipe, name: str, event: CheckedStreamEntry) -> None:
        key, camera = notify_digest_key(name), event.camera or "-"
        bucket = _json(self.client.hget(key, camera)) or {
            "opened": self.clock(), "count": 0, "first": event.timestamp, "triggers": {}}
        bucket["count"] = int(bucket.get("count", 0)) + 1
        bucket["last"] = event.timestamp
        bucket["last_id"] = event.image_id
        trigger = event.trigger or "new"
        triggers: dict = bucket["triggers"] if isinstance(bucket.get("triggers"), dict) else {}
        triggers[trigger] = int(triggers.get(trigger, 0)) + 1
        bucket["triggers"] = triggers
        pipe.hset(key, camera, json.dumps(bucket))

    def flush_digests(self, now: float) -> None:
        """Send the digests whose window has ended."""
        for state in self.states:
            window = state.target.rule.digest
            if not window or state.blocked:
                continue
            key = notify_digest_key(state.target.name)
            for camera_b, raw in self.client.hgetall(key).items():
                camera = camera_b.decode() if isinstance(camera_b, bytes) else camera_b
                bucket = _json(raw)
                try:
                    opened = float(bucket["opened"])
                    digest = Digest(camera=camera, count=int(bucket["count"]), first=float(bucket["first"]),
                                    last=float(bucket["last"]), last_id=str(bucket["last_id"]),
                                    triggers={str(k): int(v) for k, v in bucket["triggers"].items()},
                                    window=window, links=self.links,
                                    load=self._loader(str(bucket["last_id"])))
                except (KeyError, TypeError, ValueError, AttributeError):
                    logger.warning("Dropping an unreadable digest of %s in %s", camera, key)
                    self.client.hdel(key, camera)
                    continue
                if now < opened + window:
                    continue
                try:
                    state.target.send_digest(digest)
                except RetryLater as exc:
                    self._failed(state, str(exc))
                    break
                except Rejected as exc:
                    logger.error("%s: %s; this digest is skipped", state.target.name, exc)
                    outcome = {"last_error": str(exc), "last_error_at": f"{now:.3f}"}
                else:
                    outcome = {"last_fired": f"{now:.3f}", "last_event": digest.last_id, "state": "ok"}
                    self._recovered(state)
                pipe = self.client.pipeline(transaction=True)
                pipe.hdel(key, camera)
                pipe.hset(notify_target_key(state.target.name), mapping=outcome)
                counter = "sent" if "state" in outcome else "rejected"
                pipe.hincrby(notify_target_key(state.target.name), counter, 1)
                pipe.execute()

    # --- Cameras ------------------------------------------------------------------------------

    def check_cameras(self, now: float) -> None:
        """Compare heartbeats with what was announced; tell the targets about changes."""
        names = camera_names(self.client)
        alive = camera_statuses(self.client)
        known = {_text(k): _text(v) for k, v in self.client.hgetall(NOTIFY_CAMERAS_KEY).items()}
        for camera in names:
            if not CAMERA_NAME_RE.match(camera):
                continue  # another writer's junk in `cameras`: never a topic or a message
            status = alive.get(camera)
            online = status is not None
            capture = status is not None and "mqtt" in status.triggers.split(",")
            before = known.get(camera)
            now_state = "online" if online else "offline"
            first = camera not in self.cameras
            for state in self.states:
                state.target.see_camera(camera, capture if online else None)
            if before == now_state and not first:
                continue
            changed = before is not None and before != now_state
            last_seen = self._last_seen(camera)
            for state in self.states:
                if changed and (not state.target.rule.matches_camera(camera)
                                or state.target.rule.is_quiet(now)) and state.target.name != "mqtt":
                    continue
                if state.blocked and state.target.name != "mqtt":
                    continue
                try:
                    state.target.camera_state(camera, online, changed, last_seen)
                except (RetryLater, Rejected) as exc:
                    logger.warning("Could not tell %s that %s is %s: %s", state.target.name, camera,
                                   now_state, exc)
            if changed:
                logger.info("Camera %s is %s", camera, now_state)
            self.cameras[camera] = now_state
            self.client.hset(NOTIFY_CAMERAS_KEY, camera, now_state)

    def _last_seen(self, camera: str) -> float | None:
        score = self.client.zscore(CAMERAS_KEY, camera)
        return None if score is None else float(score)

    def write_status(self, now: float) -> None:
        """Write the notifier's own status hash (for the gallery and /healthz)."""
        mapping = {"consumer": self.group.consumer, "started_at": f"{self.started_at:.3f}",
                   "updated_at": f"{now:.3f}", "targets": ",".join(s.target.name for s in self.states),
                   "pending": str(self.group.pending_count()), "malformed": str(self.malformed),
                   "trimmed": str(self.trimmed)}
        lag = self.group.lag()
        if lag is not None:
            mapping["lag"] = str(lag)
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(NOTIFY_STATUS_KEY, mapping=mapping)
        for state in self.states:
            pipe.hset(notify_target_key(state.target.name),
                      mapping={"kind": state.target.name, "rule": state.target.rule.describe(),
                               "describe": state.target.describe()})
        pipe.execute()


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _float(value: object) -> float | None:
    try:
        return None if value is None else float(_text(value))
    except ValueError:
        return None


def _json(value: object) -> dict:
    if value is None:
        return {}
    try:
        data = json.loads(_text(value))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
