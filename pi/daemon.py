"""The capture loop: triggers in, pictures out to Redis (or the spool), heartbeats, summaries.

One thread takes and stores pictures, in the order their triggers fired. The interval
trigger is the loop's own clock; the sensor (a gpiozero callback) and motion (a thread)
triggers queue requests. Background threads replay the spool and publish live previews;
they share the camera through SharedCamera, which always lets a capture go first.
`request_stop()` (called by SIGTERM/SIGINT) ends the loop after the store in flight.
"""

from __future__ import annotations

import logging
import queue
import socket
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import redis

from pi.cameras.base import Camera, CameraError, SharedCamera
from pi.clock import clock_synchronized
from pi.contract import CameraStatus, image_id, preview_channel
from pi.metadata import record_from_capture
from pi.preview import PreviewPublisher
from pi.settings import Settings
from pi.spool import Spool
from pi.store import ImageStore, SpoolReplayer, StoreResult
from pi.thumbnails import history_thumbnail
from pi.triggers import MotionDetector, MotionTrigger, NearDuplicateFilter, SensorTrigger

logger = logging.getLogger(__name__)

_STOP = "__stop__"
_WAKE = "__wake__"  # the camera went down in a background read: the loop plans the reopen
#: Most seconds between two heartbeats, whatever the interval.
HEARTBEAT_EVERY = 10.0


class DaemonStartError(RuntimeError):
    """Something the daemon needs at start is unusable; the message says what and the fix."""


class CameraGaveUp(CameraError):
    """The camera failed CAMERA_MAX_FAILURES times in a row; the process exits so systemd restarts it."""


def camera_backoff(failures: int) -> float:
    """Return the seconds to wait before reopening a camera that failed `failures` times in a row."""
    return float(min(30, 2 ** failures))


class CaptureDaemon:
    """Takes pictures on its triggers and stores them; see the module docstring."""

    def __init__(self, settings: Settings, camera: Camera, client: redis.Redis, *,
                 where: str, spool: Spool | None = None, pin_factory: Any = None,
                 replay_backoff: Any = None,
                 camera_backoff: Callable[[int], float] = camera_backoff,
                 clock_synced: Callable[[], bool | None] = clock_synchronized) -> None:
        self.settings = settings
        self.camera = camera
        self.shared = SharedCamera(camera)
        self.client = client
        self.where = where
        self.spool = spool or Spool(settings.spool_dir, int(settings.spool_max_mb * 1_000_000))
        self.store = ImageStore(client, self.spool, settings.expiry, where,
                                history_ttl=settings.history_expiry, camera=settings.camera_name)
        self.near_duplicates = (NearDuplicateFilter(settings.near_duplicate_threshold)
                                if settings.tiered and settings.near_duplicates else None)
        self.pin_factory = pin_factory
        self.replay_backoff = replay_backoff
        self.stop_event = threading.Event()
        self.fatal: BaseException | None = None
        self.recent_ids: deque[str] = deque(maxlen=1000)
        self.failures = 0
        self.status = CameraStatus(camera=settings.camera_name, host=socket.gethostname(),
                                   started_at=time.time(), triggers=",".join(settings.triggers))
        self.sensor: SensorTrigger | None = None
        self.motion: MotionTrigger | None = None
        self.preview: PreviewPublisher | None = None
        self.replayer: SpoolReplayer | None = None
        self.mqtt_commands: Any = None  # pi.mqtt_trigger.MqttCaptureCommands, when enabled
        self._requests: queue.Queue[str] = queue.Queue(maxsize=16)
        self._window: list[tuple[bool, int, float]] = []
        self._behind_warned = False
        # The camera's health and the clock (issue 13).
        self.camera_backoff = camera_backoff
        self.clock_synced = clock_synced
        self.camera_failures_in_a_row = 0
        self.wanted_while_down = 0
        self.unsynced_pictures = 0
        self._next_reopen = 0.0
        self._window_wanted = 0
        self._clock_was: bool | None = None
        self.shared.on_background_failure = self._camera_failed

    # --- Control ---------------------------------------------------------------------

    def request_capture(self, trigger: str) -> None:
        """Ask for a picture (from any thread); dropped if many are already waiting."""
        try:
            self._requests.put_nowait(trigger)
        except queue.Full:
            logger.debug("Capture requests are piling up; dropped a %s trigger", trigger)

    def request_stop(self) -> None:
        """Make the loop end after the picture in progress (safe from a signal handler)."""
        self.stop_event.set()
        self.store.wake.set()
        self.camera.interrupt()  # an autofocus cycle or capture in progress ends now
        try:
            self._requests.put_nowait(_STOP)
        except queue.Full:
            pass  # the loop checks stop_event after every request anyway

    def _on_fatal(self, exc: BaseException) -> None:
        self.fatal = exc
        self.request_stop()

    # --- Start and stop ----------------------------------------------------------------

    def start(self) -> None:
        """Connect (or plan to spool), then start the background threads and triggers."""
        s = self.settings
        self.store.connect()
        self.replayer = SpoolReplayer(self.store, self.stop_event, self._on_fatal,
                                      backoff=self.replay_backoff)
        self.replayer.start()
        if "sensor" in s.triggers:
            assert s.sensor_pin is not None
            self.sensor = SensorTrigger(s.sensor_pin, s.sensor_debounce_ms, self.request_capture,
                                        pin_factory=self.pin_factory)
            try:
                self.sensor.start()
            except Exception as exc:  # gpiozero raises several kinds when there is no GPIO
                self.sensor = None
                raise DaemonStartError(
                    f"SOUND_SENSOR_PIN={s.sensor_pin} is set but its GPIO pin can't be used "
                    f"({type(exc).__name__}: {exc}). Fix: on a Pi check the pin number (BCM) and "
                    "that no other program uses it; elsewhere unset SOUND_SENSOR_PIN."
                ) from None
        if "motion" in s.triggers:
            detector = MotionDetector(s.motion_threshold, s.motion_min_gap)
            self.motion = MotionTrigger(self.shared.try_motion_frame, self.request_capture,
                                        detector, s.motion_fps, self.stop_event)
            self.motion.start()
        if s.mqtt_capture_commands and s.mqtt_url:
            from pi.mqtt_trigger import MqttCaptureCommands
            self.mqtt_commands = MqttCaptureCommands(s.mqtt_url, s.mqtt_topic_prefix, s.camera_name,
                                                     self.request_capture)
            self.mqtt_commands.start()
            self.status.triggers += ",mqtt"  # the notifier then offers Home Assistant a button
        if s.preview_fps > 0:
            self.preview = PreviewPublisher(self.client, preview_channel(s.camera_name),
                                            self.shared.try_preview, s.preview_fps,
                                            s.preview_max_bytes, self.stop_event)
            self.preview.start()
        self._log_retention()
        every = f" every {s.interval:g} s" if s.interval else ""
        logger.info("Camera %s (%s): triggers %s%s, expiry %.0f s, Redis %s, spool %s (%d waiting, "
                    "max %g MB), previews %s", s.camera_name, self.camera.describe(),
                    ",".join(s.triggers), every, s.expiry, self.where, self.spool.directory,
                    len(self.spool), s.spool_max_mb,
                    f"{s.preview_fps:g} fps while watched" if s.preview_fps > 0 else "off")

    def _log_retention(self) -> None:
        """Say at start how pictures will be kept (issue 9)."""
        s = self.settings
        if s.tiered:
            logger.info("Two tiers: full size for IMAGE_EXPIRY=%.0f s, thumbnail (%s) and metadata for "
                        "HISTORY_EXPIRY=%.0f s; near-duplicates %s", s.expiry, s.thumbnail_format,
                        s.history_expiry, f"stored as history only under {s.near_duplicate_threshold:g}"
                        if self.near_duplicates else "kept whole")
        elif s.history_expiry is not None:
            logger.info("HISTORY_EXPIRY=%.0f s is not longer than IMAGE_EXPIRY=%.0f s: each picture has one "
                        "expiry, as without tiers", s.history_expiry, s.expiry)

    def shutdown(self) -> None:
        """Stop the triggers and background threads (within about a second)."""
        self.stop_event.set()
        self.store.wake.set()
        if self.sensor is not None:
            self.sensor.close()
        if self.mqtt_commands is not None:
            self.mqtt_commands.close()
        deadline = time.monotonic() + 1.0
        for thread in (self.motion, self.preview, self.replayer):
            if thread is not None and thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        self.store.sign_off(self.settings.camera_name)
        logger.info("Stopped: %d pictures stored, %d spooled (%d waiting in %s)%s",
                    self.store.stored + self.store.replayed, self.store.spooled, len(self.spool),
                    self.spool.directory, self._camera_down_note(self.wanted_while_down))

    # --- The loop ----------------------------------------------------------------------

    def run(self) -> None:
        """Run until request_stop(); re-raise a fatal error (no search module, bad password)."""
        try:
            self.start()
            self._loop()
        finally:
            self.shutdown()
        if self.fatal is not None:
            raise self.fatal

    def _loop(self) -> None:
        s = self.settings
        now = time.monotonic()
        next_interval = now if s.interval else float("inf")
        heartbeat_every = min(HEARTBEAT_EVERY, s.heartbeat_ttl / 3)
        next_heartbeat = now
        next_summary = now + s.summary_interval
        while not self.stop_event.is_set():
            reopen_at = self._next_reopen if self.shared.down else float("inf")
            wait = min(next_interval, next_heartbeat, next_summary, reopen_at) - time.monotonic()
            try:
                trigger: str | None = self._requests.get(timeout=max(0.0, wait))
            except queue.Empty:
                trigger = None
            if trigger == _STOP or self.stop_event.is_set():
                break
            if trigger == _WAKE:
                trigger = None
            if self.shared.down and time.monotonic() >= self._next_reopen:
                self._try_reopen()
            now = time.monotonic()
            if trigger is None and s.interval and now >= next_interval:
                trigger = "interval"
                next_interval += s.interval
                if next_interval <= now:
                    next_interval = now + s.interval
                    if not self._behind_warned:
                        logger.warning("Taking and storing a picture took longer than "
                                       "IMAGE_CAPTURE_FREQUENCY=%g s; skipping the missed ones",
                                       s.interval)
                        self._behind_warned = True
            if trigger is not None:
                self.capture_and_store(trigger)
                next_heartbeat = time.monotonic() + heartbeat_every
            if time.monotonic() >= next_heartbeat:
                self.store.heartbeat(self.status, s.heartbeat_ttl)
                next_heartbeat = time.monotonic() + heartbeat_every
            if now >= next_summary:
                self.log_summary()
                next_summary = now + s.summary_interval

    def capture_and_store(self, trigger: str) -> StoreResult | None:
        """Take one picture, store (or spool) it, log one line; None if the camera failed."""
        s = self.settings
        if self.shared.down:
            self.wanted_while_down += 1
            self._window_wanted += 1
            logger.debug("No picture (%s trigger): the camera is down (%s)", trigger,
                         self.shared.down_reason)
            return None
        timestamp = time.time()
        try:
            capture = self.shared.capture()
        except CameraError as exc:
            if self.stop_event.is_set():
                logger.info("No picture (%s trigger): stopping", trigger)
                return None
            self.failures += 1
            logger.error("No picture (%s trigger): %s", trigger, exc)
            self._camera_failed(exc)
            return None
        self.camera_failures_in_a_row = 0
        new_id = image_id(s.camera_name, timestamp)
        record = record_from_capture(capture, s.camera_name, trigger, timestamp,
                                     clock_synchronized=self._clock_state())
        frame = self._retention(record, trigger)
        result = self.store.store(new_id, record)
        if self.near_duplicates is not None and record.image_data is not None and (
                result.stored or result.spooled):
            self.near_duplicates.stored_full(frame, timestamp, new_id)
        self.recent_ids.append(new_id)
        self._window.append((result.stored, len(capture.jpeg), result.millis))
        lux = "?" if record.lux is None else f"{record.lux:.1f}"
        if result.stored and record.image_data is None and record.same_as:
            logger.info("Stored %s as thumbnail and metadata only (lux %s): unchanged since %s, "
                        "in %.0f ms", result.key, lux, record.same_as, result.millis)
        elif result.stored:
            logger.info("Stored %s (%d bytes, lux %s, trigger %s) in %.0f ms", result.key,
                        len(capture.jpeg), lux, trigger, result.millis)
        elif result.spooled:
            logger.info("Spooled %s (%d bytes, lux %s, trigger %s): Redis %s, %d waiting",
                        result.key, len(capture.jpeg), lux, trigger,
                        self.store.offline_reason or "unavailable", len(self.spool))
        self.status.last_capture = timestamp
        self.status.last_id = new_id
        self.store.heartbeat(self.status, s.heartbeat_ttl)
        return result

    def _retention(self, record: Any, trigger: str) -> Any:
        """Re-encode the thumbnail for the history tier; drop a near-duplicate's full size.

        Returns the low-resolution frame of this picture (None when near-duplicates are off).
        """
        s = self.settings
        if record.thumbnail:
            try:
                record.thumbnail, record.thumbnail_mime = history_thumbnail(record.thumbnail,
                                                                            s.thumbnail_format)
            except OSError as exc:  # an undecodable thumbnail is stored as the camera gave it
                logger.debug("Thumbnail kept as it was: %s", exc)
        nd = self.near_duplicates
        if nd is None or not self.store.tiered:
            return None
        frame = self.shared.try_motion_frame(timeout=1.0)
        match = nd.matches(frame) if trigger == "interval" else None
        if match is not None:
            nd.skipped += 1
            nd.saved_bytes += len(record.image_data or b"")
            record.image_data = None
            record.size_bytes = None
            record.full_until = record.timestamp
            record.unchanged_since, record.same_as = match
            logger.debug("Unchanged since %s (difference %.2f < %g): stored without its full size",
                         match[1], nd.last_level or 0.0, nd.threshold)
        return frame

    def log_summary(self) -> None:
        """Log what happened since the last summary."""
        window, self._window = self._window, []
        stored = [ms for ok, _, ms in window if ok]
        median = f"{statistics.median(stored):.0f} ms" if stored else "-"
        previews = f", {self.preview.published} preview frames published" if self.preview else ""
        previews += self._camera_down_note(self._window_wanted)
        self._window_wanted = 0
        logger.info("Summary: %d pictures in the last %g s (%d stored, %d spooled, %.1f MB, median "
                    "store %s), %d camera failures; spool holds %d (%.1f MB), %d replayed, %d "
                    "expired, %d dropped, %d lost in all%s", len(window),
                    self.settings.summary_interval, len(stored), len(window) - len(stored),
                    sum(n for _, n, _ in window) / 1e6, median, self.failures, len(self.spool),
                    self.spool.size_bytes / 1e6, self.store.replayed, self.store.expired,
                    self.spool.dropped, self.store.lost, previews)
        nd = self.near_duplicates
        if self.store.tiered or self.store.trimmed:
            logger.info("Retention: %s; %d full sizes dropped for the budget; %s",
                        "two tiers" if self.store.tiered else "one tier", self.store.trimmed,
                        f"{nd.skipped} near-duplicates stored as history only "
                        f"({nd.saved_bytes / 1e6:.1f} MB saved)" if nd else "near-duplicates off")

    # --- The camera's health and the clock --------------------------------------------------

    def _camera_failed(self, exc: BaseException) -> None:
        """Count a failed capture or reopen; back off, or give up after CAMERA_MAX_FAILURES."""
        self.camera_failures_in_a_row += 1
        failures, most = self.camera_failures_in_a_row, self.settings.camera_max_failures
        self.shared.mark_down(str(exc))
        if failures >= most:
            self._on_fatal(CameraGaveUp(
                f"The camera failed {failures} times in a row (last: {exc}); exiting so that "
                "systemd restarts the daemon. If it keeps failing after restarts, reboot the Pi "
                "(a camera stuck in the kernel is freed only by a reboot), then check the ribbon "
                "cable and the power supply."))
            return
        delay = self.camera_backoff(failures)
        self._next_reopen = time.monotonic() + delay
        try:
            self._requests.put_nowait(_WAKE)
        except queue.Full:
            pass  # the loop is busy with requests and will see the camera down anyway
        logger.warning("Camera failure %d of %d in a row (CAMERA_MAX_FAILURES); reopening it in "
                       "%.0f s, no pictures until then", failures, most, delay)

    def _try_reopen(self) -> bool:
        """Close and open the camera (from the capture loop only); return whether it opened."""
        try:
            self.shared.reopen()
        except CameraError as exc:
            logger.error("The camera could not be reopened: %s", exc)
            self._camera_failed(exc)
            return False
        logger.info("The camera is open again")
        return True

    def _camera_down_note(self, wanted: int) -> str:
        return f", {wanted} pictures wanted while the camera was down" if wanted else ""

    def _clock_state(self) -> bool | None:
        """Return whether the clock is synchronized, logging when that changes."""
        synced = self.clock_synced()
        if synced is False:
            self.unsynced_pictures += 1
            if self._clock_was is not False:
                logger.warning("The system clock is not synchronized yet (no network time since "
                               "boot?): pictures keep the Pi's own time and are marked 'clock: not "
                               "synchronized' until it is")
        elif synced and self._clock_was is False:
            logger.info("The system clock is synchronized now")
        self._clock_was = synced
        return synced

    # --- One picture -----------------------------------------------------------------------

    def run_once(self) -> bool:
        """Take one picture and store it (replaying any spool first); return whether stored."""
        if self.store.connect() and len(self.spool):
            self.store.replay()
        result = self.capture_and_store("manual")
        return result is not None and result.stored
