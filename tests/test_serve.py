"""`python -m server serve` as a person runs it: the address it prints, and a taken port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from server.tooling.embedded_redis import free_port

ROOT = Path(__file__).resolve().parent.parent


def _env(redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GALLERY_", "REDIS_"))}
    env.update({"REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1", **extra})
    return env


@pytest.mark.parametrize("how", ["flag", "env"])
def test_a_taken_port_is_one_line_naming_the_port_and_the_fix(redis_url, how) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["--port", str(port)] if how == "flag" else []
        env = _env(redis_url, **({"GALLERY_PORT": str(port)} if how == "env" else {}))
        done = subprocess.run([sys.executable, "-m", "server", "serve", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "Gallery on" not in done.stdout  # nothing claims it is serving
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert f"port {port}" in errors[0] and "already in use" in errors[0]
    assert "GALLERY_PORT" in errors[0] and "stop that program" in errors[0]


def test_the_address_is_printed_as_given_once_the_gallery_listens(redis_url) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "server", "serve", "--port", str(port)],
                            cwd=ROOT, env=_env(redis_url, GALLERY_HOST="127.0.0.1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"Gallery on http://127.0.0.1:{port}/ "), line
        assert "localhost" not in line
        # Printed only once listening: the address answers at once.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
