"""A stand-in for libcamera's Python bindings, so the REAL picamera2 package runs on a PC.

Only the part of a Raspberry Pi that picamera2 reaches through these bindings is faked:
the camera manager (with its event fd), camera configuration and validation, buffers
filled by a "sensor" thread, requests with their controls and typed metadata. It follows
raspberrypi/libcamera's Python bindings (src/py/libcamera): enums and control ids as
there, array controls returned as tuples, rectangles as `Rectangle`, and the VC4 (Pi 4
and older) pipeline's validation: at most two outputs, the second one YUV and no bigger
than the first, sizes made even, strides aligned as the ISP lays buffers out.

Switches for tests live in KNOBS (reset with `reset()`):
  model           "imx708" (Camera Module 3, autofocus) or "imx219" (v2, fixed focus)
  frame_interval  seconds per frame at the sensor's fastest; FrameDurationLimits can slow it
  af_scan_frames  frames an autofocus cycle (AfMode Auto + AfTrigger Start) scans
  hang            frames stop arriving (a hung camera); requests stay queued. "until_restart":
                  until the camera is stopped (as a reopen does)
  stop_hangs      Camera.stop() never returns (a camera wedged in the kernel, D state)
  busy            acquire() fails as when another process holds the camera
  night_noise     lores frames are a dark static scene plus high-gain sensor noise
  moving_block    (with night_noise) a bright block moves across the lores frames
Counters: STATS.frames (frames completed), STATS.acquires (the thread name of each acquire()
attempt), STATS.syncs and STATS.cma_bytes (set by the allocator stand-in).
"""

from __future__ import annotations

import enum
import mmap
import os
import threading
import time
from types import SimpleNamespace

import numpy as np

KNOBS = SimpleNamespace()
STATS = SimpleNamespace()


def reset() -> None:
    """Put every switch back to a healthy Camera Module 3 at 30 fps."""
    KNOBS.__dict__.update(model="imx708", frame_interval=1 / 30, af_scan_frames=3, hang=False,
                          stop_hangs=False, busy=False, night_noise=False, moving_block=False)
    STATS.__dict__.update(frames=0, syncs=0, acquires=[], cma_bytes=0, cma_buffers=[])
    manager = CameraManager._instance if "CameraManager" in globals() else None
    if manager is not None:  # unplug the cameras of the last test, even a wedged one
        for camera in manager._cameras:
            with camera._cv:
                camera.started = False
                camera._cv.notify_all()
        manager._cameras = []


# --- Small value types ----------------------------------------------------------------------


class Size:
    def __init__(self, width: int = 0, height: int = 0) -> None:
        self.width, self.height = int(width), int(height)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Size) and (self.width, self.height) == (other.width, other.height)

    def __hash__(self) -> int:
        return hash((self.width, self.height))

    def __repr__(self) -> str:
        return f"{self.width}x{self.height}"


class Point:
    def __init__(self, x: int = 0, y: int = 0) -> None:
        self.x, self.y = x, y


class Rectangle:
    def __init__(self, x: int = 0, y: int = 0, width: int = 0, height: int = 0) -> None:
        self.x, self.y, self.width, self.height = x, y, width, height

    def __repr__(self) -> str:
        return f"({self.x}, {self.y})/{self.width}x{self.height}"


class Transform:
    def __init__(self, other: Transform | None = None, hflip: int = 0, vflip: int = 0,
                 transpose: int = 0) -> None:
        if isinstance(other, Transform):
            hflip, vflip, transpose = other.hflip, other.vflip, other.transpose
        self.hflip, self.vflip, self.transpose = int(hflip), int(vflip), int(transpose)

    def __str__(self) -> str:
        return f"<libcamera.Transform '{'h' * self.hflip}{'v' * self.vflip}'>"


class Orientation(enum.Enum):
    Rotate0 = 1
    Rotate0Mirror = 2
    Rotate180 = 3
    Rotate180Mirror = 4
    Rotate90Mirror = 5
    Rotate270 = 6
    Rotate90 = 7
    Rotate270Mirror = 8


class ColorSpace:
    class Primaries(enum.Enum):
        Raw = 0
        Smpte170m = 1
        Rec709 = 2
        Rec2020 = 3

    class TransferFunction(enum.Enum):
        Linear = 0
        Srgb = 1
        Rec709 = 2

    class YcbcrEncoding(enum.Enum):
        Null = 0
        Rec601 = 1
        Rec709 = 2
        Rec2020 = 3

    class Range(enum.Enum):
        Full = 0
        Limited = 1

    def __init__(self, primaries=None, transferFunction=None, ycbcrEncoding=None,  # noqa: N803
                 range=None) -> None:  # noqa: A002 - the bindings' names
        if isinstance(primaries, ColorSpace):
            other = primaries
            primaries, transferFunction, ycbcrEncoding, range = (
                other.primaries, other.transferFunction, other.ycbcrEncoding, other.range)
        self.primaries, self.transferFunction = primaries, transferFunction
        self.ycbcrEncoding, self.range = ycbcrEncoding, range

    @classmethod
    def _make(cls, p: str, t: str, y: str, r: str) -> ColorSpace:
        return cls(cls.Primaries[p], cls.TransferFunction[t], cls.YcbcrEncoding[y], cls.Range[r])

    @staticmethod
    def Sycc() -> ColorSpace:  # noqa: N802 - the bindings' names
        return ColorSpace._make("Rec709", "Srgb", "Rec601", "Full")

    @staticmethod
    def Smpte170m() -> ColorSpace:  # noqa: N802
        return ColorSpace._make("Smpte170m", "Rec709", "Rec601", "Limited")

    @staticmethod
    def Rec709() -> ColorSpace:  # noqa: N802
        return ColorSpace._make("Rec709", "Rec709", "Rec709", "Limited")

    @staticmethod
    def Raw() -> ColorSpace:  # noqa: N802
        return ColorSpace._make("Raw", "Linear", "Null", "Full")

    def __str__(self) -> str:
        return f"{self.primaries.name}/{self.transferFunction.name}/{self.range.name}"


class PixelFormat:
    def __init__(self, name: object) -> None:
        self.name = str(name)

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self.name)


class StreamRole(enum.Enum):
    Raw = 0
    StillCapture = 1
    VideoRecording = 2
    Viewfinder = 3


# --- Controls and properties ----------------------------------------------------------------


class ControlType(enum.Enum):
    Null = 0
    Bool = 1
    Byte = 2
    Integer32 = 3
    Integer64 = 4
    Float = 5
    String = 6
    Rectangle = 7
    Size = 8
    Point = 9


class ControlId:
    def __init__(self, name: str, type_: ControlType, id_: int) -> None:
        self.name, self.type, self.id = name, type_, id_

    def __repr__(self) -> str:
        return f"libcamera.ControlId({self.name})"


class ControlInfo:
    def __init__(self, min_: object, max_: object, default: object = None) -> None:
        self.min, self.max, self.default = min_, max_, default


class AfModeEnum(enum.IntEnum):
    Manual = 0
    Auto = 1
    Continuous = 2


class AfTriggerEnum(enum.IntEnum):
    Start = 0
    Cancel = 1


class AfStateEnum(enum.IntEnum):
    Idle = 0
    Scanning = 1
    Focused = 2
    Failed = 3


class NoiseReductionModeEnum(enum.IntEnum):
    Off = 0
    Fast = 1
    HighQuality = 2
    Minimal = 3
    ZSL = 4


class ColorFilterArrangementEnum(enum.IntEnum):
    RGGB = 0
    GRBG = 1
    GBRG = 2
    BGGR = 3
    RGB = 4
    MONO = 5


_T = ControlType
_CONTROL_TYPES = {
    "AeEnable": _T.Bool, "AeLocked": _T.Bool, "AwbEnable": _T.Bool, "AfMode": _T.Integer32,
    "AfTrigger": _T.Integer32, "AfState": _T.Integer32, "AnalogueGain": _T.Float,
    "AnalogueGainMode": _T.Integer32, "ColourCorrectionMatrix": _T.Float, "ColourGains": _T.Float,
    "ColourTemperature": _T.Integer32, "DigitalGain": _T.Float, "ExposureTime": _T.Integer32,
    "ExposureTimeMode": _T.Integer32, "FocusFoM": _T.Integer32, "FrameDuration": _T.Integer64,
    "FrameDurationLimits": _T.Integer64, "LensPosition": _T.Float, "Lux": _T.Float,
    "NoiseReductionMode": _T.Integer32, "ScalerCrop": _T.Rectangle, "SensorBlackLevels": _T.Integer32,
    "SensorTemperature": _T.Float, "SensorTimestamp": _T.Integer64,
}
controls = SimpleNamespace(AfModeEnum=AfModeEnum, AfTriggerEnum=AfTriggerEnum, AfStateEnum=AfStateEnum)
for _number, (_name, _type) in enumerate(_CONTROL_TYPES.items(), start=1):
    setattr(controls, _name, ControlId(_name, _type, _number))
controls.draft = SimpleNamespace(NoiseReductionModeEnum=NoiseReductionModeEnum,
                                 NoiseReductionMode=controls.NoiseReductionMode)
properties = SimpleNamespace(draft=SimpleNamespace(ColorFilterArrangementEnum=ColorFilterArrangementEnum))


class _PropertyId:
    def __init__(self, name: str) -> None:
        self.name = name


# --- Streams and configurations -------------------------------------------------------------


class StreamFormats:
    def __init__(self, modes: dict[PixelFormat, list[Size]]) -> None:
        self._modes = modes

    @property
    def pixel_formats(self) -> list[PixelFormat]:
        return list(self._modes)

    def sizes(self, pixel_format: PixelFormat) -> list[Size]:
        return self._modes[pixel_format]


class Stream:
    def __init__(self, configuration: StreamConfiguration) -> None:
        self.configuration = configuration


class StreamConfiguration:
    def __init__(self, role: StreamRole, formats: StreamFormats) -> None:
        self.role = role
        self.size = Size(640, 480)
        self.pixel_format = PixelFormat("XBGR8888")
        self.buffer_count = 4
        self.stride = 0
        self.frame_size = 0
        self.color_space = None
        self.formats = formats
        self.stream = Stream(self)


class SensorConfiguration:
    def __init__(self) -> None:
        self.bit_depth = 0
        self.output_size = Size()


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


def layout(fmt: str, width: int, height: int) -> tuple[int, int]:
    """Return (stride, frame_size) of a buffer as the VC4 ISP and Unicam lay it out."""
    if fmt in ("YUV420", "YVU420"):
        stride = _align(width, 64)
        return stride, stride * height * 3 // 2
    if fmt in ("BGR888", "RGB888"):
        stride = _align(width * 3, 32)
        return stride, stride * height
    if fmt in ("XBGR8888", "XRGB8888"):
        stride = _align(width * 4, 32)
        return stride, stride * height
    if fmt.endswith("_CSI2P"):
        bits = int("".join(c for c in fmt.split("_")[0] if c.isdigit()))
        stride = _align(width * bits // 8, 32)
        return stride, stride * height
    if fmt.startswith("S") and fmt[-2:].isdigit():
        stride = _align(width * 2, 32)
        return stride, stride * height
    raise ValueError(f"libcamera stand-in: unknown pixel format {fmt}")


class CameraConfiguration:
    class Status(enum.Enum):
        Valid = 0
        Adjusted = 1
        Invalid = 2

    def __init__(self, camera: Camera, roles: list[StreamRole]) -> None:
        self.camera = camera
        self._configs = [StreamConfiguration(role, camera._formats) for role in roles]
        self.orientation = Orientation.Rotate0
        self.transform = Transform()
        self.sensor_config = None

    def at(self, index: int) -> StreamConfiguration:
        return self._configs[index]

    def __iter__(self):
        return iter(self._configs)

    def __len__(self) -> int:
        return len(self._configs)

    def validate(self) -> CameraConfiguration.Status:
        status = CameraConfiguration.Status.Valid
        raws = [c for c in self._configs
                if c.role == StreamRole.Raw or str(c.pixel_format).startswith("S")]
        outputs = [c for c in self._configs if c not in raws]
        if len(raws) > 1 or len(outputs) > 2 or not outputs:
            return CameraConfiguration.Status.Invalid
        if len(outputs) == 2 and str(outputs[1].pixel_format) not in ("YUV420", "YVU420"):
            return CameraConfiguration.Status.Invalid  # VC4: the second output must be YUV
        for config in outputs:
            width = min(config.size.width, outputs[0].size.width)
            height = min(config.size.height, outputs[0].size.height)
            width, height = width - width % 2, height - height % 2
            if (width, height) != (config.size.width, config.size.height):
                config.size = Size(width, height)
                status = CameraConfiguration.Status.Adjusted
        mode_format, mode_size = self.camera.mode
        if self.sensor_config is not None and self.sensor_config.output_size.width:
            mode_size = (self.sensor_config.output_size.width, self.sensor_config.output_size.height)
        for config in raws:
            config.size = Size(*mode_size)
            config.pixel_format = PixelFormat(mode_format)
        for config in self._configs:
            stride, frame_size = layout(str(config.pixel_format), config.size.width, config.size.height)
            if config.stride and config.stride != stride:
                status = CameraConfiguration.Status.Adjusted
            config.stride, config.frame_size = stride, frame_size
        return status


# --- Buffers and requests -------------------------------------------------------------------


class FrameMetadata:
    class Status(enum.Enum):
        Success = 0
        Error = 1
        Cancelled = 2
        Startup = 3

    def __init__(self, length: int) -> None:
        self.status = FrameMetadata.Status.Success
        self.planes = [SimpleNamespace(bytes_used=length)]
        self.sequence = 0
        self.timestamp = 0


class FrameBuffer:
    class Plane:
        def __init__(self) -> None:
            self.fd, self.offset, self.length = -1, 0, 0

    def __init__(self, planes: list[FrameBuffer.Plane], cookie: int = 0) -> None:
        self.planes = list(planes)
        self.cookie = cookie
        self.metadata = FrameMetadata(sum(p.length for p in self.planes))


class Request:
    class Status(enum.Enum):
        Pending = 0
        Complete = 1
        Cancelled = 2

    class ReuseFlag(enum.IntEnum):
        Default = 0
        ReuseBuffers = 1

    def __init__(self, camera: Camera, cookie: int) -> None:
        self.camera, self.cookie = camera, cookie
        self.status = Request.Status.Pending
        self.buffers: dict[Stream, FrameBuffer] = {}
        self.metadata: dict[ControlId, object] = {}
        self.controls: dict[ControlId, object] = {}
        self.sequence = 0

    def add_buffer(self, stream: Stream, buffer: FrameBuffer) -> None:
        self.buffers[stream] = buffer

    def reuse(self, *flags: object) -> None:
        self.status = Request.Status.Pending
        self.metadata, self.controls = {}, {}

    def set_control(self, control: ControlId, value: object) -> None:
        self.controls[control] = value


# --- The camera -----------------------------------------------------------------------------

#: model: (raw modes {format: [sizes]}, has a lens, reports its temperature)
SENSORS = {
    "imx708": ({"SRGGB10_CSI2P": [(1536, 864), (2304, 1296), (4608, 2592)]}, True, True),
    "imx219": ({"SRGGB10_CSI2P": [(640, 480), (1640, 1232), (1920, 1080), (3280, 2464)],
                "SRGGB8": [(640, 480), (1640, 1232), (1920, 1080), (3280, 2464)]}, False, False),
}


class Camera:
    def __init__(self, manager: CameraManager, model: str) -> None:
        self.manager = manager
        self.model = model
        modes, self.has_lens, self.has_temperature = SENSORS[model]
        self._formats = StreamFormats({PixelFormat(f): [Size(*s) for s in sizes]
                                       for f, sizes in modes.items()})
        biggest = max((s for sizes in modes.values() for s in sizes), key=lambda s: s[0] * s[1])
        self.mode = ("SRGGB10_CSI2P", biggest)
        self.id = f"/base/soc/i2c0mux/i2c@1/{model}@1a"
        self.acquired = False
        self.started = False
        self.cfg: CameraConfiguration | None = None
        self.applied: dict[str, object] = {}  # every control value the camera has been given
        self._queue: list[Request] = []
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._af_state = AfStateEnum.Idle
        self._af_frames_left = 0
        self._frame = 0
        self._filled: dict[tuple[int, int], tuple] = {}
        self._rng = np.random.default_rng(1)

    @property
    def properties(self) -> dict[_PropertyId, object]:
        return {_PropertyId("Model"): self.model, _PropertyId("Location"): 2,
                _PropertyId("Rotation"): 0, _PropertyId("ColorFilterArrangement"): 0,
                _PropertyId("PixelArraySize"): Size(*self.mode[1])}

    @property
    def controls(self) -> dict[ControlId, ControlInfo]:
        width, height = self.mode[1]
        info = {controls.ExposureTime: ControlInfo(26, 112015443, 20000),
                controls.AnalogueGain: ControlInfo(1.0, 16.0, 1.0),
                controls.FrameDurationLimits: ControlInfo(33333, 120000000, 33333),
                controls.NoiseReductionMode: ControlInfo(0, 4, 0),
                controls.ScalerCrop: ControlInfo(Rectangle(0, 0, 64, 64), Rectangle(0, 0, width, height),
                                                 Rectangle(0, 0, width, height)),
                controls.AwbEnable: ControlInfo(False, True, None),
                controls.AeEnable: ControlInfo(False, True, None),
                controls.ExposureTimeMode: ControlInfo(0, 1, 0),
                controls.AnalogueGainMode: ControlInfo(0, 1, 0)}
        if self.has_lens:
            info[controls.AfMode] = ControlInfo(0, 2, 0)
            info[controls.AfTrigger] = ControlInfo(0, 1, 0)
            info[controls.LensPosition] = ControlInfo(0.0, 15.0, 1.0)
        return info

    def acquire(self) -> None:
        STATS.acquires.append(threading.current_thread().name)
        if self.acquired or KNOBS.busy:
            raise RuntimeError("Failed to acquire camera: Device or resource busy")
        self.acquired = True

    def release(self) -> None:
        if self.started:
            raise RuntimeError("Failed to release camera: Device or resource busy")
        self.acquired = False

    def generate_configuration(self, roles: list[StreamRole]) -> CameraConfiguration:
        return CameraConfiguration(self, roles)

    def configure(self, config: CameraConfiguration) -> int:
        if not self.acquired:
            return -13
        self.cfg = config
        return 0

    def create_request(self, cookie: int = 0) -> Request:
        return Request(self, cookie)

    def start(self, start_controls: dict | None = None) -> None:
        self.started = True
        self._apply(start_controls or {})
        self._thread = threading.Thread(target=self._run, daemon=True, name="libcamera-stand-in")
        self._thread.start()

    def stop(self) -> None:
        if KNOBS.stop_hangs:
            threading.Event().wait()  # VIDIOC_STREAMOFF stuck in the kernel (picamera2 #1264, #1275)
        if KNOBS.hang == "until_restart":
            KNOBS.hang = False
        with self._cv:
            self.started = False
            pending, self._queue = self._queue, []
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(2)
        for request in pending:
            request.status = Request.Status.Cancelled
            self.manager._complete(request)

    def queue_request(self, request: Request) -> None:
        with self._cv:
            self._apply(request.controls)
            self._queue.append(request)
            self._cv.notify_all()

    # The sensor and the ISP ------------------------------------------------------------

    def _apply(self, values: dict) -> None:
        # As the Raspberry Pi IPA does, AfMode is handled before the other controls, so an
        # AfTrigger in the same request acts in the new mode.
        for control, value in sorted(values.items(), key=lambda item: item[0].name != "AfMode"):
            name = control.name
            self.applied[name] = value
            if not self.has_lens:
                continue
            auto = self.applied.get("AfMode") == AfModeEnum.Auto
            if name == "AfTrigger" and value == AfTriggerEnum.Start and auto:
                self._af_state, self._af_frames_left = AfStateEnum.Scanning, KNOBS.af_scan_frames
            elif name == "AfTrigger" and value == AfTriggerEnum.Cancel:
                self._af_state, self._af_frames_left = AfStateEnum.Idle, 0
            elif name == "AfMode" and value == AfModeEnum.Continuous:
                self._af_state, self._af_frames_left = AfStateEnum.Focused, 0

    def frame_interval(self) -> float:
        """Seconds per frame: the sensor's fastest, or slower if FrameDurationLimits says so."""
        limits = self.applied.get("FrameDurationLimits")
        minimum = limits[0] / 1e6 if limits else 0.0
        return max(KNOBS.frame_interval, minimum)

    def _run(self) -> None:
        next_frame = time.monotonic()
        while True:
            with self._cv:
                while self.started and (not self._queue or KNOBS.hang):
                    self._cv.wait(0.02)
                if not self.started:
                    return
                request = self._queue.pop(0)
            next_frame = max(next_frame + self.frame_interval(), time.monotonic())
            time.sleep(max(0.0, next_frame - time.monotonic()))
            self._fill(request)
            STATS.frames += 1
            self.manager._complete(request)

    def _pattern(self, fmt: str, width: int, height: int, stride: int, size: int) -> np.ndarray | None:
        """A diagonal ramp (luma, or every colour channel), laid out with the stream's stride."""
        ramp = ((np.arange(width, dtype=np.uint16)[None, :] + np.arange(height, dtype=np.uint16)[:, None])
                % 256).astype(np.uint8)
        out = np.zeros(size, np.uint8)
        if fmt == "YUV420":
            out[:stride * height].reshape(height, stride)[:, :width] = ramp
            out[stride * height:] = 128
        elif fmt in ("BGR888", "RGB888"):
            out.reshape(height, stride)[:, :width * 3] = np.repeat(ramp, 3, axis=1)
        else:
            return None  # raw Bayer: left as zeros, nobody looks at it here
        return out

    def _fill(self, request: Request) -> None:
        self._frame += 1
        for stream, buffer in request.buffers.items():
            config = stream.configuration
            fmt, stride = str(config.pixel_format), config.stride
            width, height = config.size.width, config.size.height
            plane = buffer.planes[0]
            with mmap.mmap(plane.fd, plane.length) as mm:
                self._draw(np.frombuffer(mm, np.uint8), (plane.fd, os.fstat(plane.fd).st_ino), fmt,
                           width, height, stride)
            buffer.metadata.sequence = self._frame
        request.metadata = self._metadata()
        request.status = Request.Status.Complete

    def _draw(self, array: np.ndarray, fd: tuple[int, int], fmt: str, width: int, height: int,
              stride: int) -> None:
        key = (fmt, width, height, stride)
        if self._filled.get(fd) != key:  # a static scene: written once per buffer
            pattern = self._pattern(fmt, width, height, stride, array.size)
            if pattern is not None:
                array[:pattern.size] = pattern
            self._filled[fd] = key
        if fmt != "YUV420":
            return
        luma = array[:stride * height].reshape(height, stride)
        # The top 8 rows change every frame, so consecutive frames differ a little.
        luma[:8, :width] = (self._frame * 7) % 256
        if KNOBS.night_noise:  # a dark scene at high gain: grain of sigma 8 grey levels
            dark = np.full((height, width), 24, np.int16)
            dark += self._rng.normal(0, 8, (height, width)).astype(np.int16)
            if KNOBS.moving_block:
                side = height // 4
                x = (self._frame * side // 2) % max(1, width - side)
                dark[height // 3:height // 3 + side, x:x + side] += 150
            luma[:, :width] = np.clip(dark, 0, 255).astype(np.uint8)

    def _metadata(self) -> dict[ControlId, object]:
        af_state = None
        if self.has_lens:
            if self._af_state == AfStateEnum.Scanning:
                if self._af_frames_left > 0:
                    self._af_frames_left -= 1
                else:
                    self._af_state = AfStateEnum.Focused
            af_state = self._af_state
        c = controls
        metadata = {c.SensorTimestamp: time.monotonic_ns(), c.ExposureTime: 19997, c.AnalogueGain: 2.0,
                    c.DigitalGain: 1.0103, c.ColourTemperature: 4821, c.Lux: 312.7,
                    c.FrameDuration: int(self.frame_interval() * 1e6), c.ColourGains: (1.93, 1.61),
                    c.ColourCorrectionMatrix: (1.7, -0.5, -0.2, -0.3, 1.6, -0.3, 0.0, -0.6, 1.6),
                    c.ScalerCrop: Rectangle(0, 0, *self.mode[1]), c.SensorBlackLevels: (4096,) * 4,
                    c.AeLocked: False, c.FocusFoM: 1422}
        if self.has_temperature:
            metadata[c.SensorTemperature] = 41.0
        if af_state is not None:
            metadata[c.AfState] = int(af_state)
            metadata[c.LensPosition] = 1.5
        return metadata


class CameraManager:
    _instance: CameraManager | None = None

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._cameras: list[Camera] = []
        self._ready: list[Request] = []
        self._lock = threading.Lock()

    @property
    def cameras(self) -> list[Camera]:
        """The connected camera: KNOBS.model (swapped when the knob changes and it is free)."""
        current = self._cameras[0] if self._cameras else None
        if current is None or (current.model != KNOBS.model and not current.acquired):
            self._cameras = [Camera(self, KNOBS.model)] if KNOBS.model else []
        return self._cameras

    @classmethod
    def singleton(cls) -> CameraManager:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    @property
    def version(self) -> str:
        return "v0.5.0+rpt-stand-in"

    @property
    def event_fd(self) -> int:
        return self._read_fd

    def _complete(self, request: Request) -> None:
        with self._lock:
            self._ready.append(request)
        os.write(self._write_fd, b"\x00")

    def get_ready_requests(self) -> list[Request]:
        try:
            while os.read(self._read_fd, 4096):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            ready, self._ready = self._ready, []
        return ready

    def get(self, camera_id: str) -> Camera:
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        raise KeyError(camera_id)

    find = get


class FrameBufferAllocator:
    """Only picamera2's legacy LibcameraAllocator uses this; the DMA allocator is the default."""


_libcamera = SimpleNamespace(Transform=Transform, ColorSpace=ColorSpace)

reset()
