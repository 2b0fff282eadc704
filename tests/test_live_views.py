"""The live-view routes through Flask's test client, with a real Redis and hub."""

from __future__ import annotations

import re
import time

import pytest

from server import live
from tests.helpers import kill_server, wait_until
from tests.live_support import SimulatedCamera, live_app, make_app, numsub, read_stamp


@pytest.fixture
def app(redis_url):
    with live_app(redis_url, LIVE_LINGER=0.5, LIVE_OFFLINE_AFTER=1.0) as app:
        yield app


JSON = {"Accept": "application/json"}


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def camera(redis_url):
    with SimulatedCamera(redis_url, camera="porch", fps=10) as cam:
        yield cam


def _error_code(response) -> str:
    body = response.get_json()
    assert set(body["error"]) >= {"code", "message"}
    return body["error"]["code"]


@pytest.mark.parametrize("path", [
    "/live/nosuchcam.mjpg", "/live/no%20such.mjpg", "/live/nosuchcam.jpg",
    "/api/live/nosuchcam", "/live/" + "x" * 40 + ".mjpg",
])
def test_unknown_or_malformed_cameras_are_404_with_a_json_error(client, path):
    response = client.get(path, headers=JSON)
    assert response.status_code == 404
    assert _error_code(response) == "unknown_camera"


def test_status_lists_cameras_and_watching_makes_them_online(client, camera, r):
    body = client.get("/api/live").get_json()
    assert body["redis"] == "ok"
    assert [c["camera"] for c in body["cameras"]] == ["porch"]
    porch = body["cameras"][0]
    assert porch["online"] is False and porch["frame_age"] is None and porch["host"] == "test-pi"
    assert camera.count == 0  # listing alone subscribes nothing

    client.get("/api/live?watch=1")
    assert wait_until(lambda: client.get("/api/live/porch").get_json()["online"], 3.0)
    status = client.get("/api/live/porch").get_json()
    assert status["subscribed"] and 0 <= status["frame_age"] < 1.0

    assert wait_until(lambda: numsub(r, "porch") == 0, 3.0)  # nobody renewed the watch
    assert wait_until(lambda: not client.get("/api/live/porch").get_json()["online"], 3.0)


def test_status_rejects_a_bad_watch_parameter(client):
    response = client.get("/api/live?watch=yes")
    assert response.status_code == 400
    assert response.get_json()["error"]["parameter"] == "watch"


def test_snapshot_returns_the_newest_frame(client, camera):
    response = client.get("/live/porch.jpg")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.headers["Cache-Control"] == "no-store"
    seq, _ = read_stamp(response.data)
    assert seq >= 1 and float(response.headers["X-Frame-Age"]) < 1.0
    time.sleep(0.3)
    later = client.get("/live/porch.jpg")
    assert read_stamp(later.data)[0] > seq


def test_snapshot_of_a_silent_camera_says_offline(client, redis_url):
    silent = SimulatedCamera(redis_url, camera="attic")
    silent.heartbeat()  # the daemon runs but sends no previews
    response = client.get("/live/attic.jpg", headers=JSON)
    assert response.status_code == 503
    assert _error_code(response) == "camera_offline"
    silent.close()


def test_mjpeg_stream_sends_frames_and_closing_it_releases_the_viewer(app, client, camera, r):
    response = client.get("/live/porch.mjpg", buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "multipart/x-mixed-replace"
    assert response.mimetype_params["boundary"] == "frame"
    parts = iter(response.response)
    assert next(parts) == b"--frame\r\n"
    seqs = []
    for _ in range(3):
        part = next(parts)
        head, _, rest = part.partition(b"\r\n\r\n")
        assert b"Content-Type: image/jpeg" in head
        assert rest.endswith(b"\r\n--frame\r\n")
        seqs.append(read_stamp(rest)[0])
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    hub = live.get_hub(app)
    assert hub.stats()["viewers"] == 1 and numsub(r, "porch") == 1
    response.close()  # what the server does when the tab goes away
    assert hub.stats()["viewers"] == 0
    assert wait_until(lambda: numsub(r, "porch") == 0, 3.0)


def test_mjpeg_stream_of_a_silent_camera_shows_the_offline_picture(client, redis_url):
    silent = SimulatedCamera(redis_url, camera="attic")
    silent.heartbeat()
    response = client.get("/live/attic.mjpg", buffered=False)
    parts = iter(response.response)
    next(parts)
    started = time.monotonic()
    part = next(parts)  # a keep-alive part, a few seconds later
    assert time.monotonic() - started < 4.0
    assert b"X-Frame-Seq: 0\r\n" in part and b"\xff\xd8" in part
    response.close()
    silent.close()


def test_too_many_streams_get_a_503(redis_url, camera):
    with live_app(redis_url, LIVE_MAX_VIEWERS=1) as app:
        client = app.test_client()
        first = client.get("/live/porch.mjpg", buffered=False)
        assert first.status_code == 200
        second = client.get("/live/porch.mjpg", headers=JSON)
        assert second.status_code == 503
        assert _error_code(second) == "too_many_viewers"
        first.close()
        third = client.get("/live/porch.mjpg", buffered=False)
        assert third.status_code == 200
        third.close()


def test_a_browser_opening_an_unknown_stream_gets_the_friendly_page(client):
    response = client.get("/live/nosuchcam.mjpg", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "nosuchcam" in response.get_data(as_text=True)


def test_redis_down_is_a_503_with_a_clear_message(redis_factory):
    server = redis_factory(appendonly=False)
    with live_app(server.url) as app:
        client = app.test_client()
        kill_server(server)
        response = client.get("/live/porch.mjpg", headers=JSON)
        assert response.status_code == 503
        assert _error_code(response) == "redis_unavailable"
        assert "Traceback" not in response.get_data(as_text=True)
        body = client.get("/api/live").get_json()
        assert body["redis"] == "down" and body["cameras"] == []


def test_with_login_enabled_the_live_view_needs_it_too(redis_url, camera, r):
    with live_app(redis_url, GALLERY_PASSWORD="s3cret-pass") as app:
        client = app.test_client()
        for path in ("/live/porch.mjpg", "/live/porch.jpg"):
            response = client.get(path)
            assert response.status_code == 302 and "/login" in response.headers["Location"]
        response = client.get("/api/live")
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "login_required"
        assert client.get("/api/live/porch").status_code == 401
        assert numsub(r, "porch") == 0  # nothing was subscribed for the anonymous requests

        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = client.post("/login", data={"password": "s3cret-pass", "csrf_token": token})
        assert response.status_code == 302
        assert client.get("/api/live").status_code == 200
        assert client.get("/live/porch.jpg").status_code == 200
        stream = client.get("/live/porch.mjpg", buffered=False)
        assert stream.status_code == 200
        stream.close()


def test_streams_are_capped_at_half_the_server_threads_by_default(redis_url):
    app = make_app(redis_url, GALLERY_THREADS=8)
    assert live.get_hub(app).max_viewers == 4
    app = make_app(redis_url, GALLERY_THREADS=8, LIVE_MAX_VIEWERS=6)
    assert live.get_hub(app).max_viewers == 6
