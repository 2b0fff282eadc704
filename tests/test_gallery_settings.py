"""Gallery settings read from the environment reach the parts that use them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from server import create_app
from server.core.settings import SettingsError, from_env
from tests.factories import store_image


@pytest.mark.parametrize(("name", "value"), [
    ("LIVE_MAX_VIEWERS", "many"), ("LIVE_OFFLINE_AFTER", "0"), ("TIMELAPSE_MAX_FRAMES", "-5"),
    ("TIMELAPSE_TTL", "forever"),
])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        from_env({name: value})


def test_frame_limit_from_the_environment_applies_to_time_lapses(monkeypatch, redis_url, r):
    monkeypatch.setenv("TIMELAPSE_MAX_FRAMES", "2")
    monkeypatch.setenv("REDIS_URL", redis_url)
    app = create_app({"TESTING": True, "SECRET_KEY": "k"})
    for n in range(3):
        store_image(r, camera="garden", timestamp=1_750_000_000 + n)
    client = app.test_client()
    client.get("/")  # the page hands out the CSRF token
    with client.session_transaction() as session:
        token = session.get("csrf")
    response = client.post("/api/timelapse", headers={"X-CSRF-Token": token or ""},
                           json={"since": 1_749_999_990, "until": 1_750_000_010, "camera": "garden"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "too_many_frames"


def test_live_viewer_cap_from_the_environment(monkeypatch, redis_url):
    monkeypatch.setenv("LIVE_MAX_VIEWERS", "3")
    monkeypatch.setenv("REDIS_URL", redis_url)
    app = create_app({"TESTING": True})
    from server.live import get_hub

    with app.app_context():
        assert get_hub().max_viewers == 3


def test_serve_with_a_bad_setting_exits_2_with_one_line():
    result = subprocess.run([sys.executable, "-m", "server", "serve"], capture_output=True, text=True,
                            env={**os.environ, "GALLERY_PORT": "eighty"}, timeout=30)
    assert result.returncode == 2
    assert "GALLERY_PORT" in result.stderr and "Traceback" not in result.stderr
