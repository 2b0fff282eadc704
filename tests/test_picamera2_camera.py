"""The picamera2 backend against a stand-in with picamera2's real names and signatures."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import pytest
from PIL import Image

from pi.cameras.base import CameraError
from pi.cameras.picamera2_camera import Picamera2Camera
from pi.thumbnails import THUMBNAIL_MAX_BYTES

STAND_INS = Path(__file__).parent / "stand_ins"


@pytest.fixture
def picamera2(monkeypatch: pytest.MonkeyPatch):
    """Make the stand-in picamera2 and libcamera importable for one test."""
    monkeypatch.syspath_prepend(str(STAND_INS))
    for name in ("picamera2", "libcamera"):
        sys.modules.pop(name, None)
    import picamera2 as module
    module.Picamera2.reset()
    yield module
    for name in ("picamera2", "libcamera"):
        sys.modules.pop(name, None)


def names(events: list[tuple]) -> list[str]:
    return [e[0] for e in events]


def make(**kwargs) -> Picamera2Camera:
    options = dict(resolution=(1280, 720), thumbnail_size=(320, 320), preview_size=(320, 320),
                   timeout=1.0, close_timeout=0.5)
    options.update(kwargs)
    return Picamera2Camera(**options)


def test_controls_are_set_after_configure_so_continuous_autofocus_takes_effect(picamera2):
    from libcamera import controls
    with make(autofocus=True):
        cam = picamera2.Picamera2.instances[0]
        order = names(cam.events)
        assert order.index("configure") < order.index("set_controls") < order.index("start")
        assert cam.controls_at_start["AfMode"] == controls.AfModeEnum.Continuous


def test_the_stand_in_drops_controls_set_before_configure_as_picamera2_does(picamera2):
    """The reference's order (set_controls, then configure) loses continuous autofocus."""
    from libcamera import controls
    cam = picamera2.Picamera2()
    cam.set_controls({"AfMode": controls.AfModeEnum.Continuous})
    cam.configure(cam.create_still_configuration())
    cam.start()
    assert "AfMode" not in cam.controls_at_start


def test_lores_stream_is_configured_for_the_thumbnail(picamera2):
    with make(resolution=None, preview_size=(320, 320)) as camera:
        cam = picamera2.Picamera2.instances[0]
        configure = next(e for e in cam.events if e[0] == "configure")
        assert configure[1] == (4608, 2592)  # the sensor's full resolution by default
        assert configure[2] == (320, 180)  # lores: thumbnail-sized, same aspect ratio
        assert cam.camera_config["lores"]["format"] == "YUV420"
        assert camera.main_size == (4608, 2592)


def test_thumbnail_comes_from_the_lores_stream_of_the_same_request(picamera2):
    with make() as camera:
        capture = camera.capture()
        cam = picamera2.Picamera2.instances[0]
    events = cam.events
    start = names(events).index("capture_request")
    request_events = events[start:start + 4]
    assert [e[0] for e in request_events] == ["capture_request", "save", "save", "release"]
    assert request_events[1][1:] == ("main", (1280, 720), 90)
    assert request_events[2][1:3] == ("lores", (320, 180))
    # The full picture is never decoded or converted to make the thumbnail.
    assert ("make_image", "main") not in events and ("make_array", "main") not in events
    assert cam.options["quality"] == 90
    with Image.open(io.BytesIO(capture.jpeg)) as full:
        assert full.size == (1280, 720)
    with Image.open(io.BytesIO(capture.thumbnail)) as thumb:
        assert thumb.size == (320, 180)
    assert len(capture.thumbnail) <= THUMBNAIL_MAX_BYTES
    assert (capture.width, capture.height) == (1280, 720)
    assert capture.metadata["Lux"] == 321.5 and capture.metadata["LensPosition"] == 1.25


def test_every_capture_and_autofocus_call_passes_a_timeout(picamera2):
    with make(autofocus=True, timeout=3.5) as camera:
        camera.capture()
        camera.preview()
        camera.motion_frame()
        cam = picamera2.Picamera2.instances[0]
    waits = [e[1] for e in cam.events if e[0] in ("capture_request", "autofocus_cycle")]
    assert len(waits) == 4
    assert all(isinstance(w, float) and not isinstance(w, bool) and 0 < w <= 3.5 for w in waits)


def test_autofocus_cycle_runs_before_each_picture_then_continuous_resumes(picamera2):
    from libcamera import controls
    with make(autofocus=True) as camera:
        camera.capture()
        cam = picamera2.Picamera2.instances[0]
        order = names(cam.events)
        assert order.index("autofocus_cycle") < order.index("capture_request")
        assert cam.controls["AfMode"] == controls.AfModeEnum.Continuous


def test_no_autofocus_calls_on_a_camera_without_autofocus(picamera2, caplog):
    picamera2.Picamera2.model = "imx219"
    caplog.set_level(logging.WARNING)
    with make(autofocus=True) as camera:
        camera.capture()
        cam = picamera2.Picamera2.instances[0]
    assert "autofocus_cycle" not in names(cam.events)
    assert "AfMode" not in cam.controls_at_start
    assert "has no autofocus" in caplog.text


def test_a_hung_capture_closes_and_reopens_the_camera(picamera2, caplog):
    picamera2.Picamera2.hang_requests = 1
    with make(timeout=0.2, autofocus=True) as camera:
        capture = camera.capture()
        first, second = picamera2.Picamera2.instances
        assert camera.reopens == 1
        assert "cancel_all_and_flush" in names(first.events) and "close" in names(first.events)
        assert second.started and second.controls_at_start["AfMode"] == 2
    assert capture.jpeg.startswith(b"\xff\xd8")
    assert "closing and reopening the camera" in caplog.text


def test_a_camera_that_hangs_again_after_reopening_raises_camera_error(picamera2):
    picamera2.Picamera2.hang_requests = 2
    with make(timeout=0.2) as camera, pytest.raises(CameraError, match="reopened"):
        camera.capture()
    assert len(picamera2.Picamera2.instances) == 2


def test_a_camera_that_will_not_close_is_given_up(picamera2, caplog):
    camera = make(close_timeout=0.2)
    camera.open()
    picamera2.Picamera2.hang_close = True
    camera.close()  # returns although the stand-in's close() never does
    assert "did not close" in caplog.text


def test_preview_and_motion_frames_come_from_lores(picamera2):
    with make(preview_size=(640, 640), thumbnail_size=(160, 160)) as camera:
        preview = camera.preview()
        frame = camera.motion_frame()
        cam = picamera2.Picamera2.instances[0]
    assert camera.lores_size == (640, 360)
    with Image.open(io.BytesIO(preview)) as img:
        assert img.size == (640, 360)
    assert frame.ndim == 2 and frame.shape[1] <= 160
    assert ("make_array", "lores") in cam.events
    assert not [e for e in cam.events if e[0] == "save" and e[1] == "main"]


def test_picamera2_missing_gives_the_apt_fix():
    sys.modules.pop("picamera2", None)
    with pytest.raises(CameraError, match="apt install python3-picamera2"):
        make().open()


def test_no_camera_connected_gives_a_clear_error(picamera2):
    with pytest.raises(CameraError, match="rpicam-hello --list-cameras"):
        make(camera_num=1).open()
