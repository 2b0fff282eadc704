"""`make run`'s supervisor: clear errors before anything starts; what stops what."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.tooling import run_stack

ROOT = Path(__file__).resolve().parent.parent
SUPERVISOR = [sys.executable, "-m", "server.tooling.run_stack"]


def test_demo_cameras_are_parsed():
    assert run_stack.parse_cameras("garden:5, porch:0.5") == [("garden", 5.0), ("porch", 0.5)]
    assert run_stack.parse_cameras("solo") == [("solo", 5.0)]


@pytest.mark.parametrize("bad", ["gar den:5", "garden:-1", "garden:soon", "x*:5"])
def test_bad_demo_cameras_name_the_setting(bad):
    with pytest.raises(run_stack.SetupError, match="DEMO_CAMERAS"):
        run_stack.parse_cameras(bad)


def run_supervisor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(SUPERVISOR, cwd=ROOT,
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
    proc = subprocess.Popen(SUPERVISOR, cwd=ROOT, env=env,
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


def test_a_camera_that_exits_stops_alone_and_is_reported(tmp_path):
    import signal as sig
    import time
    import urllib.request

    from server.tooling.embedded_redis import free_port

    gallery_port = free_port()
    env = {**os.environ, "REDIS_PORT": str(free_port()), "GALLERY_PORT": str(gallery_port),
           "REDIS_DATA_DIR": str(tmp_path / "data"), "DEMO_CAMERAS": "first:1,second:1",
           "IMAGE_RESOLUTION": "320x180", "PYTHONUNBUFFERED": "1"}
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(SUPERVISOR, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 40
        cameras: list[str] = []
        healthy = False
        while time.monotonic() < deadline and not (healthy and len(cameras) == 2):
            time.sleep(0.3)
            cameras = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "pi.capture"],
                                     capture_output=True, text=True).stdout.split()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{gallery_port}/healthz", timeout=2) as r:
                    healthy = r.status == 200
            except OSError:
                healthy = False
        assert healthy and len(cameras) == 2, "the stack did not come up"
        os.kill(int(cameras[0]), sig.SIGKILL)
        time.sleep(2)
        assert proc.poll() is None, "one camera exiting stopped the whole stack"
        with urllib.request.urlopen(f"http://127.0.0.1:{gallery_port}/healthz", timeout=5) as r:
            assert r.status == 200
        left = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "pi.capture"],
                              capture_output=True, text=True).stdout.split()
        assert left == cameras[1:]
    finally:
        proc.send_signal(sig.SIGINT)
        output, _ = proc.communicate(timeout=60)
    assert "exited with code -9; the other cameras and the gallery go on" in output
    assert proc.returncode == 0


@pytest.mark.parametrize(("name", "value"), [("DEMO_CAMERAS", "gar den:5"), ("DEMO_IMAGE_EXPIRY", "soon"),
                                             ("GALLERY_PORT", "80000"), ("REDIS_PORT", "sixty"),
                                             ("GALLERY_THREADS", "0"), ("GALLERY_PAGE_SIZE", "1000")])
def test_a_bad_setting_exits_2_with_one_line_naming_it(name, value):
    result = run_supervisor({name: value, "REDIS_URL": ""})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and lines[0].startswith("error: ")


def test_a_gallery_port_in_use_is_refused_before_anything_starts(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_supervisor({"GALLERY_PORT": str(port), "REDIS_URL": "",
                                 "REDIS_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: GALLERY_PORT={port} is already in use on 127.0.0.1 (another "
                                      f"gallery or make run?). Fix: stop it, or pick a free port, e.g. "
                                      f"GALLERY_PORT={port + 1}.")
    assert not (tmp_path / "data").exists()  # no Redis was started
