"""The simulated and directory cameras, thumbnails, and metadata mapping."""

from __future__ import annotations

import io
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pi.cameras.base import CameraError, Capture
from pi.cameras.directory import DirectoryCamera
from pi.cameras.simulated import SimulatedCamera
from pi.metadata import record_from_capture
from pi.thumbnails import THUMBNAIL_MAX_BYTES, make_thumbnail


def at(hour: float) -> float:
    return datetime(2024, 6, 21, 0, 0).timestamp() + hour * 3600


def mean_brightness(jpeg: bytes) -> float:
    with Image.open(io.BytesIO(jpeg)) as img:
        return float(np.asarray(img.convert("L")).mean())


def test_simulated_frames_follow_the_day_and_metadata_agrees():
    noon = SimulatedCamera(resolution=(640, 360), clock=lambda: at(12)).capture()
    night = SimulatedCamera(resolution=(640, 360), clock=lambda: at(2)).capture()
    assert mean_brightness(noon.jpeg) > 3 * mean_brightness(night.jpeg)
    assert noon.metadata["Lux"] > 100 * night.metadata["Lux"]
    assert night.metadata["ExposureTime"] > 100 * noon.metadata["ExposureTime"]
    assert night.metadata["AnalogueGain"] > noon.metadata["AnalogueGain"]
    assert noon.metadata["ColourTemperature"] > night.metadata["ColourTemperature"]
    for key in ("Lux", "ExposureTime", "AnalogueGain", "ColourTemperature", "LensPosition",
                "DigitalGain", "SensorTimestamp", "FrameDuration"):
        assert key in noon.metadata


def test_simulated_frames_have_the_configured_resolution_and_change_over_time():
    now = [at(12)]
    camera = SimulatedCamera(resolution=(1280, 720), clock=lambda: now[0])
    first = camera.capture()
    now[0] += 3
    second = camera.capture()
    with Image.open(io.BytesIO(first.jpeg)) as img:
        assert img.size == (1280, 720) and (first.width, first.height) == (1280, 720)
    assert first.jpeg != second.jpeg
    a, b = (np.asarray(Image.open(io.BytesIO(c.jpeg)).convert("L"), dtype=np.int16)
            for c in (first, second))
    assert np.abs(a - b).mean() > 0.5  # clouds drift, the van drives, the clock ticks


def test_time_speedup_turns_night_into_day_within_minutes():
    now = [at(0)]
    camera = SimulatedCamera(resolution=(320, 180), speedup=720, clock=lambda: now[0])
    night = camera.metadata(now[0])["Lux"]
    now[0] += 60  # one real minute is twelve scene hours
    assert camera.metadata(now[0])["Lux"] > 100 * night


def test_thumbnails_of_big_pictures_are_small_and_fit_the_box():
    camera = SimulatedCamera(resolution=(4608, 2592), clock=lambda: at(12))
    capture = camera.capture()
    with Image.open(io.BytesIO(capture.thumbnail)) as thumb:
        assert thumb.size == (320, 180)
    assert len(capture.thumbnail) <= THUMBNAIL_MAX_BYTES
    noise = np.random.default_rng(0).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "JPEG", quality=95)
    assert len(make_thumbnail(buf.getvalue(), (640, 640))) <= THUMBNAIL_MAX_BYTES


def photo(path: Path, shade: int, exif: dict[int, object] | None = None) -> bytes:
    img = Image.new("RGB", (800, 600), (shade, shade, shade))
    buf = io.BytesIO()
    if exif:
        data = Image.Exif()
        data[0x8769] = dict(exif)  # the Exif sub-IFD, written this way by every Pillow >= 10
        img.save(buf, "JPEG", quality=85, exif=data)
    else:
        img.save(buf, "JPEG", quality=85)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def test_directory_camera_replays_files_unchanged_in_a_loop_with_exif_exposure(tmp_path):
    a = photo(tmp_path / "a.jpg", 50, {0x829A: 0.01, 0x829D: 2.8, 0x8827: 200})
    b = photo(tmp_path / "b.JPEG", 200)
    (tmp_path / "notes.txt").write_text("not a picture")
    with DirectoryCamera(tmp_path) as camera:
        shots = [camera.capture() for _ in range(3)]
        preview = camera.preview()
        frame = camera.motion_frame()
    assert [s.jpeg for s in shots] == [a, b, a]
    md = shots[0].metadata
    assert md["ExposureTime"] == 10000 and md["AnalogueGain"] == 2.0
    assert md["Lux"] == pytest.approx(2.5 * 2.8 ** 2 / 0.01 / 2, rel=0.01)
    assert "Lux" not in shots[1].metadata and shots[1].metadata["SourceFile"] == "b.JPEG"
    assert (shots[0].width, shots[0].height) == (800, 600)
    with Image.open(io.BytesIO(preview)) as img:
        assert img.width <= 640
    assert frame.ndim == 2 and frame.shape[1] <= 160


def test_directory_camera_without_jpegs_says_how_to_fix_it(tmp_path):
    with pytest.raises(CameraError, match="has no .jpg files"):
        DirectoryCamera(tmp_path).open()


def test_metadata_is_read_key_by_key_and_odd_values_are_left_out():
    capture = Capture(jpeg=b"\xff\xd8x", thumbnail=b"t", width=10, height=5, metadata={
        "Lux": 12.34, "ExposureTime": 1999.6, "AnalogueGain": "n/a", "DigitalGain": 1.25,
        "SensorTemperature": float("nan"), "SomethingNew": (1, 2)})
    record = record_from_capture(capture, "cam", "sensor", time.time())
    h = record.to_hash()
    assert h["lux"] == "12.3" and h["exposure_time"] == "2000" and h["digital_gain"] == "1.25"
    for missing in ("analogue_gain", "colour_temperature", "lens_position", "sensor_temperature",
                    "SomethingNew"):
        assert missing not in h
    assert record_from_capture(Capture(b"j", b"t", 1, 1, {}), "cam", "interval", 1.0).lux is None
