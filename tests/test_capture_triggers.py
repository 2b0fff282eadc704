"""Motion detection and the trigger plumbing of the daemon."""

from __future__ import annotations

import threading

import numpy as np

from pi.cameras.base import Camera, Capture, SharedCamera
from pi.cameras.simulated import SimulatedCamera
from pi.triggers import MotionDetector
from tests.helpers import FakeClock, wait_until


def still(level: int = 100) -> np.ndarray:
    return np.full((90, 160), level, np.uint8)


def test_still_frames_and_small_changes_are_not_motion():
    detector = MotionDetector(threshold=3.0, min_gap=0, clock=FakeClock())
    assert not detector.update(still())
    assert not detector.update(still())
    noisy = still() + np.random.default_rng(1).integers(0, 3, (90, 160), dtype=np.uint8)
    assert not detector.update(noisy)
    assert detector.last_level < 3.0


def test_a_big_change_is_motion_and_the_minimum_gap_holds_the_next_one():
    clock = FakeClock()
    detector = MotionDetector(threshold=3.0, min_gap=10, clock=clock)
    detector.update(still(100))
    moved = still(100)
    moved[20:70, 40:120] = 220  # something walked in
    assert detector.update(moved)
    clock.now = 5
    assert not detector.update(still(100))  # as big a change, but within the gap
    clock.now = 11
    assert detector.update(moved)


class MotionCamera(Camera):
    """A camera whose view changes a lot whenever `scene` is flipped."""

    backend = "test"

    def __init__(self) -> None:
        self.scene = 0
        self.inner = SimulatedCamera(resolution=(320, 180))

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def capture(self) -> Capture:
        return self.inner.capture()

    def preview(self) -> bytes:
        return self.inner.preview()

    def motion_frame(self) -> np.ndarray:
        return still(40 + 160 * (self.scene % 2))


def test_motion_takes_a_picture_marked_motion(r, redis_url, run_daemon):
    camera = MotionCamera()
    d = run_daemon(redis_url, "--triggers", "motion", "--motion-fps", "20", "--motion-min-gap",
                   "60", camera=camera)
    wait_until(lambda: d.daemon.motion and d.daemon.motion.frames >= 5, 5.0)
    assert not list(r.scan_iter("image:*"))  # nothing moves, no picture
    camera.scene = 1
    wait_until(lambda: len(list(r.scan_iter("image:*"))) == 1, 5.0)
    d.stop()
    [key] = list(r.scan_iter("image:*"))
    assert r.hget(key, "trigger") == b"motion"
    assert d.daemon.motion.detections == 1


def test_interval_and_motion_combine(r, redis_url, run_daemon):
    camera = MotionCamera()
    d = run_daemon(redis_url, "--triggers", "interval,motion", "--interval", "0.25",
                   "--motion-fps", "20", camera=camera)
    wait_until(lambda: d.daemon.motion and d.daemon.motion.frames >= 2
               and len(list(r.scan_iter("image:*"))) >= 1, 5.0)
    camera.scene = 1
    wait_until(lambda: d.daemon.motion.detections == 1, 5.0)
    wait_until(lambda: {r.hget(k, "trigger") for k in r.scan_iter("image:*")}
               == {b"interval", b"motion"}, 5.0)
    d.stop()


class BlockingCamera(MotionCamera):
    """A camera whose capture and preview wait until released, to watch the lock."""

    def __init__(self) -> None:
        super().__init__()
        self.capture_started = threading.Event()
        self.release_capture = threading.Event()
        self.previews = 0

    def capture(self) -> Capture:
        self.capture_started.set()
        self.release_capture.wait(5)
        return super().capture()

    def preview(self) -> bytes:
        self.previews += 1
        return b"jpeg"


def test_background_readers_give_way_to_a_capture_without_waiting():
    camera = BlockingCamera()
    shared = SharedCamera(camera)
    worker = threading.Thread(target=shared.capture)
    worker.start()
    camera.capture_started.wait(5)
    assert shared.try_preview(timeout=5) is None  # returns at once: a capture has the camera
    assert shared.try_motion_frame(timeout=5) is None
    assert camera.previews == 0
    camera.release_capture.set()
    worker.join(5)
    assert shared.try_preview() == b"jpeg"
