"""The Raspberry Pi camera through Picamera2; picamera2 is imported only in here.

Works with every picamera2 from 0.3.20 (Raspberry Pi OS Bookworm's and later); an older
one is refused at start with the upgrade command. It uses only calls that behave the same
in all of them: `capture_request(wait=False)` and `release()`, `autofocus_cycle(wait=False)`,
`cancel_all_and_flush()`, and `MappedArray` to read a request's buffers. Pictures and
thumbnails are encoded here with simplejpeg (which picamera2 itself depends on) straight
from the mapped buffers, never with `request.save()`, whose JPEG path differs between
releases (0.3.20-0.3.25 can't encode YUV420; 0.3.26-0.3.30 map the wrong stream).

One still configuration: a main stream (YUV420 by default: half the memory of BGR888, and
JPEG's own colour format) and a YUV420 `lores` stream sized for the live preview or the
thumbnail. Each picture is one request: the main stream becomes the picture, the lores
stream of the same frame is scaled (Pillow, on its planes: no JPEG is decoded) into the
thumbnail, and the metadata belongs to that frame. Controls are set after `configure()`,
which resets them, so continuous autofocus does take effect.

While idle the frame rate is capped (FrameDurationLimits), so the sensor doesn't stream
full-resolution frames at full rate all day; an autofocus cycle and a capture run at full
rate. The autofocus cycle has its own timeout: one that runs over (about 25 s in flat
scenes, picamera2 issue 884) is cancelled and the picture taken with continuous autofocus,
marked "focus not confirmed". Every wait has a timeout; a camera that gives no frame is
closed (with a timeout, as a camera wedged in the kernel never closes) and reopened once.
Preview and motion reads never open the camera: the daemon owns reopening (with backoff).
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
import time
from concurrent.futures import CancelledError
from typing import Any

import numpy as np
from PIL import Image

from pi.cameras.base import Camera, CameraError, CameraUnsupported, Capture, fit_size
from pi.thumbnails import THUMBNAIL_MAX_BYTES, THUMBNAIL_QUALITY

logger = logging.getLogger(__name__)

#: The oldest picamera2 this backend works with (tested from 0.3.21, whose code is 0.3.20's).
MIN_PICAMERA2 = (0, 3, 20)
UPGRADE_COMMAND = "sudo apt update && sudo apt full-upgrade"
PREVIEW_QUALITY = 70
#: Background reads (preview, motion) wait at most this long, so a hang costs a capture little.
BACKGROUND_WAIT = 2.0
MOTION_WIDTH = 160
#: FrameDurationLimits while taking a picture: the still configuration's own (no cap; up
#: to 1 s frames, so low light can still expose long).
FULL_RATE_LIMITS = (100, 1_000_000_000)
#: What a failing camera raises through picamera2 (besides TimeoutError).
_FAILURES = (RuntimeError, OSError, ValueError, CancelledError)
#: How often a wait checks whether the daemon is stopping.
_POLL = 0.1
_QUALITY_STEPS = (THUMBNAIL_QUALITY, 70, 60, 50, 40, 30)


class CameraInterrupted(CameraError):
    """A wait was cut short because the daemon is stopping."""


def picamera2_version() -> str | None:
    """Return the installed picamera2's version (apt's and pip's both record it), or None."""
    try:
        return importlib.metadata.version("picamera2")
    except importlib.metadata.PackageNotFoundError:
        return None


def check_picamera2_version(version: str | None) -> None:
    """Raise CameraUnsupported, with the upgrade command, for a picamera2 older than the minimum."""
    if version is None:
        logger.warning("Could not tell which picamera2 is installed; this daemon needs %s or newer",
                       ".".join(map(str, MIN_PICAMERA2)))
        return
    try:
        found = tuple(int(part) for part in version.split(".")[:3])
    except ValueError:
        logger.warning("picamera2 reports version %r; this daemon needs %s or newer", version,
                       ".".join(map(str, MIN_PICAMERA2)))
        return
    if found < MIN_PICAMERA2:
        raise CameraUnsupported(
            f"picamera2 {version} is installed, but this daemon needs picamera2 "
            f"{'.'.join(map(str, MIN_PICAMERA2))} or newer. Fix: `{UPGRADE_COMMAND}`, then reboot "
            "(check with `dpkg -s python3-picamera2 | grep Version`).")


def yuv420_planes(buffer: np.ndarray, size: tuple[int, int], stride: int,
                  fmt: str = "YUV420") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return views (no copy) of the Y, U and V planes of a padded YUV420 buffer."""
    width, height = size
    luma_bytes = stride * height
    half = stride // 2
    chroma_bytes = half * (height // 2)
    y = buffer[:luma_bytes].reshape(height, stride)[:, :width]
    u = buffer[luma_bytes:luma_bytes + chroma_bytes].reshape(height // 2, half)[:, :width // 2]
    v = buffer[luma_bytes + chroma_bytes:luma_bytes + 2 * chroma_bytes].reshape(
        height // 2, half)[:, :width // 2]
    return (y, v, u) if fmt == "YVU420" else (y, u, v)


def encode_buffer(buffer: np.ndarray, fmt: str, size: tuple[int, int], stride: int,
                  quality: int) -> bytes:
    """Encode a mapped camera buffer (YUV420/YVU420 or BGR888/RGB888) as JPEG with simplejpeg."""
    import simplejpeg

    width, height = size
    if fmt in ("YUV420", "YVU420"):
        y, u, v = yuv420_planes(buffer, size, stride, fmt)
        return simplejpeg.encode_jpeg_yuv_planes(y, u, v, quality)
    if fmt in ("BGR888", "RGB888"):
        # picamera2's BGR888 holds R, G, B in memory order (libcamera names the 24-bit word).
        pixels = buffer[:stride * height].reshape(height, stride)[:, :width * 3].reshape(height, width, 3)
        return simplejpeg.encode_jpeg(pixels, quality, "RGB" if fmt == "BGR888" else "BGR", "420")
    raise CameraError(f"The camera's {fmt} stream can't be encoded; use CAMERA_MAIN_FORMAT=YUV420")


def scaled_planes(planes: tuple[np.ndarray, np.ndarray, np.ndarray],
                  size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return Y, U, V planes scaled to `size` (even), each a new contiguous array."""
    width, height = size
    if planes[0].shape == (height, width):
        return tuple(np.ascontiguousarray(p) for p in planes)  # type: ignore[return-value]
    out = []
    for plane, (w, h) in zip(planes, ((width, height), (width // 2, height // 2), (width // 2, height // 2))):
        img = Image.fromarray(np.ascontiguousarray(plane)).resize((w, h), Image.Resampling.BILINEAR,
                                                                  reducing_gap=2.0)
        out.append(np.asarray(img))
    return out[0], out[1], out[2]


def encode_planes(planes: tuple[np.ndarray, np.ndarray, np.ndarray], quality: int,
                  max_bytes: int | None = None) -> bytes:
    """Encode Y, U, V planes as JPEG, stepping the quality down until under `max_bytes`."""
    import simplejpeg

    data = b""
    for step in (quality, *[q for q in _QUALITY_STEPS if q < quality]):
        data = simplejpeg.encode_jpeg_yuv_planes(*planes, step)
        if max_bytes is None or len(data) <= max_bytes:
            break
    return data


def pooled_luma(luma: np.ndarray, width: int = MOTION_WIDTH) -> np.ndarray:
    """Return the luma plane average-pooled (k x k blocks) to about `width` pixels wide.

    Averaging k*k pixels divides uncorrelated sensor noise by k, so a dark, high-gain
    frame's grain barely moves the motion measure, while real movement still does.
    """
    height, full_width = luma.shape
    k = max(1, full_width // width)
    h, w = height // k * k, full_width // k * k
    blocks = luma[:h, :w].reshape(h // k, k, w // k, k).astype(np.uint32)
    return (blocks.sum(axis=(1, 3)) // (k * k)).astype(np.uint8)


class Picamera2Camera(Camera):
    """A Raspberry Pi camera module, opened with Picamera2."""

    backend = "picamera2"

    def __init__(self, resolution: tuple[int, int] | None = None, jpeg_quality: int = 90,
                 thumbnail_size: tuple[int, int] = (320, 320),
                 preview_size: tuple[int, int] = (640, 640), autofocus: bool = False,
                 timeout: float = 10.0, camera_num: int = 0, close_timeout: float = 5.0,
                 autofocus_timeout: float = 5.0, main_format: str = "YUV420",
                 idle_fps: float = 0.0) -> None:
        self.resolution = resolution
        self.jpeg_quality = jpeg_quality
        self.thumbnail_size = thumbnail_size
        self.preview_box = preview_size
        self.autofocus = autofocus
        self.timeout = timeout
        self.camera_num = camera_num
        self.close_timeout = close_timeout
        self.autofocus_timeout = autofocus_timeout
        self.main_format = main_format
        self.idle_fps = idle_fps
        self.main_size: tuple[int, int] | None = None
        self.lores_size: tuple[int, int] | None = None
        self.version: str | None = None
        self.reopens = 0
        self.focus_not_confirmed = 0
        self._cam: Any = None
        self._controls: Any = None
        self._mapped_array: Any = None
        self._af = False
        self._stopping = threading.Event()

    def describe(self) -> str:
        """Return e.g. 'picamera2 0.3.38, camera 0 4608x2592 YUV420, lores 640x360, autofocus, idle 4 fps'."""
        size = "x".join(map(str, self.main_size)) if self.main_size else "?"
        lores = "x".join(map(str, self.lores_size)) if self.lores_size else "?"
        return (f"picamera2 {self.version or '?'}, camera {self.camera_num} {size} {self.main_format}, "
                f"lores {lores}" + (", autofocus" if self._af else "")
                + (f", idle {self.idle_fps:g} fps" if self.idle_fps else ""))

    @property
    def is_open(self) -> bool:
        """Tell whether the camera is open and started."""
        return self._cam is not None

    # --- Opening and closing --------------------------------------------------------------

    def open(self) -> None:
        """Check picamera2, then open, configure (main + lores), set controls and start."""
        try:
            from libcamera import controls
            from picamera2 import MappedArray, Picamera2
        except ImportError as exc:
            raise CameraError(
                f"picamera2 cannot be imported ({exc}). Fix: on a Raspberry Pi run `sudo apt "
                "install python3-picamera2` and make the venv with --system-site-packages (see "
                "pi/README.md); on another machine use CAMERA_BACKEND=simulated."
            ) from None
        self.version = picamera2_version()
        check_picamera2_version(self.version)
        try:
            import simplejpeg  # noqa: F401 - picamera2 depends on it; checked here for a clear error
        except ImportError:
            raise CameraError("simplejpeg cannot be imported. Fix: `sudo apt install "
                              "python3-simplejpeg` (it comes with python3-picamera2).") from None
        try:
            cam = Picamera2(camera_num=self.camera_num)
        except (RuntimeError, IndexError, OSError) as exc:
            raise CameraError(
                f"Camera {self.camera_num} could not be opened ({exc or type(exc).__name__}). Fix: "
                "check the ribbon cable and that `rpicam-hello --list-cameras` lists it, and that "
                "no other program is using the camera."
            ) from None
        try:
            main_size = tuple(self.resolution or cam.sensor_resolution)
            box = (max(self.thumbnail_size[0], self.preview_box[0]),
                   max(self.thumbnail_size[1], self.preview_box[1]))
            lores_size = fit_size(main_size, box)
            config = cam.create_still_configuration(
                main={"size": main_size, "format": self.main_format},
                lores={"size": lores_size, "format": "YUV420"})
            cam.configure(config)
            # configure() resets the controls, so they are set after it, never before.
            self._af = self.autofocus and "AfMode" in cam.camera_controls
            if self.autofocus and not self._af:
                logger.warning("CAMERA_AUTOFOCUS=1 but this camera has no autofocus (a Camera "
                               "Module v2?); carrying on with fixed focus")
            startup: dict[str, Any] = {}
            if self._af:
                startup["AfMode"] = controls.AfModeEnum.Continuous
            if self.idle_fps:
                startup["FrameDurationLimits"] = self._idle_limits()
            if startup:
                cam.set_controls(startup)
            cam.start()
            actual = cam.camera_configuration()
            self.main_size = tuple(actual["main"]["size"])
            self.lores_size = tuple(actual["lores"]["size"])
        except Exception as exc:
            self._close_camera(cam)
            raise CameraError(f"Camera {self.camera_num} could not be configured and started "
                              f"({exc}). Fix: try a smaller IMAGE_RESOLUTION, or reboot the Pi.") from None
        self._cam, self._controls, self._mapped_array = cam, controls, MappedArray

    def close(self) -> None:
        """Stop and close the camera; a camera that won't close is given up after a timeout."""
        cam, self._cam = self._cam, None
        if cam is not None:
            self._close_camera(cam)

    def interrupt(self) -> None:
        """Cut any wait short (the daemon is stopping): it raises CameraInterrupted."""
        self._stopping.set()

    def _close_camera(self, cam: Any) -> None:
        def close() -> None:
            try:
                cam.close()
            except Exception as exc:  # a hung or unplugged camera can fail in many ways
                logger.warning("Closing the camera failed: %s", exc)

        closer = threading.Thread(target=close, name="camera-close", daemon=True)
        closer.start()
        closer.join(self.close_timeout)
        if closer.is_alive():
            logger.error("The camera did not close within %.0f s (stuck in the kernel?); if it "
                         "can't be reopened, reboot the Pi", self.close_timeout)

    def _drop(self, why: str) -> None:
        """Give up on the open camera (closing it, bounded); the daemon decides when to reopen."""
        cam, self._cam = self._cam, None
        if cam is None:
            return
        logger.warning("%s; closing the camera", why)
        try:
            cam.cancel_all_and_flush()
        except Exception as exc:  # best effort before close
            logger.debug("cancel_all_and_flush failed: %s", exc)
        self._close_camera(cam)

    def _reopen(self, why: str) -> None:
        self._drop(why)
        logger.warning("Reopening the camera")
        self.reopens += 1
        self.open()

    def _camera(self) -> Any:
        if self._cam is None:
            raise CameraError("The camera is not open")
        return self._cam

    # --- Waiting, with timeouts --------------------------------------------------------

    def _wait(self, cam: Any, job: Any, timeout: float, what: str) -> Any:
        """Return the job's result; on timeout cancel it (and everything queued) and raise.

        A timed-out job stays in picamera2's queue and would hold up every later one, and a
        request it completes later would never be released: so the queue is flushed, and a
        request that arrives anyway is released.
        """
        deadline = time.monotonic() + timeout
        while True:
            if self._stopping.is_set():
                self._cancel(cam, job)
                raise CameraInterrupted(f"{what} interrupted: the daemon is stopping")
            remaining = deadline - time.monotonic()
            try:
                return job.get_result(timeout=max(0.0, min(_POLL, remaining)))
            except TimeoutError:
                if remaining <= _POLL:
                    self._cancel(cam, job)
                    raise TimeoutError(f"no {what} within {timeout:g} s") from None

    @staticmethod
    def _cancel(cam: Any, job: Any) -> None:
        try:
            cam.cancel_all_and_flush()
        except Exception as exc:  # best effort
            logger.debug("cancel_all_and_flush failed: %s", exc)
        try:
            late = job.get_result(timeout=0.05)
        except BaseException:  # noqa: S110 - cancelled or still pending: nothing to release
            return
        if hasattr(late, "release"):
            late.release()

    def _request(self, cam: Any, timeout: float, what: str) -> Any:
        return self._wait(cam, cam.capture_request(wait=False), timeout, what)

    def _idle_limits(self) -> tuple[int, int]:
        return int(1_000_000 / self.idle_fps), FULL_RATE_LIMITS[1]

    def _autofocus(self, cam: Any) -> bool:
        """Run an autofocus cycle within its timeout; return whether focus was confirmed."""
        af = self._controls
        try:
            focused = self._wait(cam, cam.autofocus_cycle(wait=False), self.autofocus_timeout,
                                 "autofocus result")
        except TimeoutError:
            cam.set_controls({"AfTrigger": af.AfTriggerEnum.Cancel})
            cam.set_controls({"AfMode": af.AfModeEnum.Continuous})
            logger.warning("Autofocus did not finish within AUTOFOCUS_TIMEOUT=%g s; cancelled it and "
                           "taking the picture with continuous autofocus (focus not confirmed)",
                           self.autofocus_timeout)
            return False
        if not focused:
            logger.info("The autofocus cycle did not report focus; taking the picture anyway "
                        "(focus not confirmed)")
        return bool(focused)

    # --- Pictures ---------------------------------------------------------------------

    def _capture_once(self) -> Capture:
        cam = self._camera()
        if self.idle_fps:
            cam.set_controls({"FrameDurationLimits": FULL_RATE_LIMITS})
        focused = self._autofocus(cam) if self._af else None
        request = self._request(cam, self.timeout, "picture")
        try:
            jpeg = self._encode(request, "main", self.jpeg_quality)
            thumbnail = self._lores_jpeg(request, self.thumbnail_size, THUMBNAIL_QUALITY,
                                         THUMBNAIL_MAX_BYTES)
            metadata = dict(request.get_metadata())
        finally:
            request.release()
        after: dict[str, Any] = {}
        if self._af:
            after["AfMode"] = self._controls.AfModeEnum.Continuous
        if self.idle_fps:
            after["FrameDurationLimits"] = self._idle_limits()
        if after:
            cam.set_controls(after)
        if focused is False:
            self.focus_not_confirmed += 1
            metadata["FocusConfirmed"] = False
        assert self.main_size is not None
        return Capture(jpeg=jpeg, thumbnail=thumbnail, width=self.main_size[0],
                       height=self.main_size[1], metadata=metadata)

    def _encode(self, request: Any, stream: str, quality: int) -> bytes:
        config = request.config[stream]
        with self._mapped_array(request, stream, reshape=False, write=False) as mapped:
            return encode_buffer(mapped.array, config["format"], tuple(config["size"]),
                                 config["stride"], quality)

    def _lores_jpeg(self, request: Any, box: tuple[int, int], quality: int,
                    max_bytes: int | None) -> bytes:
        """Encode the lores stream fitted to `box` (scaling its planes: no JPEG decode)."""
        config = request.config["lores"]
        size = tuple(config["size"])
        with self._mapped_array(request, "lores", reshape=False, write=False) as mapped:
            planes = yuv420_planes(mapped.array, size, config["stride"], config["format"])
            small = scaled_planes(planes, fit_size(size, box))
        return encode_planes(small, quality, max_bytes)

    def capture(self) -> Capture:
        """Take a picture; after a hang or failure, reopen the camera once and try again.

        Raises CameraError when the camera is not open (the daemon reopens it, with backoff),
        when the reopen fails, or when the second try fails too (the camera is then closed).
        """
        self._camera()
        try:
            return self._capture_once()
        except CameraInterrupted:
            raise
        except TimeoutError as exc:
            why = f"The camera gave {exc}"
        except _FAILURES as exc:
            why = f"The camera failed ({type(exc).__name__}: {exc})"
        self._reopen(why)
        try:
            return self._capture_once()
        except CameraInterrupted:
            raise
        except TimeoutError as exc:
            self._drop(f"The camera gave {exc} again")
            raise CameraError(f"The camera gave {exc}, again after being reopened. Fix: check the "
                              "ribbon cable and the power supply; if it persists, reboot the Pi.") from None
        except _FAILURES as exc:
            self._drop("The camera failed again")
            raise CameraError(f"The camera failed again after being reopened ({type(exc).__name__}: "
                              f"{exc}). Fix: check the ribbon cable, then reboot the Pi.") from None

    # --- Background reads: never open the camera ------------------------------------------

    def _background(self, read: Any) -> Any:
        cam = self._camera()
        try:
            request = self._request(cam, min(self.timeout, BACKGROUND_WAIT), "frame")
        except TimeoutError as exc:
            self._drop(f"The camera gave {exc} to a preview or motion read")
            raise CameraError(f"The camera gave {exc}") from None
        try:
            return read(request)
        finally:
            request.release()

    def preview(self) -> bytes:
        """Return the lores stream of the next frame as a JPEG, fitted to the preview box."""
        return self._background(lambda request: self._lores_jpeg(request, self.preview_box,
                                                                 PREVIEW_QUALITY, None))

    def motion_frame(self) -> np.ndarray:
        """Return the next lores frame's luma, average-pooled to about 160 pixels wide."""
        def read(request: Any) -> np.ndarray:
            config = request.config["lores"]
            with self._mapped_array(request, "lores", reshape=False, write=False) as mapped:
                luma = yuv420_planes(mapped.array, tuple(config["size"]), config["stride"])[0]
                return pooled_luma(luma)
        return self._background(read)
