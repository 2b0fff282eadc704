"""What makes the daemon take a picture besides the interval: a GPIO sensor, and motion.

Each trigger calls `fire(name)` with its name ("sensor", "motion"); the daemon queues
the request and records the name in the stored picture's `trigger` field.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

Fire = Callable[[str], None]


class SensorTrigger:
    """A rising edge on a GPIO pin takes a picture, as the reference's sound sensor did.

    The pin has its pull-up on, as in the reference. Debounce works like RPi.GPIO's
    `bouncetime` that the reference used: after an accepted edge, further edges are
    ignored for `debounce_ms`. (gpiozero's own bounce_time is not used for this: on the
    lgpio pin factory it means "the level must hold that long", which would swallow the
    short pulses of a sound sensor when the debounce is long.)
    """

    def __init__(self, pin: int, debounce_ms: int, fire: Fire, pin_factory: Any = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pin = pin
        self.debounce = debounce_ms / 1000.0
        self.fire = fire
        self.pin_factory = pin_factory
        self.clock = clock
        self.accepted = 0
        self.ignored = 0
        self._last: float | None = None
        self._lock = threading.Lock()
        self._device: Any = None

    def start(self) -> None:
        """Claim the pin and start listening for rising edges."""
        from gpiozero import DigitalInputDevice
        self._device = DigitalInputDevice(self.pin, pull_up=True, pin_factory=self.pin_factory)
        # With the pull-up on, "active" is low, so a rising edge is a deactivation.
        self._device.when_deactivated = self._on_rising_edge

    def _on_rising_edge(self, *_: Any) -> None:
        now = self.clock()
        with self._lock:
            if self._last is not None and now - self._last < self.debounce:
                self.ignored += 1
                return
            self._last = now
            self.accepted += 1
        logger.debug("Sensor on GPIO%d fired", self.pin)
        self.fire("sensor")

    def close(self) -> None:
        """Release the pin."""
        if self._device is not None:
            self._device.close()
            self._device = None


class MotionDetector:
    """Tells when consecutive small greyscale frames differ by more than a threshold.

    The measure is the mean absolute difference of the two frames, in grey levels (0-255).
    (Picamera2's capture_motion.py example uses the mean squared difference instead; the
    absolute one keeps MOTION_THRESHOLD in grey levels.) The frames should already be
    averaged down (the picamera2 backend average-pools the lores luma), so random sensor
    noise cancels out. After a detection, further ones are ignored for `min_gap` seconds.
    """

    def __init__(self, threshold: float, min_gap: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.min_gap = min_gap
        self.clock = clock
        self.last_level = 0.0
        self._previous: np.ndarray | None = None
        self._last_fired: float | None = None

    def update(self, frame: np.ndarray) -> bool:
        """Feed the next frame; return True when it shows motion and the gap has passed."""
        previous, self._previous = self._previous, frame
        if previous is None or previous.shape != frame.shape:
            return False
        self.last_level = float(np.abs(frame.astype(np.int16) - previous.astype(np.int16)).mean())
        if self.last_level <= self.threshold:
            return False
        now = self.clock()
        if self._last_fired is not None and now - self._last_fired < self.min_gap:
            return False
        self._last_fired = now
        return True


class MotionTrigger(threading.Thread):
    """Reads low-resolution frames at `fps` and fires "motion" when the detector says so."""

    def __init__(self, read_frame: Callable[[], np.ndarray | None], fire: Fire,
                 detector: MotionDetector, fps: float, stop: threading.Event) -> None:
        super().__init__(name="motion-trigger", daemon=True)
        self.read_frame = read_frame
        self.fire = fire
        self.detector = detector
        self.period = 1.0 / fps
        self.stop = stop
        self.frames = 0
        self.detections = 0

    def run(self) -> None:
        """Compare frames until stopped; a camera error only skips a frame."""
        while not self.stop.wait(self.period):
            try:
                frame = self.read_frame()
            except Exception as exc:  # the capture path reports camera trouble; don't die here
                logger.debug("Motion frame failed: %s", exc)
                continue
            if frame is None:
                continue  # a capture has the camera
            self.frames += 1
            if self.detector.update(frame):
                self.detections += 1
                logger.info("Motion detected (level %.1f > %.1f)", self.detector.last_level,
                            self.detector.threshold)
                self.fire("motion")


# --- Near-duplicates (issue 9) ----------------------------------------------------------

#: Frames are compared as means of BLOCK x BLOCK pixel blocks, so sensor noise at night
#: (independent per pixel) averages out while a change of the scene does not.
NEAR_DUPLICATE_BLOCK = 4


def frame_difference(a: np.ndarray, b: np.ndarray, block: int = NEAR_DUPLICATE_BLOCK) -> float:
    """Return the mean absolute difference (0-255) of two greyscale frames' block means."""
    h, w = (min(a.shape[0], b.shape[0]) // block) * block, (min(a.shape[1], b.shape[1]) // block) * block
    if h == 0 or w == 0:
        return 255.0

    def blocks(frame: np.ndarray) -> np.ndarray:
        f = frame[:h, :w].astype(np.float32)
        return f.reshape(h // block, block, w // block, block).mean(axis=(1, 3))
    return float(np.abs(blocks(a) - blocks(b)).mean())


class NearDuplicateFilter:
    """Tells when an interval picture is nearly the same as the camera's last stored full one.

    It compares the low-resolution greyscale frame (the one motion detection reads) with
    the frame of the last picture stored with its full size; a picture under `threshold`
    is stored as history only, pointing at that picture. Slow changes add up against the
    same reference frame, so a scene that drifts gets a full picture again.
    """

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.last_level: float | None = None
        self._frame: np.ndarray | None = None
        self._since: float | None = None
        self._id: str | None = None
        self.skipped = 0
        self.saved_bytes = 0

    def matches(self, frame: np.ndarray | None) -> tuple[float, str] | None:
        """Return (capture time, id) of the stored picture `frame` nearly equals, else None."""
        self.last_level = None
        if frame is None or self._frame is None or self._frame.shape != frame.shape:
            return None
        self.last_level = frame_difference(frame, self._frame)
        if self.last_level >= self.threshold:
            return None
        assert self._since is not None and self._id is not None
        return self._since, self._id

    def stored_full(self, frame: np.ndarray | None, timestamp: float, image_id: str) -> None:
        """Remember the frame of a picture just stored with its full size."""
        if frame is not None:
            self._frame, self._since, self._id = frame, timestamp, image_id
