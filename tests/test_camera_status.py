"""A camera's online state in the gallery follows its daemon: on while running, off when stopped."""

from __future__ import annotations

import time


def camera_states(client) -> dict[str, bool]:
    return {cam["name"]: cam["online"] for cam in client.get("/api/cameras").json["cameras"]}


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_running_daemon_is_online_and_offline_as_soon_as_it_stops(run_daemon, redis_url, client):
    daemon = run_daemon(redis_url, "--interval", "0.2", "--camera-name", "shed")
    assert wait_for(lambda: camera_states(client).get("shed") is True)
    daemon.stop()
    # The heartbeat's TTL is 30 s; a clean stop must not leave the camera "online" that long.
    assert camera_states(client) == {"shed": False}
