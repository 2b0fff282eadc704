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
from typing import Any

import redis

from pi.cameras.base import Camera, CameraError, SharedCamera
from pi.contract import CameraStatus, image_id, preview_channel
from pi.metadata import record_from_capture
from pi.preview import PreviewPublisher
from pi.settings import Settings
from pi.spool import Spool
from pi.store import ImageStore, SpoolReplayer, StoreResult
from pi.triggers import MotionDetector, MotionTrigger, SensorTrigger

logger = logging.getLogger(__name__)

_STOP = "__stop__"
#: Most seconds between two heartbeats, whatever the interval.
HEARTBEAT_EVERY = 10.0


class DaemonStartError(RuntimeError):
    """Something the daemon needs at start is unusable; the message says what and the fix."""


class CaptureDaemon:
    """Takes pictures on its triggers and stores them; see the module docstring."""

    def __init__(self, settings: Settings, camera: Camera, client: redis.Redis, *,
                 where: str, spool: Spool | None = None, pin_factory: Any = None,
                 replay_backoff: Any = None) -> None:
        self.settings = settings
        self.camera = camera
        self.shared = SharedCamera(camera)
        self.client = client
        self.where = where
        self.spool = spool or Spool(settings.spool_dir, int(settings.spool_max_mb * 1_000_000))
        self.store = ImageStore(client, self.spool, settings.expiry, where)
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
        every = f" every {s.interval:g} s" if s.interval else ""
        logger.info("Camera %s (%s): triggers %s%s, expiry %g s, Redis %s, spool %s (%d waiting, "
                    "max %g MB), previews %s", s.camera_name, self.camera.describe(),
                    ",".join(s.triggers), every, s.expiry, self.where, self.spool.directory,
                    len(self.spool), s.spool_max_mb,
                    f"{s.preview_fps:g} fps while watched" if s.preview_fps > 0 else "off")

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
        logger.info("Stopped: %d pictures stored, %d spooled (%d waiting in %s)",
                    self.store.stored + self.store.replayed, self.store.spooled, len(self.spool),
                    self.spool.directory)

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
            wait = min(next_interval, next_heartbeat, next_summary) - time.monotonic()
            try:
                trigger: str | None = self._requests.get(timeout=max(0.0, wait))
            except queue.Empty:
                trigger = None
            if trigger == _STOP or self.stop_event.is_set():
                break
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
        timestamp = time.time()
        try:
            capture = self.shared.capture()
        except CameraError as exc:
            self.failures += 1
            logger.error("No picture (%s trigger): %s", trigger, exc)
            return None
        new_id = image_id(s.camera_name, timestamp)
        record = record_from_capture(capture, s.camera_name, trigger, timestamp)
        result = self.store.store(new_id, record)
        self.recent_ids.append(new_id)
        self._window.append((result.stored, len(capture.jpeg), result.millis))
        lux = "?" if record.lux is None else f"{record.lux:.1f}"
        if result.stored:
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

    def log_summary(self) -> None:
        """Log what happened since the last summary."""
        window, self._window = self._window, []
        stored = [ms for ok, _, ms in window if ok]
        median = f"{statistics.median(stored):.0f} ms" if stored else "-"
        previews = f", {self.preview.published} preview frames published" if self.preview else ""
        logger.info("Summary: %d pictures in the last %g s (%d stored, %d spooled, %.1f MB, median "
                    "store %s), %d camera failures; spool holds %d (%.1f MB), %d replayed, %d "
                    "expired, %d dropped, %d lost in all%s", len(window),
                    self.settings.summary_interval, len(stored), len(window) - len(stored),
                    sum(n for _, n, _ in window) / 1e6, median, self.failures, len(self.spool),
                    self.spool.size_bytes / 1e6, self.store.replayed, self.store.expired,
                    self.spool.dropped, self.store.lost, previews)

    # --- One picture -----------------------------------------------------------------------

    def run_once(self) -> bool:
        """Take one picture and store it (replaying any spool first); return whether stored."""
        if self.store.connect() and len(self.spool):
            self.store.replay()
        result = self.capture_and_store("manual")
        return result is not None and result.stored
