"""`make run`'s supervisor: clear errors before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import run_stack  # noqa: E402


def test_demo_cameras_are_parsed():
    assert run_stack.parse_cameras("garden:5, porch:0.5") == [("garden", 5.0), ("porch", 0.5)]
    assert run_stack.parse_cameras("solo") == [("solo", 5.0)]


@pytest.mark.parametrize("bad", ["gar den:5", "garden:-1", "garden:soon", "x*:5"])
def test_bad_demo_cameras_name_the_setting(bad):
    with pytest.raises(run_stack.SetupError, match="DEMO_CAMERAS"):
        run_stack.parse_cameras(bad)


def run_supervisor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "run_stack.py")], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_redis_without_search_module_is_one_clear_paragraph(redis_factory):
    plain = redis_factory(with_search=False)
    result = run_supervisor({"REDIS_URL": plain.url})
    assert result.returncode == 1
    assert "has no search module" in result.stderr
    assert "docker compose up -d" in result.stderr and "unset REDIS_URL" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unreachable_redis_names_the_fix(redis_factory):
    dead = redis_factory()
    dead.stop()
    result = run_supervisor({"REDIS_URL": f"redis://:s3cret@127.0.0.1:{dead.port}"})
    assert result.returncode == 1
    assert "Cannot reach Redis" in result.stderr and "docker compose up -d" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_a_dying_redis_stops_everything_with_its_last_words(tmp_path):
    import signal as sig
    import time

    from server.tooling.embedded_redis import free_port

    env = {**os.environ, "REDIS_PORT": str(free_port()), "GALLERY_PORT": str(free_port()),
           "REDIS_DATA_DIR": str(tmp_path / "data"), "DEMO_CAMERAS": "solo:1",
           "IMAGE_RESOLUTION": "320x180", "PYTHONUNBUFFERED": "1"}
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "run_stack.py")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pidfile_wait = time.monotonic() + 30
    redis_pid = None
    while redis_pid is None and time.monotonic() < pidfile_wait:
        found = subprocess.run(["pgrep", "-f", f"redis-server.*:{env['REDIS_PORT']}"],
                               capture_output=True, text=True).stdout.split()
        redis_pid = int(found[0]) if found else None
        time.sleep(0.2)
    assert redis_pid, "the embedded Redis did not start"
    time.sleep(1)
    os.kill(redis_pid, sig.SIGKILL)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "stopped unexpectedly; stopping everything" in output
    assert "Embedded Redis stopped" not in output
    assert (tmp_path / "data" / "spool" / "solo").is_dir()  # the spool lives beside the data
