"""Stopping the daemon process: SIGTERM/SIGINT exit 0 in time; no hash is ever left without a TTL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import wait_until

REPO = Path(__file__).resolve().parent.parent


def start_daemon(url: str, tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pi.capture", "--camera-backend", "simulated", "--camera-name",
         "sigcam", "--interval", "0.05", "--resolution", "640x360", "--expiry", "600",
         "--spool-dir", str(tmp_path / "spool"), "--env-file", ""],
        cwd=REPO, env={"PATH": "/usr/bin:/bin", "REDIS_URL": url},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for_images(r, count: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    def stored() -> bool:
        if len(list(r.scan_iter("image:*"))) >= count:
            return True
        assert proc.poll() is None, proc.stderr.read()
        return False

    wait_until(stored, timeout, message="the daemon stored no pictures")


def assert_every_image_has_a_ttl(r) -> None:
    keys = list(r.scan_iter("image:*"))
    assert keys
    assert all(r.pttl(key) > 0 for key in keys), [k for k in keys if r.pttl(k) <= 0]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_mid_run_exits_0_within_2_seconds(sig, r, redis_url, tmp_path):
    proc = start_daemon(redis_url, tmp_path)
    try:
        wait_for_images(r, 3, proc)
        sent = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        proc.kill()
    stderr = proc.stderr.read()
    assert code == 0, stderr
    assert elapsed < 2.0
    assert "finishing the picture in progress" in stderr and "Traceback" not in stderr
    assert_every_image_has_a_ttl(r)


def test_a_crash_mid_run_leaves_no_hash_without_a_ttl(r, redis_url, tmp_path):
    proc = start_daemon(redis_url, tmp_path)
    try:
        wait_for_images(r, 5, proc)
    finally:
        proc.kill()  # SIGKILL: no clean-up at all
        proc.wait()
    assert_every_image_has_a_ttl(r)
