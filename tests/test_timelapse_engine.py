"""The time-lapse engine: stored images in, an H.264 MP4 out, decoded back with PyAV."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import av
import pytest
from PIL import ImageChops

from pi.contract import ensure_index, image_key
from server.timelapse.engine import (
    TimelapseCancelled,
    TimelapseFailed,
    TimelapseInputError,
    TimelapseOptions,
    make_timelapse,
    parse_size,
    parse_time,
    plan_timelapse,
)
from tests.factories import store_image

T0 = 1_750_000_000.0


@pytest.fixture
def r(r):
    ensure_index(r)
    return r


def decode(path: Path) -> dict:
    """Return a movie's codec, size, duration and each frame's mean brightness."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_image() for f in container.decode(stream)]
        return {
            "codec": stream.codec_context.name,
            "size": (stream.width, stream.height),
            "duration": float(stream.duration * stream.time_base),
            "fps": float(stream.average_rate),
            "brightness": [_mean(img.convert("L")) for img in frames],
            "frames": frames,
        }


def _mean(img) -> float:
    return img.resize((1, 1), resample=3).getpixel((0, 0))


def options(**kw) -> TimelapseOptions:
    values = dict(since=T0, until=T0 + 1000, camera="cam", fps=4, width=320, height=180)
    values.update(kw)
    return TimelapseOptions(**values)


def store_sequence(r, n: int, *, camera: str = "cam", start: float = T0 + 1, **kw) -> list[str]:
    """Store n images one second apart, each brighter than the one before, in random order."""
    order = list(range(n))
    random.Random(5).shuffle(order)
    ids = {}
    for i in order:
        ids[i] = store_image(r, camera=camera, timestamp=start + i, lux=20 + 25 * i, **kw)
    return [ids[i] for i in range(n)]


def test_movie_has_one_frame_per_image_in_timestamp_order(r, tmp_path):
    store_sequence(r, 8)
    store_image(r, camera="other", timestamp=T0 + 3, lux=250)  # another camera
    store_image(r, camera="cam", timestamp=T0 + 2000, lux=250)  # after the range
    out = tmp_path / "out.mp4"

    result = make_timelapse(r, options(), out, page_size=3)

    movie = decode(out)
    assert movie["codec"] == "h264"
    assert movie["size"] == (320, 180)
    assert len(movie["brightness"]) == result.frames == 8
    assert movie["duration"] == pytest.approx(8 / 4, abs=0.01)
    assert movie["brightness"] == sorted(movie["brightness"])
    assert len(set(round(b) for b in movie["brightness"])) == 8


def test_images_sharing_a_timestamp_are_neither_lost_nor_repeated(r, tmp_path):
    for i in range(5):
        store_image(r, camera="cam", timestamp=T0 + 10, lux=30 + 40 * i)
    store_image(r, camera="cam", timestamp=T0 + 5, lux=10)
    store_image(r, camera="cam", timestamp=T0 + 20, lux=240)
    out = tmp_path / "out.mp4"

    make_timelapse(r, options(), out, page_size=2)

    brightness = decode(out)["brightness"]
    assert len(brightness) == 7
    assert brightness[0] == min(brightness) and brightness[-1] == max(brightness)
    assert len(set(round(b) for b in brightness)) == 7


def test_other_aspect_ratios_are_letterboxed_not_stretched(r, tmp_path):
    store_image(r, camera="cam", timestamp=T0 + 1, lux=200, width=240, height=240)
    out = tmp_path / "out.mp4"

    make_timelapse(r, options(), out)

    (frame,) = decode(out)["frames"]
    gray = frame.convert("L")
    assert gray.getpixel((20, 90)) < 20  # black bar left of the square picture
    assert gray.getpixel((300, 90)) < 20
    assert gray.getpixel((160, 90)) > 150


def test_burn_in_writes_the_capture_time_into_the_frame(r, tmp_path):
    store_image(r, camera="cam", timestamp=T0 + 1, lux=40)
    plain, stamped = tmp_path / "plain.mp4", tmp_path / "stamped.mp4"

    make_timelapse(r, options(), plain)
    make_timelapse(r, options(burn_in=True), stamped)

    a = decode(plain)["frames"][0].convert("L")
    b = decode(stamped)["frames"][0].convert("L")
    top, bottom = (0, 0, 200, 40), (0, 140, 200, 180)  # top left, clear of the player's controls
    assert ImageChops.difference(a.crop(top), b.crop(top)).getextrema()[1] > 60
    assert ImageChops.difference(a.crop(bottom), b.crop(bottom)).getextrema()[1] < 10


def test_frames_darker_than_the_threshold_are_skipped_and_counted(r, tmp_path):
    for i, lux in enumerate([1, 2, 120, 3, 200]):
        store_image(r, camera="cam", timestamp=T0 + i + 1, lux=lux)
    out = tmp_path / "out.mp4"

    result = make_timelapse(r, options(min_lux=50), out)

    assert result.frames == 2
    assert result.skipped_dark == 3
    assert len(decode(out)["brightness"]) == 2


def test_images_expiring_during_the_run_are_skipped_and_counted(r, tmp_path):
    ids = store_sequence(r, 6)
    seen = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 1:
            # One already listed on this page, one on a later page: both expire now.
            for gone in (ids[1], ids[5]):
                r.pexpire(image_key(gone), 1)
            time.sleep(0.01)

    out = tmp_path / "out.mp4"
    result = make_timelapse(r, options(), out, page_size=2, progress=progress)

    assert result.frames == 4
    assert result.skipped_expired == 2
    assert seen[0] == (0, 6) and seen[-1] == (6, 6)
    assert len(decode(out)["brightness"]) == 4


def test_a_run_where_every_image_expired_fails_clearly_and_leaves_no_file(r, tmp_path):
    ids = store_sequence(r, 3)
    plan = plan_timelapse(r, options(), max_frames=100)
    for image_id in ids:
        r.delete(image_key(image_id))
    out = tmp_path / "out.mp4"

    with pytest.raises(TimelapseFailed) as err:
        make_timelapse(r, options(), out, plan=plan)

    assert err.value.code == "no_frames"
    assert "3 expired" in err.value.message
    assert not out.exists()


def test_cancelling_mid_run_stops_and_leaves_no_file(r, tmp_path):
    store_sequence(r, 6)
    cancel = threading.Event()
    done_seen = []

    def progress(done: int, total: int) -> None:
        done_seen.append(done)
        if done == 2:
            cancel.set()

    out = tmp_path / "out.mp4"
    with pytest.raises(TimelapseCancelled):
        make_timelapse(r, options(), out, progress=progress, cancel=cancel)

    assert max(done_seen) == 2
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("overrides", "code", "parameter"),
    [
        (dict(since=T0 + 10, until=T0), "since_after_until", "since"),
        (dict(since=T0, until=T0), "empty_range", "until"),
        (dict(since=T0 - 500, until=T0 - 100), "empty_range", "since"),
        (dict(camera="nosuchcam"), "unknown_camera", "camera"),
        (dict(camera="bad name!"), "bad_camera", "camera"),
        (dict(fps=0), "bad_fps", "fps"),
        (dict(fps=61), "bad_fps", "fps"),
        (dict(width=32, height=32), "bad_size", "size"),
        (dict(width=4000, height=720), "bad_size", "size"),
        (dict(width=1281, height=720), "bad_size", "size"),
        (dict(min_lux=-1.0), "bad_min_lux", "min_lux"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_error(r, overrides, code, parameter):
    store_sequence(r, 3)

    with pytest.raises(TimelapseInputError) as err:
        plan_timelapse(r, options(**overrides), max_frames=100)

    assert (err.value.code, err.value.parameter) == (code, parameter)
    assert "\n" not in err.value.message and len(err.value.message) > 30


def test_unknown_camera_error_names_the_known_cameras(r):
    store_sequence(r, 2, camera="garden")

    with pytest.raises(TimelapseInputError) as err:
        plan_timelapse(r, options(camera="porch"), max_frames=100)

    assert "garden" in err.value.message


def test_ranges_over_the_frame_limit_are_refused(r):
    store_sequence(r, 5)

    assert plan_timelapse(r, options(), max_frames=5).total == 5
    with pytest.raises(TimelapseInputError) as err:
        plan_timelapse(r, options(), max_frames=4)

    assert err.value.code == "too_many_frames"
    assert "5 images" in err.value.message and "TIMELAPSE_MAX_FRAMES" in err.value.message


def test_times_parse_from_iso_unix_and_relative_forms():
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC).timestamp()
    assert parse_time("-1h", "since", now=now) == now - 3600
    assert parse_time("-1h30m", "since", now=now) == now - 5400
    assert parse_time("-2d", "since", now=now) == now - 2 * 86400
    assert parse_time("now", "until", now=now) == now
    assert parse_time("2025-06-01T10:00:00Z", "since") == now - 7200
    assert parse_time("2025-06-01T12:00:00+02:00", "since") == now - 7200
    assert parse_time("1748779200", "since") == 1748779200
    assert parse_time(1748779200000, "since") == 1748779200  # JavaScript milliseconds
    today = parse_time("today", "since", now=now)
    assert 0 <= now - today < 86400 + 3600
    assert parse_time("yesterday", "since", now=now) < today
    with pytest.raises(TimelapseInputError) as err:
        parse_time("last tuesday", "since")
    assert err.value.parameter == "since" and err.value.code == "bad_time"


def test_sizes_parse_and_are_checked():
    assert parse_size("1280x720") == (1280, 720)
    assert parse_size(" 640 X 360 ") == (640, 360)
    for bad in ("1280", "x720", "12800x720", "1279x720"):
        with pytest.raises(TimelapseInputError):
            parse_size(bad)
