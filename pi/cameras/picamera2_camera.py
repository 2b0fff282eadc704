"""The Raspberry Pi camera through Picamera2; picamera2 is imported only in here.

One still configuration with a `lores` stream sized for the thumbnail (or the live
preview, when that is bigger). Each picture comes from one `captured_request()`: the
main stream is encoded as the picture and the lores stream of the SAME frame as its
thumbnail, so the thumbnail costs no JPEG decode, and the metadata belongs to that frame.

Unlike the reference, controls are set after `configure()` (which resets them), so
continuous autofocus does take effect. Every capture and autofocus call passes
picamera2's `wait=` timeout; when the camera hangs (picamera2 issues 794, 884, 1004)
it is closed and reopened instead of blocking for ever.
"""

from __future__ import annotations

import io
import logging
import threading
from typing import Any

import numpy as np

from pi.cameras.base import Camera, CameraError, Capture, fit_size
from pi.thumbnails import THUMBNAIL_MAX_BYTES, THUMBNAIL_QUALITY, make_thumbnail

logger = logging.getLogger(__name__)

PREVIEW_QUALITY = 70
#: Background reads (preview, motion) wait at most this long, so a hang costs a capture little.
BACKGROUND_WAIT = 2.0
MOTION_WIDTH = 160


class Picamera2Camera(Camera):
    """A Raspberry Pi camera module, opened with Picamera2."""

    backend = "picamera2"

    def __init__(self, resolution: tuple[int, int] | None = None, jpeg_quality: int = 90,
                 thumbnail_size: tuple[int, int] = (320, 320),
                 preview_size: tuple[int, int] = (640, 640), autofocus: bool = False,
                 timeout: float = 10.0, camera_num: int = 0, close_timeout: float = 5.0) -> None:
        self.resolution = resolution
        self.jpeg_quality = jpeg_quality
        self.thumbnail_size = thumbnail_size
        self.preview_box = preview_size
        self.autofocus = autofocus
        self.timeout = timeout
        self.camera_num = camera_num
        self.close_timeout = close_timeout
        self.main_size: tuple[int, int] | None = None
        self.lores_size: tuple[int, int] | None = None
        self.reopens = 0
        self._cam: Any = None
        self._controls: Any = None
        self._af = False

    def describe(self) -> str:
        """Return e.g. 'picamera2 camera 0 4608x2592, lores 640x360, autofocus'."""
        size = "x".join(map(str, self.main_size)) if self.main_size else "?"
        lores = "x".join(map(str, self.lores_size)) if self.lores_size else "?"
        return (f"picamera2 camera {self.camera_num} {size}, lores {lores}"
                + (", autofocus" if self._af else ""))

    def open(self) -> None:
        """Open, configure (main + lores), set controls, and start the camera."""
        try:
            from libcamera import controls
            from picamera2 import Picamera2
        except ImportError as exc:
            raise CameraError(
                f"picamera2 cannot be imported ({exc}). Fix: on a Raspberry Pi run `sudo apt "
                "install python3-picamera2` and make the venv with --system-site-packages (see "
                "pi/README.md); on another machine use CAMERA_BACKEND=simulated."
            ) from None
        try:
            cam = Picamera2(camera_num=self.camera_num)
        except (RuntimeError, IndexError, OSError) as exc:
            raise CameraError(
                f"Camera {self.camera_num} could not be opened ({exc}). Fix: check the ribbon "
                "cable and that `rpicam-hello --list-cameras` lists it, and that no other "
                "program is using the camera."
            ) from None
        try:
            main_size = tuple(self.resolution or cam.sensor_resolution)
            box = (max(self.thumbnail_size[0], self.preview_box[0]),
                   max(self.thumbnail_size[1], self.preview_box[1]))
            lores_size = fit_size(main_size, box)
            config = cam.create_still_configuration(
                main={"size": main_size}, lores={"size": lores_size, "format": "YUV420"})
            cam.configure(config)
            # configure() resets the controls, so they are set after it, never before.
            cam.options["quality"] = self.jpeg_quality
            self._af = self.autofocus and "AfMode" in cam.camera_controls
            if self.autofocus and not self._af:
                logger.warning("CAMERA_AUTOFOCUS=1 but this camera has no autofocus (a Camera "
                               "Module v2?); carrying on with fixed focus")
            if self._af:
                cam.set_controls({"AfMode": controls.AfModeEnum.Continuous})
            cam.start()
            actual = cam.camera_configuration()
            self.main_size = tuple(actual["main"]["size"])
            self.lores_size = tuple(actual["lores"]["size"])
        except Exception as exc:
            self._close_camera(cam)
            raise CameraError(f"Camera {self.camera_num} could not be configured and started "
                              f"({exc}). Fix: try a smaller IMAGE_RESOLUTION, or reboot the Pi.") from None
        self._cam, self._controls = cam, controls

    def close(self) -> None:
        """Stop and close the camera; a camera that won't close is given up after a timeout."""
        cam, self._cam = self._cam, None
        if cam is not None:
            self._close_camera(cam)

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
            logger.error("The camera did not close within %.0f s; if pictures stop, reboot the Pi",
                         self.close_timeout)

    def _reopen(self, why: str) -> None:
        logger.warning("%s; closing and reopening the camera", why)
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                cam.cancel_all_and_flush()
            except Exception as exc:  # best effort before close
                logger.debug("cancel_all_and_flush failed: %s", exc)
            self._close_camera(cam)
        self.reopens += 1
        self.open()

    def _camera(self) -> Any:
        if self._cam is None:
            self.open()
        return self._cam

    def _encode(self, request: Any, stream: str, quality: int) -> bytes:
        cam = self._cam
        buf = io.BytesIO()
        cam.options["quality"] = quality
        try:
            request.save(stream, buf, format="jpeg")
        finally:
            cam.options["quality"] = self.jpeg_quality
        return buf.getvalue()

    def _capture_once(self) -> Capture:
        cam = self._camera()
        if self._af and not cam.autofocus_cycle(wait=self.timeout):
            logger.info("Autofocus cycle did not report focus; taking the picture anyway")
        with cam.captured_request(wait=self.timeout) as request:
            jpeg = self._encode(request, "main", self.jpeg_quality)
            lores_jpeg = self._encode(request, "lores", THUMBNAIL_QUALITY)
            metadata = dict(request.get_metadata())
        if self._af:
            cam.set_controls({"AfMode": self._controls.AfModeEnum.Continuous})
        thumbnail = lores_jpeg
        assert self.lores_size is not None and self.main_size is not None
        fits = (self.lores_size[0] <= self.thumbnail_size[0]
                and self.lores_size[1] <= self.thumbnail_size[1])
        if not fits or len(thumbnail) > THUMBNAIL_MAX_BYTES:
            thumbnail = make_thumbnail(lores_jpeg, self.thumbnail_size)  # small: lores, not main
        return Capture(jpeg=jpeg, thumbnail=thumbnail, width=self.main_size[0],
                       height=self.main_size[1], metadata=metadata)

    def capture(self) -> Capture:
        """Take a picture; on a timeout reopen the camera and try once more."""
        try:
            return self._capture_once()
        except TimeoutError:
            self._reopen(f"The camera gave no picture within {self.timeout:g} s")
        except (RuntimeError, OSError) as exc:
            self._reopen(f"The camera failed ({exc})")
        try:
            return self._capture_once()
        except (TimeoutError, RuntimeError, OSError) as exc:
            raise CameraError(f"The camera failed again after being reopened ({exc or 'timeout'}). "
                              "Fix: check the ribbon cable, then reboot the Pi.") from None

    def _background(self, read: Any) -> Any:
        cam = self._camera()
        try:
            with cam.captured_request(wait=min(self.timeout, BACKGROUND_WAIT)) as request:
                return read(request)
        except TimeoutError:
            self._reopen("The camera gave no preview frame in time")
            raise CameraError("camera reopened after a hang") from None

    def preview(self) -> bytes:
        """Return the lores stream of the next frame as a JPEG, fitted to the preview box."""
        jpeg = self._background(lambda request: self._encode(request, "lores", PREVIEW_QUALITY))
        assert self.lores_size is not None
        if self.lores_size[0] > self.preview_box[0] or self.lores_size[1] > self.preview_box[1]:
            jpeg = make_thumbnail(jpeg, self.preview_box, max_bytes=1 << 30)
        return jpeg

    def motion_frame(self) -> np.ndarray:
        """Return the luma (Y) plane of the next lores frame, about 160 pixels wide."""
        array = self._background(lambda request: request.make_array("lores"))
        assert self.lores_size is not None
        width, height = self.lores_size
        luma = array[:height, :width]
        step = max(1, width // MOTION_WIDTH)
        return np.ascontiguousarray(luma[::step, ::step])
