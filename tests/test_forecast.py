"""The retention forecast (issue 9): its numbers on synthetic rates, and as read from Redis."""

from __future__ import annotations

import time

import pytest

from pi import contract
from pi.contract import Budgets, ImageRecord, image_id, save_image
from pi.retention import CameraUsage, forecast, human_duration, read_forecast
from tests.factories import make_jpeg

MB = 1_000_000
DAY = 86400


def garden(**overrides) -> CameraUsage:
    """One 12 MP camera: a picture a minute, 2.5 MB full size, 20 KB history, 1 h / 30 days."""
    values = dict(camera="garden", pictures_per_min=1.0, full_bytes=2.5 * MB, history_bytes=20_000,
                  image_expiry=3600, history_expiry=30 * DAY)
    values.update(overrides)
    return CameraUsage(**values)


def test_budget_limits_full_size_and_memory_limits_history():
    f = forecast([garden(budget=64 * MB)], memory=256 * MB)
    (cam,) = f.cameras
    # 64 MB at 2.5 MB/min holds 25.6 min of full size (less than the 1 h IMAGE_EXPIRY) ...
    assert cam.full_reach == pytest.approx(25.6 * 60) and cam.full_limited_by == "budget"
    # ... and the other 192 MB hold 192 MB / 20 KB a minute = 9,600 min = 6.7 days of history.
    assert cam.history_reach == pytest.approx(9600 * 60) and cam.history_limited_by == "memory"
    assert cam.bytes_per_min == pytest.approx(2.52 * MB)
    assert cam.describe() == "garden: full size 26 min · history 7 days · 2.5 MB/min"
    assert f.warnings == []


def test_today_one_tier_reaches_the_same_for_both():
    (cam,) = forecast([garden(history_expiry=None, image_expiry=30 * DAY)], memory=256 * MB).cameras
    # Whole pictures: 256 MB / 2.52 MB a minute is about 101 minutes.
    assert cam.full_reach == cam.history_reach == pytest.approx(256 / 2.52 * 60)
    assert cam.full_limited_by == "memory"


def test_history_expiry_caps_history_when_memory_is_plenty():
    (cam,) = forecast([garden(budget=64 * MB)], memory=100_000 * MB).cameras
    assert cam.history_reach == 30 * DAY and cam.history_limited_by == "expiry"
    assert cam.full_reach == pytest.approx(25.6 * 60)


def test_a_budget_that_cannot_hold_the_minimum_age_is_warned_about():
    f = forecast([garden(budget=64 * MB)], memory=256 * MB, min_age=3600)
    (cam,) = f.cameras
    assert cam.full_limited_by == "min_age" and cam.full_reach == 3600
    assert len(f.warnings) == 1
    assert "garden" in f.warnings[0] and "minimum age of 60 min" in f.warnings[0]


def test_cameras_share_history_memory_and_movies_take_their_part():
    busy, quiet = garden(budget=64 * MB), garden(camera="porch", pictures_per_min=0.1, budget=16 * MB)
    f = forecast([busy, quiet], memory=256 * MB, timelapse_bytes=20 * MB, timelapse_count=2)
    # The movies' memory is the caller's to subtract (read_forecast does); here the history
    # of both cameras reaches back the same time, since eviction takes the oldest first.
    assert f.cameras[0].history_reach == pytest.approx(f.cameras[1].history_reach)
    assert f.cameras[1].full_reach == pytest.approx(60 * 60)  # 16 MB hold more than 1 h at 0.25 MB/min
    assert human_duration(None) == "-" and human_duration(90) == "90 s"
    assert human_duration(3 * DAY) == "3 days"


def test_read_forecast_measures_the_rate_sizes_and_movies_in_redis(r):
    contract.ensure_index(r)
    r.config_set("maxmemory", str(256 * 1024 * 1024))
    contract.write_budgets(r, Budgets(cameras={"garden": 1 * MB}))
    now = time.time()
    thumb = make_jpeg(320, 180)
    for i in range(31):  # one picture every 20 s for 10 minutes: 3 a minute
        ts = now - 600 + i * 20
        record = ImageRecord(timestamp=ts, image_data=b"\xff\xd8" + b"x" * 99_998, camera="garden",
                             thumbnail=thumb, plan_full_until=ts + 600, plan_history_until=ts + 30 * DAY)
        save_image(r, record, 30 * DAY, image_id("garden", ts), full_ttl=600)
    r.set("timelapse:job1:mp4", b"m" * 500_000)
    f = read_forecast(r)
    (cam,) = f.cameras
    assert cam.camera == "garden" and cam.pictures_per_min == pytest.approx(3.0, rel=0.01)
    assert cam.full_limited_by == "budget"
    assert cam.full_reach == pytest.approx(1 * MB / (3 * 100_000) * 60, rel=0.02)  # 200 s
    assert cam.history_limited_by in ("memory", "expiry") and cam.history_reach > DAY
    assert f.timelapse_count == 1 and f.timelapse_bytes >= 500_000
    assert "garden: full size" in cam.describe()


def test_the_forecast_command_prints_each_camera_and_the_budgets(r, redis_url, capsys):
    from pi.retention import main

    contract.ensure_index(r)
    contract.write_budgets(r, Budgets(default=50 * MB, min_age=3600))
    now = time.time()
    for i in range(5):
        ts = now - 300 + i * 60
        save_image(r, ImageRecord(timestamp=ts, image_data=b"\xff\xd8" + b"x" * 50_000, camera="porch",
                                  thumbnail=make_jpeg(64, 36)), 86400, image_id("porch", ts), full_ttl=3600)
    assert main(["--redis-url", redis_url]) == 0
    out = capsys.readouterr().out
    assert "porch: full size" in out and "MB/min" in out
    assert "'default': '50000000'" in out and "'min_age': '3600'" in out


def test_a_short_burst_is_not_extrapolated_to_a_busy_camera(r):
    contract.ensure_index(r)
    now = time.time()
    for ts in (now - 604, now - 600):  # two pictures 4 s apart, ten minutes ago, then nothing
        save_image(r, ImageRecord(timestamp=ts, image_data=b"\xff\xd8" + b"x" * 99_998, camera="once"),
                   3600, image_id("once", ts))
    (cam,) = read_forecast(r).cameras
    assert cam.pictures_per_min == pytest.approx(0.1, rel=0.02)  # not 15 a minute
