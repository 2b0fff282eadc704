"""The interface every camera backend implements, and the lock that shares one camera."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class CameraError(RuntimeError):
    """A camera could not open or take a picture; the message says why and what to do."""


class CameraUnsupported(CameraError):
    """The camera software installed is too old; restarting won't help, upgrading will."""


@dataclass
class Capture:
    """One picture: the full JPEG, its thumbnail, its size and Picamera2-shaped metadata."""

    jpeg: bytes
    thumbnail: bytes
    width: int
    height: int
    metadata: dict[str, Any] = field(default_factory=dict)


def fit_size(size: tuple[int, int], box: tuple[int, int], even: bool = True) -> tuple[int, int]:
    """Return `size` scaled down (never up) to fit in `box`, keeping its aspect ratio."""
    width, height = size
    scale = min(box[0] / width, box[1] / height, 1.0)
    w, h = max(2, round(width * scale)), max(2, round(height * scale))
    if even:
        w, h = w - w % 2, h - h % 2
    return w, h


class Camera(ABC):
    """A camera backend; a context manager that opens on enter and closes on exit.

    `capture()` takes a full picture; `preview()` and `motion_frame()` read cheap
    low-resolution frames for the live view and the motion trigger.
    """

    backend = "camera"

    def __enter__(self) -> Camera:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abstractmethod
    def open(self) -> None:
        """Open the camera; raise CameraError with a clear message if it can't be."""

    @abstractmethod
    def close(self) -> None:
        """Release the camera; safe to call twice."""

    @abstractmethod
    def capture(self) -> Capture:
        """Take a full-resolution picture; raise CameraError on failure."""

    @abstractmethod
    def preview(self) -> bytes:
        """Return a small JPEG of the current view, for the live preview."""

    @abstractmethod
    def motion_frame(self) -> np.ndarray:
        """Return a small 2-D uint8 greyscale frame of the current view."""

    def describe(self) -> str:
        """Return a short description for the start-up log line."""
        return self.backend

    def interrupt(self) -> None:
        """Cut short any wait in progress, because the daemon is stopping (if it has waits)."""
        return None


class SharedCamera:
    """Serializes use of one camera between the capture loop and background readers.

    A capture waits at most for the low-resolution read in progress; background readers
    (preview, motion) give way whenever a capture is waiting and never queue behind one.

    It also knows whether the camera is down (a capture or read failed). While it is,
    background readers get nothing and never touch the camera: only the capture loop
    reopens it, with `reopen()`, on its own schedule.
    """

    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self._lock = threading.Lock()
        self._captures_waiting = 0
        self._count_lock = threading.Lock()
        self.down_reason: str | None = None
        #: Called (from the reader's thread) when a background read fails; the daemon counts it.
        self.on_background_failure: Any = None

    @property
    def down(self) -> bool:
        """Tell whether the camera failed and has not been reopened since."""
        return self.down_reason is not None

    def mark_down(self, reason: str) -> None:
        """Note that the camera failed; background readers stop using it."""
        self.down_reason = reason or "the camera failed"

    def reopen(self) -> None:
        """Close and open the camera, ahead of any background reader; raise CameraError."""
        with self._capturing():
            self.camera.close()
            self.camera.open()
            self.down_reason = None

    @contextmanager
    def _capturing(self) -> Iterator[None]:
        with self._count_lock:
            self._captures_waiting += 1
        try:
            with self._lock:
                yield
        finally:
            with self._count_lock:
                self._captures_waiting -= 1

    def capture(self) -> Capture:
        """Take a picture, ahead of any background reader."""
        with self._capturing():
            return self.camera.capture()

    @property
    def capture_waiting(self) -> bool:
        """Tell whether a capture is waiting for or holding the camera."""
        return self._captures_waiting > 0

    def _background(self, read: Any, timeout: float) -> Any:
        if self.down or self.capture_waiting or not self._lock.acquire(timeout=timeout):
            return None
        try:
            if self.down or self.capture_waiting:
                return None
            return read()
        except CameraError as exc:
            self.mark_down(str(exc))
            if self.on_background_failure is not None:
                self.on_background_failure(exc)
            raise
        finally:
            self._lock.release()

    def try_preview(self, timeout: float = 0.25) -> bytes | None:
        """Return a preview JPEG, or None when a capture has the camera."""
        return self._background(self.camera.preview, timeout)

    def try_motion_frame(self, timeout: float = 0.25) -> np.ndarray | None:
        """Return a motion frame, or None when a capture has the camera."""
        return self._background(self.camera.motion_frame, timeout)
