"""The time-lapse API: start, follow, cancel and stream a job through the gallery app."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

import av
import pytest

from pi import contract
from pi.contract import ensure_index
from server import create_app
from server.core.services import services
from server.timelapse import engine
from server.timelapse.jobs import TimelapseJobs, movie_key
from tests.factories import store_image
from tests.helpers import wait_until

T0 = 1_750_000_000.0
SINCE, UNTIL = "2025-06-15T15:06:00Z", "2025-06-15T15:10:00Z"  # T0 - 40 s .. T0 + 200 s


@pytest.fixture
def app(redis_url, tmp_path):
    tmp = tmp_path / "movies"
    tmp.mkdir()
    app = create_app({"TESTING": True, "REDIS_URL": redis_url, "TIMELAPSE_MAX_FRAMES": 40,
                      "TIMELAPSE_TTL": 600, "TIMELAPSE_TMPDIR": str(tmp)})
    yield app
    jobs = services(app).peek(TimelapseJobs)
    if jobs is not None:
        jobs.wait(20)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def csrf(client):
    """The headers a state-changing request from the page carries."""
    page = client.get("/")
    match = re.search(rb'<meta name="csrf-token" content="([^"]*)"', page.data)
    return {"X-CSRF-Token": match.group(1).decode() if match else ""}


@pytest.fixture
def stored(r):
    ensure_index(r)
    for i in range(6):
        store_image(r, camera="cam", timestamp=T0 + i, lux=30 + 40 * i)
    return r


def start(client, csrf, **body):
    values = {"since": SINCE, "until": UNTIL, "camera": "cam", "fps": 6, "size": "320x180"}
    values.update(body)
    return client.post("/api/timelapse", json=values, headers=csrf)


def wait_for(client, job_id: str, status: str = "done", timeout: float = 20.0) -> dict:
    states = []

    def reached() -> dict | None:
        states.append(client.get(f"/api/timelapse/{job_id}").get_json())
        return states[-1] if states[-1].get("status") == status else None

    return wait_until(reached, timeout,
                      message=lambda: f"job {job_id} never reached {status}: {states[-1]}")


def test_a_job_runs_to_a_playable_movie(client, csrf, stored):
    response = start(client, csrf, burn_in=True)

    assert response.status_code == 202
    job_id = response.get_json()["job_id"]
    assert response.headers["Location"].endswith(f"/api/timelapse/{job_id}")
    state = wait_for(client, job_id)
    assert (state["done"], state["total"], state["percent"], state["frames"]) == (6, 6, 100.0, 6)
    assert state["duration_seconds"] == pytest.approx(1.0)
    assert state["skipped_expired"] == 0
    assert 0 < state["expires_in"] <= 600

    movie = client.get(state["movie_url"])
    assert movie.status_code == 200
    assert movie.mimetype == "video/mp4"
    assert movie.headers["Accept-Ranges"] == "bytes"
    assert int(movie.headers["Content-Length"]) == len(movie.data) == state["movie_bytes"]
    with av.open(io.BytesIO(movie.data)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (320, 180)
        assert sum(1 for _ in container.decode(stream)) == 6


def test_the_movie_supports_range_requests_and_downloads(client, csrf, stored):
    job_id = start(client, csrf).get_json()["job_id"]
    state = wait_for(client, job_id)
    whole = client.get(state["movie_url"]).data

    part = client.get(state["movie_url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert part.data == whole[100:200]
    tail = client.get(state["movie_url"], headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.data == whole[-50:]
    beyond = client.get(state["movie_url"], headers={"Range": f"bytes={len(whole) + 10}-"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(whole)}"

    download = client.get(state["download_url"])
    assert download.status_code == 200 and download.data == whole
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert "timelapse-cam-" in download.headers["Content-Disposition"]


def test_job_state_lives_in_redis_for_any_gallery_process(app, client, csrf, stored, redis_url):
    job_id = start(client, csrf).get_json()["job_id"]
    wait_for(client, job_id)

    other = create_app({"TESTING": True, "REDIS_URL": redis_url})
    state = other.test_client().get(f"/api/timelapse/{job_id}").get_json()
    assert state["status"] == "done" and state["frames"] == 6
    assert other.test_client().get(state["movie_url"]).status_code == 200


def test_finished_movies_expire_from_redis(client, csrf, stored):
    job_id = start(client, csrf).get_json()["job_id"]
    wait_for(client, job_id)

    assert 0 < stored.ttl(contract.timelapse_key(job_id)) <= 600
    assert 0 < stored.ttl(movie_key(job_id)) <= 600


@pytest.fixture
def gate(monkeypatch):
    """Hold each job at its third frame until the test opens the gate."""
    reached, opened = threading.Event(), threading.Event()
    real = engine.render_frame
    calls = []

    def held(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            reached.set()
            opened.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "render_frame", held)
    yield reached, opened
    opened.set()


@pytest.mark.parametrize("how", ["delete", "post"])
def test_cancelling_mid_run_leaves_no_job_and_no_file(app, client, csrf, stored, gate, how):
    reached, opened = gate
    job_id = start(client, csrf).get_json()["job_id"]
    assert reached.wait(10)
    tmp = app.config["TIMELAPSE_TMPDIR"]
    assert client.get(f"/api/timelapse/{job_id}").get_json()["status"] == "running"
    assert len(list(Path(tmp).iterdir())) == 1  # the movie being made

    threading.Timer(0.2, opened.set).start()
    if how == "delete":
        response = client.delete(f"/api/timelapse/{job_id}", headers=csrf)
    else:
        response = client.post(f"/api/timelapse/{job_id}/cancel", headers=csrf)

    assert response.status_code == 200
    assert response.get_json() == {"job_id": job_id, "status": "cancelled"}
    assert client.get(f"/api/timelapse/{job_id}").status_code == 404
    assert stored.keys(f"{contract.timelapse_key(job_id)}*") == []
    assert list(Path(tmp).iterdir()) == []


def test_a_second_job_is_refused_while_one_runs(client, csrf, stored, gate):
    reached, opened = gate
    first = start(client, csrf).get_json()["job_id"]
    assert reached.wait(10)

    second = start(client, csrf)

    assert second.status_code == 409
    body = second.get_json()
    assert body["error"]["code"] == "busy" and body["job_id"] == first
    assert first in body["error"]["message"]
    assert client.get("/api/timelapse/current").get_json()["job"]["job_id"] == first
    opened.set()
    wait_for(client, first)
    assert start(client, csrf).status_code == 202


def test_a_finished_movie_can_be_deleted(client, csrf, stored):
    job_id = start(client, csrf).get_json()["job_id"]
    wait_for(client, job_id)

    assert client.delete(f"/api/timelapse/{job_id}", headers=csrf).status_code == 200

    assert stored.keys("timelapse:*") == []
    assert client.get(f"/api/timelapse/{job_id}/movie.mp4").status_code == 404


@pytest.mark.parametrize(
    ("body", "code", "parameter"),
    [
        (dict(since=UNTIL, until=SINCE), "since_after_until", "since"),
        (dict(since=SINCE, until=SINCE), "empty_range", "until"),
        (dict(since="2025-01-01T00:00:00Z", until="2025-01-02T00:00:00Z"), "empty_range", "since"),
        (dict(camera="porch"), "unknown_camera", "camera"),
        (dict(fps=0), "bad_fps", "fps"),
        (dict(fps=120), "bad_fps", "fps"),
        (dict(fps="fast"), "bad_fps", "fps"),
        (dict(fps=None), "bad_fps", "fps"),
        (dict(fps=2.5), "bad_fps", "fps"),
        (dict(size="10x10"), "bad_size", "size"),
        (dict(size="5000x5000"), "bad_size", "size"),
        (dict(size="huge"), "bad_size", "size"),
        (dict(since="soonish"), "bad_time", "since"),
        (dict(min_lux="dark"), "bad_min_lux", "min_lux"),
    ],
)
def test_bad_input_gets_a_400_naming_the_parameter(client, csrf, stored, body, code, parameter):
    response = start(client, csrf, **body)

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["code"], error["parameter"]) == (code, parameter)
    assert len(error["message"]) > 30
    assert stored.keys("timelapse:*") == []


def test_more_frames_than_the_limit_gets_a_400(client, csrf, stored):
    for i in range(40):
        store_image(stored, camera="cam", timestamp=T0 + 10 + i, thumbnail=False)

    response = start(client, csrf)

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "too_many_frames"
    assert "46 images, more than the limit of 40" in error["message"]


def test_starting_and_cancelling_need_the_pages_csrf_token(client, csrf, stored):
    refused = client.post("/api/timelapse", json={"since": SINCE, "until": UNTIL})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "csrf_failed"
    assert stored.keys("timelapse:*") == []

    job_id = start(client, csrf).get_json()["job_id"]
    wait_for(client, job_id)
    assert client.delete(f"/api/timelapse/{job_id}").status_code == 403
    assert client.post(f"/api/timelapse/{job_id}/cancel").status_code == 403
    assert client.get(f"/api/timelapse/{job_id}").get_json()["status"] == "done"


def test_a_non_json_body_gets_a_400(client, csrf, stored):
    response = client.post("/api/timelapse", data="nonsense", headers=csrf,
                           content_type="text/plain")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"


def test_unknown_jobs_are_404(client, csrf):
    for path in ("/api/timelapse/0123456789abcdef", "/api/timelapse/nonsense",
                 "/api/timelapse/0123456789abcdef/movie.mp4"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "no_such_job"
    assert client.delete("/api/timelapse/0123456789abcdef", headers=csrf).status_code == 404
