"""Stand-in for picamera2 with its real names and signatures, for tests off a Raspberry Pi.

It mirrors picamera2 0.3's API as the daemon uses it: `Picamera2(camera_num=0, ...)`,
`sensor_resolution`, `camera_controls`, `options`, `create_still_configuration(main=,
lores=, ...)`, `configure()` (which, as in picamera2, resets the controls), `set_controls()`,
`start()`, `stop()`, `close()`, `camera_configuration()`, `cancel_all_and_flush()`,
`autofocus_cycle(wait=, signal_function=)`, `capture_request(wait=, signal_function=, flush=)`,
the `captured_request(wait=, flush=)` context manager, and requests with `save(name,
file_output, format=, exif_data=)`, `make_array(name)`, `make_image(name, width, height)`,
`get_metadata()` and `release()`. `wait=` behaves as picamera2's: a number is a timeout that
raises TimeoutError (concurrent.futures.TimeoutError), False returns the job, None waits.

Knobs for tests (class attributes, reset by `Picamera2.reset()`): `model` ("imx708" has
autofocus, "imx219" has none), `hang_requests` (how many of the next jobs never
complete, like a hung camera), and `instances` / each instance's `events`.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as TimeoutError  # picamera2 re-exports it too
from typing import Any

import libcamera
import numpy as np
from libcamera import controls as _controls
from PIL import Image

_DEFAULT_TRANSFORM = libcamera.Transform()
_DEFAULT_COLOUR_SPACE = libcamera.ColorSpace.Sycc()

_SENSORS = {
    "imx708": ((4608, 2592), True),
    "imx219": ((3280, 2464), False),
}


class Job:
    """A camera operation whose result arrives later (picamera2.job.Job)."""

    def __init__(self, result: Any = None, hang: bool = False) -> None:
        self._future: Future = Future()
        self._future.set_running_or_notify_cancel()
        if not hang:
            self._future.set_result(result)

    def get_result(self, timeout: float | None = None) -> Any:
        return self._future.result(timeout=timeout)

    def cancel(self) -> None:
        from concurrent.futures import CancelledError
        if not self._future.done():
            self._future.set_exception(CancelledError())


class CompletedRequest:
    """One frame's buffers and metadata (picamera2.request.CompletedRequest)."""

    def __init__(self, picam2: Picamera2, frame: int) -> None:
        self.picam2 = picam2
        self.frame = frame
        self.config = picam2.camera_config.copy()
        self.released = False

    def _check(self, name: str) -> dict[str, Any]:
        config = self.config.get(name)
        if config is None:
            raise RuntimeError(f"Stream {name!r} is not defined")
        if self.released:
            raise RuntimeError("request used after release")
        return config

    def make_array(self, name: str) -> np.ndarray:
        config = self._check(name)
        self.picam2.events.append(("make_array", name))
        w, h = config["size"]
        shift = (self.frame * 7 + self.picam2.scene_offset) % 256
        ramp = ((np.arange(w, dtype=np.int32)[None, :] + np.arange(h, dtype=np.int32)[:, None] + shift)
                % 256).astype(np.uint8)
        if config["format"] == "YUV420":
            out = np.full((h * 3 // 2, w), 128, np.uint8)
            out[:h] = ramp
            return out
        return np.repeat(ramp[..., None], 3, axis=2)

    def make_image(self, name: str, width: int | None = None, height: int | None = None) -> Image.Image:
        config = self._check(name)
        self.picam2.events.append(("make_image", name))
        if config["format"] not in ("BGR888", "RGB888", "XBGR8888", "XRGB8888"):
            raise RuntimeError(f"Stream format {config['format']} not supported for PIL images")
        img = Image.fromarray(self.make_array(name))
        if width and height:
            img = img.resize((width, height))
        return img

    def save(self, name: str, file_output: Any, format: str | None = None,
             exif_data: dict[str, Any] | None = None) -> None:
        config = self._check(name)
        quality = self.picam2.options.get("quality", 90)
        self.picam2.events.append(("save", name, tuple(config["size"]), quality))
        array = self.make_array(name)
        self.picam2.events.pop()  # save encodes the buffer directly; not a make_array call
        if config["format"] == "YUV420":
            h = config["size"][1]
            img = Image.fromarray(array[:h]).convert("RGB")
        else:
            img = Image.fromarray(array)
        fmt = (format or str(file_output).rsplit(".", 1)[-1]).lower()
        img.save(file_output, "JPEG" if fmt in ("jpg", "jpeg") else fmt.upper(), quality=quality)

    def get_metadata(self) -> dict[str, Any]:
        self._check("main")
        md = {"SensorTimestamp": 1_000_000 * self.frame, "ExposureTime": 20000,
              "AnalogueGain": 2.0, "DigitalGain": 1.01, "ColourTemperature": 4800,
              "Lux": 321.5, "FrameDuration": 33333, "ColourGains": (1.9, 1.6),
              "SensorTemperature": 41.0, "FocusFoM": 1234}
        if self.picam2.has_autofocus:
            md["LensPosition"] = 1.25
            md["AfState"] = int(_controls.AfStateEnum.Focused)
        return md

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.picam2.events.append(("release", self.frame))


class Picamera2:
    """Stand-in for picamera2.Picamera2."""

    model = "imx708"
    hang_requests = 0
    hang_close = False
    instances: list[Picamera2] = []
    _lock = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        cls.model, cls.hang_requests, cls.hang_close, cls.instances = "imx708", 0, False, []

    def __init__(self, camera_num: int = 0, verbose_console: Any = None, tuning: Any = None,
                 allocator: Any = None) -> None:
        if camera_num != 0:
            raise IndexError("list index out of range")
        self.camera_num = camera_num
        self.sensor_resolution, self.has_autofocus = _SENSORS[self.model]
        self.camera_properties = {"Model": self.model, "PixelArraySize": self.sensor_resolution}
        self.options: dict[str, Any] = {}
        self.camera_config: dict[str, Any] = {}
        self.controls: dict[str, Any] = {}
        self.controls_at_start: dict[str, Any] | None = None
        self.started = False
        self.is_open = True
        self.events: list[tuple] = [("open", camera_num)]
        self.scene_offset = 0
        self._frame = 0
        Picamera2.instances.append(self)

    @property
    def camera_controls(self) -> dict[str, tuple[Any, Any, Any]]:
        ctrls = {"ExposureTime": (1, 66666, 20000), "AnalogueGain": (1.0, 16.0, 1.0)}
        if self.has_autofocus:
            ctrls.update({"AfMode": (0, 2, 0), "AfTrigger": (0, 1, 0), "LensPosition": (0.0, 15.0, 1.0)})
        return ctrls

    # picamera2's own signature, mutable defaults and all.
    def create_still_configuration(self, main={}, lores=None, raw={},  # noqa: B006
                                   transform=_DEFAULT_TRANSFORM,
                                   colour_space=_DEFAULT_COLOUR_SPACE, buffer_count=1,
                                   controls={}, display=None, encode=None, queue=True,  # noqa: B006
                                   sensor={}, use_case="still") -> dict[str, Any]:  # noqa: B006
        if not self.is_open:
            raise RuntimeError("Camera not opened")
        main = {"format": "BGR888", "size": self.sensor_resolution, "preserve_ar": True} | dict(main)
        if lores is not None:
            lores = {"format": "YUV420", "size": main["size"], "preserve_ar": False} | dict(lores)
        return {"use_case": use_case, "transform": transform, "colour_space": colour_space,
                "buffer_count": buffer_count, "queue": queue, "main": main, "lores": lores,
                "raw": raw, "controls": dict(controls), "sensor": sensor, "display": display,
                "encode": encode}

    def configure(self, camera_config: Any = None) -> None:
        config = dict(camera_config) if isinstance(camera_config, dict) else {}
        main, lores = config.get("main"), config.get("lores")
        if not main:
            raise RuntimeError(f"Invalid camera configuration: {camera_config}")
        if lores is not None:
            # As on the Pi 4 and older (VC4): lores must be YUV and no bigger than main.
            if lores["format"] != "YUV420":
                raise RuntimeError("lores stream must be YUV")
            if lores["size"][0] > main["size"][0] or lores["size"][1] > main["size"][1]:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
        self.camera_config = config
        # As picamera2 does: the configuration's controls replace whatever was set before.
        self.controls = dict(config.get("controls", {}))
        self.events.append(("configure", tuple(main["size"]), tuple(lores["size"]) if lores else None))

    def camera_configuration(self) -> dict[str, Any]:
        return self.camera_config

    def set_controls(self, controls: dict[str, Any]) -> None:
        self.controls.update(controls)
        self.events.append(("set_controls", dict(controls)))

    def start(self, config: Any = None, show_preview: Any = False) -> None:
        if config is not None:
            self.configure(config)
        if not self.camera_config:
            raise RuntimeError("Camera has not been configured")
        self.started = True
        self.controls_at_start = dict(self.controls)
        self.events.append(("start",))

    def stop(self) -> None:
        if self.started:
            self.started = False
            self.events.append(("stop",))

    def close(self) -> None:
        self.events.append(("close",))
        if self.hang_close:
            threading.Event().wait()
        self.stop()
        self.is_open = False

    def cancel_all_and_flush(self) -> None:
        self.events.append(("cancel_all_and_flush",))

    def _dispatch(self, name: str, result_fn: Any, wait: Any, signal_function: Any) -> Any:
        self.events.append((name, wait))
        if not self.started:
            raise RuntimeError("Camera is not running")
        with Picamera2._lock:
            hang = Picamera2.hang_requests > 0
            if hang:
                Picamera2.hang_requests -= 1
        job = Job(None if hang else result_fn(), hang=hang)
        if wait is None:
            wait = signal_function is None
        if not wait:
            return job
        return job.get_result(timeout=None if wait is True else wait)

    def _next_request(self) -> CompletedRequest:
        self._frame += 1
        return CompletedRequest(self, self._frame)

    def capture_request(self, wait: Any = None, signal_function: Any = None, flush: Any = None) -> Any:
        return self._dispatch("capture_request", self._next_request, wait, signal_function)

    @contextlib.contextmanager
    def captured_request(self, wait: Any = None, flush: Any = None):
        request = self.capture_request(wait=wait, flush=flush)
        try:
            yield request
        finally:
            request.release()

    def capture_metadata(self, wait: Any = None, signal_function: Any = None) -> Any:
        return self._dispatch("capture_metadata", lambda: self._next_request().get_metadata(),
                              wait, signal_function)

    def autofocus_cycle(self, wait: Any = None, signal_function: Any = None) -> Any:
        self.set_controls({"AfMode": _controls.AfModeEnum.Auto, "AfTrigger": _controls.AfTriggerEnum.Start})
        return self._dispatch("autofocus_cycle", lambda: True, wait, signal_function)

    def capture_file(self, file_output: Any, name: str = "main", format: str | None = None,
                     wait: Any = None, signal_function: Any = None, exif_data: Any = None) -> Any:
        def run() -> dict[str, Any]:
            request = self._next_request()
            request.save(name, file_output, format=format, exif_data=exif_data)
            md = request.get_metadata()
            request.release()
            return md
        return self._dispatch("capture_file", run, wait, signal_function)

    def __enter__(self) -> Picamera2:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Preview:
    """picamera2.Preview's names (the reference uses Preview.NULL)."""

    NULL, DRM, QT, QTGL = range(4)


__all__ = ["Picamera2", "Preview", "CompletedRequest", "Job", "TimeoutError"]
