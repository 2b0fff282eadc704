"""The picamera2 backend on the REAL picamera2 package, every pinned release (tests/picamera2-versions.txt).

Only libcamera's bindings, the DMA heap and import-time hardware modules are stood in for
(tests/picamera2_host); picamera2's own code runs as on a Pi.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from pi.cameras.base import CameraError, CameraUnsupported
from pi.cameras.picamera2_camera import CameraInterrupted, Picamera2Camera
from pi.metadata import record_from_capture
from pi.thumbnails import THUMBNAIL_MAX_BYTES
from pi.triggers import MotionDetector
from tests.picamera2_host import load, pinned_versions, unload

PINNED = pinned_versions()
WORKING = [p.version for p in PINNED if p.expect == "works"]
REFUSED = [p.version for p in PINNED if p.expect == "refused"]
NEWEST = WORKING[-1]


@pytest.fixture(scope="module", params=WORKING)
def host(request):
    """One supported picamera2 release, imported over the stand-ins."""
    loaded = load(request.param)
    yield loaded
    unload()


@pytest.fixture
def fresh(host):
    """The host with every stand-in knob back to a healthy Camera Module 3."""
    host.libcamera.reset()
    yield host
    host.libcamera.reset()


@pytest.fixture
def newest():
    """Only the newest release, for behaviour that doesn't depend on the release."""
    loaded = load(NEWEST)
    yield loaded
    loaded.libcamera.reset()
    unload()


def make(**kwargs) -> Picamera2Camera:
    options = dict(resolution=(1280, 720), thumbnail_size=(320, 320), preview_size=(640, 640),
                   timeout=1.0, close_timeout=0.5, autofocus=True, autofocus_timeout=1.0)
    options.update(kwargs)
    return Picamera2Camera(**options)


def ramp_error(img: Image.Image, scale: float) -> float:
    """Median distance of an image's luma from the stand-in's diagonal ramp (x + y) % 256."""
    luma = np.asarray(img.convert("L"), np.int16)[16:]  # the top rows change every frame
    h, w = luma.shape
    expect = ((np.arange(w)[None, :] + np.arange(16, 16 + h)[:, None]) * scale) % 256
    err = np.abs(luma - expect)
    return float(np.median(np.minimum(err, 256 - err)))


@pytest.mark.parametrize("main_format", ["YUV420", "BGR888"])
def test_every_supported_release_stores_the_picture_and_a_thumbnail_of_the_same_frame(fresh, main_format):
    with make(main_format=main_format) as camera:
        capture = camera.capture()
    picture = Image.open(io.BytesIO(capture.jpeg))
    thumbnail = Image.open(io.BytesIO(capture.thumbnail))
    assert picture.size == (1280, 720) and (capture.width, capture.height) == (1280, 720)
    assert ramp_error(picture, 1.0) < 4  # the main stream, not lores scaled up
    assert thumbnail.size == (320, 180) and len(capture.thumbnail) <= THUMBNAIL_MAX_BYTES
    assert ramp_error(thumbnail, 2.0) < 6  # lores (640x360) scaled to 320x180
    record = record_from_capture(capture, "garden", "interval", time.time())
    fields = record.to_hash()
    assert fields["lux"] == "312.7" and fields["lens_position"] == "1.5"
    assert fields["exposure_time"] == "19997" and "focus" not in fields


def test_preview_and_motion_frames_come_from_the_lores_stream(fresh):
    with make(preview_size=(640, 640)) as camera:
        preview = Image.open(io.BytesIO(camera.preview()))
        frame = camera.motion_frame()
        assert camera.lores_size == (640, 360)
    assert preview.size == (640, 360) and ramp_error(preview, 1.0) < 4
    assert frame.dtype == np.uint8 and frame.shape == (90, 160)


def test_the_configuration_is_yuv420_main_and_lores_with_controls_set_after_configure(fresh):
    with make(resolution=None, idle_fps=4) as camera:
        applied = fresh.camera.applied
        assert camera.main_size == (4608, 2592) and camera.lores_size == (640, 360)
        config = fresh.camera.cfg
        assert [str(c.pixel_format) for c in config][:2] == ["YUV420", "YUV420"]
        # Set after configure(), so they reached the camera when it started.
        assert applied["AfMode"] == fresh.libcamera.AfModeEnum.Continuous
        assert applied["FrameDurationLimits"] == (250_000, 1_000_000_000)
        camera.capture()
        assert applied["FrameDurationLimits"] == (100, 1_000_000_000)  # full rate for a picture
        camera.motion_frame()
        camera.motion_frame()
        assert applied["FrameDurationLimits"] == (250_000, 1_000_000_000)  # capped again after


@pytest.mark.parametrize("version", REFUSED)
def test_a_release_older_than_the_minimum_is_refused_with_the_upgrade_command(version):
    host = load(version)
    try:
        with pytest.raises(CameraUnsupported) as error:
            make().open()
    finally:
        unload()
    message = str(error.value)
    assert f"picamera2 {version} is installed" in message and "0.3.20 or newer" in message
    assert "sudo apt update && sudo apt full-upgrade" in message
    assert host.libcamera.STATS.acquires == []  # the camera was never touched


def test_a_slow_autofocus_takes_the_picture_marked_focus_not_confirmed(fresh, caplog):
    fresh.knobs.af_scan_frames = 100_000  # a scan that never ends (about 25 s in flat scenes)
    with make(autofocus_timeout=0.5) as camera:
        started = time.monotonic()
        capture = camera.capture()
        took = time.monotonic() - started
        assert camera.reopens == 0
        assert fresh.camera.applied["AfMode"] == fresh.libcamera.AfModeEnum.Continuous
    assert 0.5 <= took < 1.5
    assert Image.open(io.BytesIO(capture.jpeg)).size == (1280, 720)
    fields = record_from_capture(capture, "garden", "interval", time.time()).to_hash()
    assert fields["focus"] == "not confirmed"
    assert "focus not confirmed" in caplog.text and "AUTOFOCUS_TIMEOUT" in caplog.text


def test_a_quick_autofocus_confirms_focus(fresh):
    with make() as camera:
        capture = camera.capture()
    assert "focus" not in record_from_capture(capture, "garden", "interval", 0).to_hash()


def test_a_hung_camera_is_closed_reopened_and_the_picture_retried(fresh, caplog):
    with make(autofocus=False, timeout=0.5) as camera:
        fresh.knobs.hang = "until_restart"
        capture = camera.capture()
        assert camera.reopens == 1 and camera.is_open
    assert Image.open(io.BytesIO(capture.jpeg)).size == (1280, 720)
    assert "no picture within 0.5 s" in caplog.text  # never a blank reason


def test_a_wedged_camera_fails_in_bounded_time_and_reads_never_reopen_it(fresh):
    camera = make(autofocus=False, timeout=0.4, close_timeout=0.4)
    camera.open()
    fresh.knobs.hang, fresh.knobs.stop_hangs = True, True
    started = time.monotonic()
    with pytest.raises(CameraError, match="could not be opened"):
        camera.capture()  # hang, close given up, reopen refused: the camera is still held
    assert time.monotonic() - started < 3
    attempts = len(fresh.libcamera.STATS.acquires)
    for read in (camera.preview, camera.motion_frame, camera.capture):
        with pytest.raises(CameraError, match="not open"):
            read()
    assert len(fresh.libcamera.STATS.acquires) == attempts


def test_interrupt_ends_an_autofocus_cycle_at_once(newest):
    newest.knobs.af_scan_frames = 100_000
    camera = make(autofocus_timeout=60)
    camera.open()
    errors: list[BaseException] = []

    def take() -> None:
        try:
            camera.capture()
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=take)
    worker.start()
    time.sleep(0.3)
    asked = time.monotonic()
    camera.interrupt()
    worker.join(5)
    assert time.monotonic() - asked < 0.5
    assert len(errors) == 1 and isinstance(errors[0], CameraInterrupted)
    camera.close()


def test_night_noise_does_not_look_like_motion_but_a_moving_object_does(newest):
    newest.knobs.night_noise = True
    detector = MotionDetector(threshold=3, min_gap=0)
    with make(autofocus=False) as camera:
        detector.update(camera.motion_frame())
        noise_only = [detector.update(camera.motion_frame()) for _ in range(3)]
        noise_level = detector.last_level
        newest.knobs.moving_block = True
        detector.update(camera.motion_frame())
        moved = detector.update(camera.motion_frame())
        motion_level = detector.last_level
    assert noise_only == [False] * 3 and noise_level < 3
    assert moved and motion_level > 3
    # The same noise, sampled by striding instead of pooling, would have fired the trigger.
    rng = np.random.default_rng(0)
    strided = [np.clip(24 + rng.normal(0, 8, (360, 640)), 0, 255)[::4, ::4] for _ in range(2)]
    assert np.abs(strided[0] - strided[1]).mean() > 3


def test_a_camera_without_autofocus_gets_no_autofocus_calls(newest, caplog):
    newest.knobs.model = "imx219"
    with make(resolution=None) as camera:
        capture = camera.capture()
        assert camera.main_size == (3280, 2464)
        assert "AfMode" not in newest.camera.applied
    assert "has no autofocus" in caplog.text
    assert "LensPosition" not in capture.metadata


def test_a_padded_lores_buffer_still_gives_a_clean_thumbnail(newest):
    newest.knobs.model = "imx219"  # 3280x2464: a 200x150 lores has a 256-byte stride
    with make(resolution=None, thumbnail_size=(200, 200), preview_size=(200, 200)) as camera:
        capture = camera.capture()
        assert camera.lores_size == (200, 150)
    thumbnail = Image.open(io.BytesIO(capture.thumbnail))
    assert thumbnail.size == (200, 150) and ramp_error(thumbnail, 1.0) < 2


def test_a_busy_camera_gives_a_clear_error(newest):
    newest.knobs.busy = True
    with pytest.raises(CameraError, match="no other program is using the camera"):
        make().open()


def test_no_camera_connected_gives_a_clear_error(newest):
    newest.knobs.model = ""
    with pytest.raises(CameraError, match="rpicam-hello --list-cameras"):
        make().open()


def test_picamera2_missing_gives_the_apt_fix(monkeypatch):
    unload()
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(CameraError, match="apt install python3-picamera2"):
        make().open()


def test_the_stand_in_follows_picamera2_resetting_controls_on_configure(newest, caplog):
    """Controls set before configure() are lost, as on a Pi: why the backend sets them after."""
    caplog.set_level(logging.WARNING)
    cam = newest.picamera2.Picamera2()
    try:
        cam.set_controls({"AfMode": newest.libcamera.AfModeEnum.Continuous})
        cam.configure(cam.create_still_configuration(main={"size": (640, 360)}))
        cam.start()
        cam.capture_request(wait=2.0).release()
        assert "AfMode" not in newest.camera.applied
    finally:
        cam.close()
