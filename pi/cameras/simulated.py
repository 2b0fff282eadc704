"""A simulated camera: a landscape whose light follows the time of day, for machines without one.

Frames are rendered cheaply with numpy at up to 1152 pixels wide, scaled up to the
configured resolution, stamped with the time and encoded as JPEG. The scene has a sky
and hills lit by a sun that rises and sets with the (optionally sped-up) local time, a
moon and stars at night, drifting clouds, a house whose windows light up after dark, and
a van that drives past every 40 seconds. Its metadata is shaped like Picamera2's and
follows the frame's brightness: Lux, ExposureTime, AnalogueGain, ColourTemperature, ...
"""

from __future__ import annotations

import io
import math
import time
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFont

from pi.cameras.base import Camera, Capture, fit_size
from pi.thumbnails import encode_jpeg, make_thumbnail

RENDER_BOX = (1152, 1152)
PREVIEW_QUALITY = 70
#: Full-resolution grain (sensor noise and fine detail), +-GRAIN levels. It gives the
#: pictures the fine detail, and so the JPEG size, of real ones: about 2.9 MB at 4608x2592.
GRAIN = 8
#: The van drives past once every VAN_PERIOD seconds (real time), taking VAN_CROSSING.
VAN_PERIOD = 40.0
VAN_CROSSING = 3.0


@dataclass
class _Layers:
    """The parts of the scene that don't change, precomputed for one render size."""

    y: np.ndarray  # (h, 1) row position 0..1
    x: np.ndarray  # (1, w) column position 0..1
    sky: np.ndarray  # (h, w) bool
    ground: np.ndarray  # (h, w, 3) float32 base colour of hills, house and road
    texture: np.ndarray  # (h, w, 1) float32 fixed detail
    stars: np.ndarray  # (h, w) float32 star brightness
    clouds: np.ndarray  # (h, 2w) float32 cloud density, scrolled by the wind
    windows: np.ndarray  # (h, w) bool
    road_top: float
    road_bottom: float


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: tuple[int, int]) -> np.ndarray:
    coarse = rng.random(cells, dtype=np.float32)
    img = Image.fromarray((coarse * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float32) / 255.0


def _build_layers(w: int, h: int, view: int = 0) -> _Layers:
    # `view` picks one of a few outlooks, so cameras with different names see different places.
    rng = np.random.default_rng(20230419 + view)
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    phase = 0.5 + 1.7 * (view % 4)
    horizon = 0.60 + 0.05 * np.sin(2 * np.pi * x * 1.3 + phase) + 0.025 * np.sin(2 * np.pi * x * 3.7)
    sky = y < horizon
    ground = np.zeros((h, w, 3), np.float32)
    ground[...] = np.array([70, 120, 50], np.float32)
    # Far hills are bluer and lighter.
    depth = np.clip((y - horizon) / 0.4, 0, 1)[..., None]
    ground = ground * (0.75 + 0.25 * depth) + np.array([30, 30, 40], np.float32) * (1 - depth)
    road_top, road_bottom = 0.84, 0.93
    road = (y >= road_top) & (y < road_bottom)
    ground[np.broadcast_to(road, (h, w))] = (90, 90, 95)
    # A house with a red roof, and its windows.
    hx0 = (0.68, 0.14, 0.42, 0.56)[view % 4]
    hx1, hy0, hy1 = hx0 + 0.18, 0.56, 0.80
    house = (x >= hx0) & (x < hx1) & (y >= hy0) & (y < hy1)
    ground[house] = (200, 190, 170)
    roof = (y < hy0) & (y >= hy0 - 0.12) & (np.abs(x - (hx0 + hx1) / 2) < (y - (hy0 - 0.12)) * 0.9)
    ground[roof] = (150, 50, 40)
    sky = sky & ~roof & ~house
    windows = np.zeros((h, w), bool)
    for wx in (hx0 + 0.03, hx0 + 0.11):
        windows |= (x >= wx) & (x < wx + 0.04) & (y >= 0.61) & (y < 0.68)
    ground[windows] = (60, 70, 90)
    texture = (_smooth_noise(rng, h, w, (max(2, h // 3), max(2, w // 3))) - 0.5)[..., None] * 40
    stars = np.zeros((h, w), np.float32)
    count = max(10, w * h // 2500)
    sy, sx = rng.integers(0, h, count), rng.integers(0, w, count)
    stars[sy, sx] = rng.uniform(120, 255, count).astype(np.float32)
    stars[~sky] = 0
    clouds = np.clip(_smooth_noise(rng, h, 2 * w, (7, 24)) * 2.2 - 1.2, 0, 1)
    clouds *= np.clip(1.0 - y / 0.55, 0, 1)
    return _Layers(y, x, sky, ground, texture, stars, clouds, windows, road_top, road_bottom)


def daylight(sim_time: float) -> tuple[float, float, float]:
    """Return (daylight 0..1, sun elevation -1..1, day progress 0..1) at a local time."""
    local = time.localtime(sim_time)
    hours = local.tm_hour + local.tm_min / 60 + (sim_time % 60) / 3600
    elevation = math.sin(math.pi * (hours - 6.0) / 12.0)
    t = min(1.0, max(0.0, (elevation + 0.1) / 0.45))
    return t * t * (3 - 2 * t), elevation, ((hours - 6.0) % 24) / 12.0


class SimulatedCamera(Camera):
    """Generated frames at any resolution, with Picamera2-shaped metadata."""

    backend = "simulated"

    def __init__(self, resolution: tuple[int, int] = (4608, 2592), jpeg_quality: int = 90,
                 thumbnail_size: tuple[int, int] = (320, 320),
                 preview_size: tuple[int, int] = (640, 640), speedup: float = 1.0,
                 label: str = "", clock=time.time) -> None:
        self.resolution = resolution
        self.jpeg_quality = jpeg_quality
        self.thumbnail_size = thumbnail_size
        self.preview_size = fit_size(resolution, preview_size)
        self.speedup = speedup
        self.label = label
        self.clock = clock
        self._start = clock()
        self._layers: dict[tuple[int, int], _Layers] = {}
        self._grain: Image.Image | None = None
        self._rng = np.random.default_rng()
        self._font: ImageFont.FreeTypeFont | ImageFont.ImageFont | None = None
        self.is_open = False
        self.captures = 0

    def describe(self) -> str:
        """Return e.g. 'simulated 4608x2592 (time x720)'."""
        speed = f" (time x{self.speedup:g})" if self.speedup != 1 else ""
        return f"simulated {self.resolution[0]}x{self.resolution[1]}{speed}"

    def open(self) -> None:
        """Get ready; nothing to open."""
        self.is_open = True

    def close(self) -> None:
        """Nothing to release."""
        self.is_open = False

    def sim_time(self, now: float) -> float:
        """Return the scene's time for a wall-clock time (sped up from the start)."""
        return self._start + (now - self._start) * self.speedup

    def render(self, size: tuple[int, int], now: float) -> np.ndarray:
        """Return the scene at `now` as an (h, w, 3) uint8 array of the given size."""
        w, h = size
        layers = self._layers.get(size)
        if layers is None:
            layers = self._layers[size] = _build_layers(w, h, zlib.crc32(self.label.encode()) % 4)
        light, elevation, progress = daylight(self.sim_time(now))
        y = layers.y
        dusk = max(0.0, 1.0 - abs(elevation) / 0.25)  # warm light near sunrise and sunset
        zenith = np.array([35, 110, 215], np.float32) * light + np.array([4, 6, 20], np.float32)
        horizon = (np.array([170, 200, 235], np.float32) * light
                   + np.array([240, 120, 50], np.float32) * dusk * 0.8
                   + np.array([10, 12, 30], np.float32))
        grad = np.clip(y / 0.6, 0, 1)[..., None]
        sky = zenith + (horizon - zenith) * grad  # (h, 1, 3)
        offset = int((now * 0.01 * w) % w)
        cloud = layers.clouds[:, offset:offset + w][..., None]
        sky = sky * (1 - cloud * 0.8) + cloud * 0.8 * (np.float32(30) + 210 * light)
        ground = layers.ground * (0.05 + 0.95 * light) + layers.texture * (0.2 + 0.8 * light)
        frame = np.where(layers.sky[..., None], sky + layers.stars[..., None] * (1 - light), ground)
        if light < 0.35:
            frame[layers.windows] = (250, 210, 120)
        self._draw_disc(frame, layers, elevation, progress)
        self._draw_van(frame, layers, now, light)
        return np.clip(frame, 0, 255).astype(np.uint8)

    @staticmethod
    def _draw_disc(frame: np.ndarray, layers: _Layers, elevation: float, progress: float) -> None:
        h, w = frame.shape[:2]
        if elevation > -0.05:
            cx, cy, colour = 0.05 + 0.9 * min(1.0, progress), 0.58 - 0.5 * elevation, (255, 245, 200)
        else:
            night = ((progress - 1.0) % 2.0)
            cx, cy, colour = 0.1 + 0.8 * min(1.0, night), 0.3, (220, 220, 235)
        r = 0.035
        disc = ((layers.x - cx) * w) ** 2 + ((layers.y - cy) * h) ** 2 < (r * h) ** 2
        frame[disc & layers.sky] = colour

    @staticmethod
    def _draw_van(frame: np.ndarray, layers: _Layers, now: float, light: float) -> None:
        phase = (now % VAN_PERIOD) / VAN_CROSSING
        if phase >= 1.0:
            return
        h, w = frame.shape[:2]
        vw, vh = 0.2, 0.12
        x0 = -vw + phase * (1 + vw)
        y1 = layers.road_bottom - 0.01
        body = (layers.x >= x0) & (layers.x < x0 + vw) & (layers.y >= y1 - vh) & (layers.y < y1)
        frame[body] = np.array([230, 230, 235], np.float32) * (0.15 + 0.85 * light)
        cab = body & (layers.x >= x0 + vw * 0.75) & (layers.y < y1 - vh * 0.55)
        frame[cab] = (40, 60, 80)
        lamp = ((layers.x >= x0 + vw - 0.008) & (layers.x < x0 + vw)
                & (layers.y >= y1 - 0.04) & (layers.y < y1 - 0.02))
        frame[lamp] = (255, 255, 200)

    def _stamp(self, img: Image.Image, now: float) -> None:
        w, h = img.size
        size = max(10, h // 24)
        if self._font is None or getattr(self._font, "size", size) != size:
            try:
                self._font = ImageFont.load_default(size=size)
            except (TypeError, OSError):
                self._font = ImageFont.load_default()
        text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        if self.speedup != 1:
            text += time.strftime("  (scene %H:%M)", time.localtime(self.sim_time(now)))
        if self.label:
            text = f"{self.label}  {text}"
        ImageDraw.Draw(img).text((size // 2, size // 2), text, font=self._font,
                                 fill=(255, 255, 255), stroke_width=max(1, size // 12),
                                 stroke_fill=(0, 0, 0))

    def metadata(self, now: float) -> dict[str, object]:
        """Return Picamera2-shaped metadata consistent with the scene's light at `now`."""
        light, _, _ = daylight(self.sim_time(now))
        jitter = float(self._rng.normal(0, 0.02))
        lux = max(0.1, (0.4 + 2500.0 * light * light) * (1 + jitter))
        needed = 400_000.0 / lux  # microseconds at gain 1
        exposure = int(min(66_666, max(100, needed)))
        gain = float(min(16.0, max(1.0, needed / exposure)))
        temperature = int(2900 + 3300 * light + 40 * jitter)
        red, blue = 1.2 + 1.2 * light, 2.6 - 0.9 * light
        w, h = self.resolution
        return {
            "SensorTimestamp": time.monotonic_ns(),
            "ScalerCrop": (0, 0, w, h),
            "DigitalGain": round(1.0 + abs(jitter), 4),
            "ColourGains": (round(red, 4), round(blue, 4)),
            "SensorBlackLevels": (4096, 4096, 4096, 4096),
            "AeLocked": light > 0.1,
            "Lux": lux,
            "FrameDuration": max(exposure + 200, 33_333),
            "AnalogueGain": gain,
            "ColourTemperature": temperature,
            "ExposureTime": exposure,
            "LensPosition": round(0.5 + jitter, 4),
            "FocusFoM": int(300 + 1200 * light),
            "SensorTemperature": round(38.0 + 4 * light + jitter, 1),
        }

    def _grain_image(self) -> Image.Image:
        if self._grain is None or self._grain.size != self.resolution:
            w, h = self.resolution
            noise = np.random.default_rng(7).integers(0, 2 * GRAIN + 1, (h, w), dtype=np.uint8)
            self._grain = Image.fromarray(noise).convert("RGB")
        return self._grain

    def capture(self) -> Capture:
        """Render, scale up, add grain, stamp and encode a full-resolution picture."""
        now = self.clock()
        render_size = fit_size(self.resolution, RENDER_BOX)
        img = Image.fromarray(self.render(render_size, now))
        if render_size != self.resolution:
            img = img.resize(self.resolution, Image.Resampling.BILINEAR)
        img = ImageChops.add(img, self._grain_image(), 1.0, -GRAIN)
        self._stamp(img, now)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=self.jpeg_quality)
        jpeg = buf.getvalue()
        self.captures += 1
        return Capture(jpeg=jpeg, thumbnail=make_thumbnail(jpeg, self.thumbnail_size),
                       width=img.width, height=img.height, metadata=self.metadata(now))

    def preview(self) -> bytes:
        """Render the scene at preview size and encode it."""
        now = self.clock()
        img = Image.fromarray(self.render(self.preview_size, now))
        self._stamp(img, now)
        return encode_jpeg(img, PREVIEW_QUALITY, max_bytes=None)

    def motion_frame(self) -> np.ndarray:
        """Render a 160-pixel-wide greyscale frame."""
        size = fit_size(self.resolution, (160, 160))
        rgb = self.render(size, self.clock()).astype(np.float32)
        return (rgb @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)
