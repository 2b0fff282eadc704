"""`make run` end to end: Redis with search, capture daemons and the gallery, then a clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import redis

from pi import contract
from server.tooling.embedded_redis import free_port
from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parent.parent


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, {}
    except OSError:
        return 0, {}


def test_run_starts_everything_and_ctrl_c_stops_it_cleanly(tmp_path):
    redis_port, gallery_port = free_port(), free_port()
    env = {**os.environ, "REDIS_PORT": str(redis_port), "GALLERY_PORT": str(gallery_port),
           "REDIS_DATA_DIR": str(tmp_path / "redisdata"), "DEMO_CAMERAS": "front:0.5,back:0.7",
           "IMAGE_RESOLUTION": "640x360", "PYTHONUNBUFFERED": "1"}
    env.pop("REDIS_URL", None)
    supervisor = subprocess.Popen([sys.executable, "-m", "server.tooling.run_stack"], cwd=ROOT,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{gallery_port}"
        wait_until(lambda: get_json(base + "/healthz")[0] == 200, 30.0, interval=0.2)

        def cameras_listed() -> set[str]:
            status, body = get_json(base + "/api/images")
            return {image["camera"] for image in body.get("images", [])} if status == 200 else set()

        assert wait_until(lambda: cameras_listed() == {"front", "back"}, 30.0, interval=0.2)

        client = redis.Redis(port=redis_port, protocol=2)
        assert {f.name for f in contract.SCHEMA} <= set(contract.index_fields(client))
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "volatile-ttl"
        client.close()
    finally:
        supervisor.send_signal(signal.SIGINT)
        output, _ = supervisor.communicate(timeout=30)
    assert supervisor.returncode == 0, output
    assert f"Gallery:  http://127.0.0.1:{gallery_port}/" in output
    assert "Traceback" not in output
    assert (tmp_path / "redisdata" / "appendonlydir").is_dir()
    assert any((tmp_path / "redisdata" / "archive").rglob("*.jpg")), "the archiver copied nothing"
    try:
        redis.Redis(port=redis_port, socket_connect_timeout=0.5).ping()
        still_up = True
    except redis.ConnectionError:
        still_up = False
    assert not still_up, "the embedded Redis was left running"
