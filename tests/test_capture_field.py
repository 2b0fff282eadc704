"""The daemon on real Pis: wedged cameras, slow autofocus and stops, offline boots, the unit file.

The camera here is the real picamera2 (the newest pinned release) over the libcamera
stand-in of tests/picamera2_host, in this process or in a daemon subprocess.
"""

from __future__ import annotations

import configparser
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pi.cameras import make_camera
from pi.capture import STOP_DEADLINE
from pi.daemon import CameraGaveUp, CaptureDaemon
from pi.redis_connection import connect
from pi.settings import SettingsError, load_settings
from pi.spool import Spool
from tests.helpers import wait_until
from tests.picamera2_host import load, pinned_versions, unload

REPO = Path(__file__).resolve().parent.parent
WORKING = [p.version for p in pinned_versions() if p.expect == "works"]
REFUSED = [p.version for p in pinned_versions() if p.expect == "refused"]
NEWEST = WORKING[-1]


@pytest.fixture
def host():
    loaded = load(NEWEST)
    yield loaded
    loaded.libcamera.reset()
    unload()


def field_settings(url: str, tmp_path: Path, *flags: str):
    return load_settings(["--camera-backend", "picamera2", "--camera-name", "fieldcam",
                          "--resolution", "640x360", "--preview-fps", "0", "--autofocus", "0",
                          "--spool-dir", str(tmp_path / "spool"), "--env-file", "",
                          "--redis-url", url, *flags], environ={})


def run_in_thread(daemon: CaptureDaemon) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            daemon.run()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=work, name="capture-loop", daemon=True)
    thread.start()
    return thread, errors


def test_a_wedged_camera_makes_the_daemon_give_up_without_flooding_and_counts_lost_pictures(
        host, redis_url, r, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    settings = field_settings(redis_url, tmp_path, "--triggers", "interval,motion", "--interval",
                              "0.2", "--motion-fps", "4", "--capture-timeout", "0.3",
                              "--camera-max-failures", "3", "--summary-interval", "0.5")
    camera = make_camera(settings)
    camera.close_timeout = 0.3
    camera.open()
    client = connect(redis_url, retries=1, socket_timeout=5)
    daemon = CaptureDaemon(settings, camera, client, where=redis_url,
                           camera_backoff=lambda failures: 0.4, clock_synced=lambda: True)
    thread, errors = run_in_thread(daemon)
    try:
        wait_until(lambda: len(list(r.scan_iter("image:*"))) >= 2, 10, message="no pictures stored")
        opened_before = len(host.libcamera.STATS.acquires)
        host.knobs.hang, host.knobs.stop_hangs = True, True  # stuck in the kernel
        wedged_at = time.monotonic()
        thread.join(15)
        assert not thread.is_alive(), "the daemon never gave up on the wedged camera"
    finally:
        daemon.request_stop()
        camera.close()
        client.close()
    assert time.monotonic() - wedged_at < 8
    assert len(errors) == 1 and isinstance(errors[0], CameraGaveUp)
    assert "failed 3 times in a row" in str(errors[0]) and "reboot the Pi" in str(errors[0])
    attempts = host.libcamera.STATS.acquires[opened_before:]
    assert 1 <= len(attempts) <= 3  # one per failure, never four a second
    assert set(attempts) == {"capture-loop"}  # the motion thread never opened the camera
    assert daemon.wanted_while_down >= 1
    assert "pictures wanted while the camera was down" in caplog.text
    reopen_lines = [m for m in caplog.messages if "reopen" in m.lower()]
    assert len(reopen_lines) <= 8, reopen_lines


def test_a_camera_that_comes_back_is_reopened_by_the_loop_and_pictures_resume(host, redis_url, r,
                                                                              tmp_path):
    settings = field_settings(redis_url, tmp_path, "--interval", "0.2", "--capture-timeout", "0.3",
                              "--camera-max-failures", "5")
    camera = make_camera(settings)
    camera.close_timeout = 0.3
    camera.open()
    client = connect(redis_url, retries=1, socket_timeout=5)
    daemon = CaptureDaemon(settings, camera, client, where=redis_url,
                           camera_backoff=lambda failures: 0.3, clock_synced=lambda: True)
    thread, errors = run_in_thread(daemon)
    try:
        wait_until(lambda: len(list(r.scan_iter("image:*"))) >= 1, 10)
        host.knobs.hang, host.knobs.busy = True, True  # no frames, and reopening fails
        wait_until(lambda: daemon.camera_failures_in_a_row >= 2, 10)
        host.knobs.hang, host.knobs.busy = False, False
        before = len(list(r.scan_iter("image:*")))
        wait_until(lambda: len(list(r.scan_iter("image:*"))) >= before + 2, 10,
                   message="pictures did not resume after the camera came back")
        assert daemon.camera_failures_in_a_row == 0 and thread.is_alive()
    finally:
        daemon.request_stop()
        thread.join(5)
        camera.close()
        client.close()
    assert errors == []


def test_pictures_taken_before_the_clock_is_synchronized_are_spooled_and_marked(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    closed_port = "redis://127.0.0.1:1"  # a Pi booted without network: Redis unreachable
    settings = load_settings(["--camera-backend", "simulated", "--camera-name", "offline",
                              "--resolution", "320x180", "--spool-dir", str(tmp_path / "spool"),
                              "--env-file", "", "--redis-url", closed_port], environ={})
    synced = [False]
    camera = make_camera(settings)
    camera.open()
    client = connect(closed_port, retries=1, socket_timeout=1)
    daemon = CaptureDaemon(settings, camera, client, where=closed_port,
                           clock_synced=lambda: synced[0])
    daemon.capture_and_store("manual")
    synced[0] = True
    daemon.capture_and_store("manual")
    client.close()
    spool = Spool(tmp_path / "spool", 10_000_000)
    records = sorted((spool.load(p).record for p in spool.paths()), key=lambda rec: rec.timestamp)
    assert [rec.extra.get("clock") for rec in records] == ["not synchronized", None]
    assert records[0].to_hash()["clock"] == "not synchronized"
    assert "clock is not synchronized yet" in caplog.text
    assert "clock is synchronized now" in caplog.text


def daemon_process(version: str, url: str, tmp_path: Path, *flags: str,
                   **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.picamera2_host.run_daemon", version, "--camera-name",
         "proccam", "--resolution", "640x360", "--preview-fps", "0", "--spool-dir",
         str(tmp_path / "spool"), "--env-file", "", "--redis-url", url, *flags],
        cwd=REPO, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_a_wedged_camera_makes_the_process_exit_1_for_systemd_to_restart(redis_url, r, tmp_path):
    proc = daemon_process(NEWEST, redis_url, tmp_path, "--interval", "0.3", "--capture-timeout",
                          "0.5", "--camera-max-failures", "2", "--autofocus", "0",
                          PICAMERA2_WEDGE_AFTER="1.5")
    try:
        code = proc.wait(timeout=30)
    finally:
        proc.kill()
    stderr = proc.stderr.read()
    assert code == 1, stderr
    assert list(r.scan_iter("image:*")), "no picture before the wedge"
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: The camera failed 2 times in a row") and "reboot the Pi" in last
    assert "Traceback" not in stderr
    assert stderr.count("reopen") <= 6, stderr


def test_sigterm_during_a_slow_autofocus_exits_0_well_within_the_stop_timeout(redis_url, r, tmp_path):
    proc = daemon_process(NEWEST, redis_url, tmp_path, "--interval", "1", "--autofocus", "1",
                          "--autofocus-timeout", "60",
                          PICAMERA2_KNOBS=json.dumps({"af_scan_frames": 1_000_000}))
    try:
        time.sleep(3)  # imports, camera open, and the first autofocus cycle under way
        assert proc.poll() is None, proc.stderr.read()
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    stderr = proc.stderr.read()
    assert code == 0, stderr
    assert took < 3, stderr
    assert "No picture (interval trigger): stopping" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("version", REFUSED)
def test_a_too_old_picamera2_stops_the_daemon_with_exit_2_and_one_line(version, redis_url, tmp_path):
    proc = daemon_process(version, redis_url, tmp_path, "--interval", "1")
    code = proc.wait(timeout=30)
    stderr = proc.stderr.read()
    assert code == 2, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"picamera2 {version} is installed" in errors[0]
    assert "sudo apt update && sudo apt full-upgrade" in errors[0]


def test_the_unit_never_waits_for_time_sync_and_its_stop_timeout_covers_the_daemons():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(REPO / "pi" / "redis-pi-camera.service")
    assert "time-sync" not in unit["Unit"].get("After", "")
    assert "time-sync" not in unit["Unit"].get("Wants", "") + unit["Unit"].get("Requires", "")
    stop_timeout = float(unit["Service"]["TimeoutStopSec"])
    assert STOP_DEADLINE < stop_timeout
    assert unit["Service"]["Restart"] == "on-failure"
    assert unit["Service"]["RestartPreventExitStatus"] == "2"


def test_the_field_settings_have_defaults_and_refuse_bad_values_naming_the_variable():
    defaults = load_settings(["--env-file", ""], environ={})
    assert (defaults.autofocus_timeout, defaults.camera_max_failures, defaults.main_format,
            defaults.idle_fps) == (5.0, 5, "YUV420", 5.0)
    bad = {"AUTOFOCUS_TIMEOUT": "0", "CAMERA_MAX_FAILURES": "0", "CAMERA_MAIN_FORMAT": "RGB",
           "CAMERA_IDLE_FPS": "fast"}
    for name, value in bad.items():
        with pytest.raises(SettingsError) as error:
            load_settings(["--env-file", ""], environ={name: value})
        assert str(error.value).startswith(f"{name}={value!r} is not valid")


def test_idle_frame_rate_is_raised_to_the_motion_rate():
    settings = load_settings(["--env-file", "", "--camera-backend", "picamera2", "--triggers",
                              "motion", "--motion-fps", "8", "--idle-fps", "2"], environ={})
    assert make_camera(settings).idle_fps == 8


def test_a_camera_that_hangs_on_motion_reads_counts_as_failing_and_the_daemon_gives_up(
        host, redis_url, tmp_path):
    settings = field_settings(redis_url, tmp_path, "--triggers", "motion", "--motion-fps", "10",
                              "--capture-timeout", "0.3", "--camera-max-failures", "2")
    camera = make_camera(settings)
    camera.close_timeout = 0.3
    camera.open()
    client = connect(redis_url, retries=1, socket_timeout=5)
    daemon = CaptureDaemon(settings, camera, client, where=redis_url,
                           camera_backoff=lambda failures: 0.2, clock_synced=lambda: True)
    host.knobs.hang = True  # every motion read times out, and reopening doesn't help
    thread, errors = run_in_thread(daemon)
    try:
        thread.join(30)
        assert not thread.is_alive(), "a camera failing only on motion reads was retried for ever"
    finally:
        daemon.request_stop()
        camera.close()
        client.close()
    assert len(errors) == 1 and isinstance(errors[0], CameraGaveUp)
    assert set(host.libcamera.STATS.acquires[1:]) == {"capture-loop"}
