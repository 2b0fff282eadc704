"""The gallery serves originals from the archive once their full size has left Redis (issue 10).

Real parts: the session's Redis with the search module, the archiver itself, a folder and
moto's S3 server on loopback.
"""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time

import av
import pytest

from pi import contract
from server import create_app
from server.archive.archiver import Archiver
from server.archive.backends import FileBackend
from server.core.services import services
from server.core.settings import SettingsError
from server.timelapse.jobs import TimelapseJobs, movie_key
from server.tooling.embedded_redis import free_port
from tests.archive_support import settings_for
from tests.factories import store_image
from tests.helpers import wait_until
from tests.test_openapi_responses import Checker

T0 = 1_750_000_000.0


def archive_config(backend, **extra) -> dict:
    """The gallery settings naming `backend` as its archive."""
    config = {"ARCHIVE_URL": backend.url, "ARCHIVE_MIN_FREE_GB": "0"}
    if not isinstance(backend, FileBackend):
        config["ARCHIVE_S3_ENDPOINT"] = backend.endpoint
    return {**config, **extra}


def make_app(redis_url, tmp_path, **config):
    tmp = tmp_path / "movies"
    tmp.mkdir(exist_ok=True)
    return create_app({"TESTING": True, "REDIS_URL": redis_url, "GALLERY_PASSWORD": None,
                       "SECRET_KEY": "k", "TIMELAPSE_TMPDIR": str(tmp), **config})


@pytest.fixture
def archive_app(redis_url, tmp_path, backend):
    app = make_app(redis_url, tmp_path, **archive_config(backend))
    yield app
    jobs = services(app).peek(TimelapseJobs)
    if jobs is not None:
        jobs.wait(20)
    services(app).redis.close()


def archive_pictures(r, redis_url, backend, *ids: str) -> None:
    """Run the archiver until every picture's hash records its copy."""
    contract.ensure_index(r)
    archiver = Archiver(settings_for(backend, redis_url), r, backend)
    for _ in range(5):
        archiver.step(threading.Event())
        if all(r.hexists(contract.image_key(i), contract.F_ARCHIVED) for i in ids):
            return
    raise AssertionError("the archiver did not archive every picture")


def drop_full_size(r, image_id: str) -> None:
    """The full size leaves Redis, as its field expiry (tiered retention) does."""
    key = contract.image_key(image_id)
    r.execute_command("HPEXPIRE", key, 1, "FIELDS", 1, contract.F_IMAGE_DATA)
    assert wait_until(lambda: not r.hexists(key, contract.F_IMAGE_DATA), 5)
    assert r.exists(key)


@pytest.fixture
def archived_picture(r, redis_url, backend):
    """A picture archived and then gone from Redis's full size: (id, original bytes)."""
    image_id = store_image(r, camera="garden", timestamp=time.time() - 60, width=640, height=360)
    original = r.hget(contract.image_key(image_id), contract.F_IMAGE_DATA)
    archive_pictures(r, redis_url, backend, image_id)
    return image_id, original


def test_an_original_that_left_redis_is_served_from_the_archive_as_it_was_from_redis(
        r, archive_app, archived_picture, backend):
    image_id, original = archived_picture
    client = archive_app.test_client()
    from_redis = client.get(f"/api/images/{image_id}/image")
    drop_full_size(r, image_id)

    served = client.get(f"/api/images/{image_id}/image")
    assert served.status_code == 200 and served.is_streamed
    assert served.data == original
    assert served.mimetype == "image/jpeg"
    assert served.headers["ETag"] == from_redis.headers["ETag"] == f'"o-{image_id}-{len(original)}"'
    assert served.headers["Cache-Control"] == from_redis.headers["Cache-Control"]
    assert "immutable" in served.headers["Cache-Control"]
    assert served.headers["Accept-Ranges"] == "bytes"
    # A browser that cached it (from Redis or from the archive) is answered 304.
    again = client.get(f"/api/images/{image_id}/image", headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    download = client.get(f"/api/images/{image_id}/image?download=1")
    assert download.data == original
    assert download.headers["Content-Disposition"].startswith("attachment; filename=garden_")
    # The detail says where the full size comes from.
    detail = client.get(f"/api/images/{image_id}").get_json()
    assert detail["from_archive"] is True and detail["archive_note"] is None
    fields = dict(detail["fields"])
    assert fields["archived"] == backend.location(backend.key_of(fields["archived"]))


def test_range_requests_read_only_that_range_from_the_archive(r, archive_app, archived_picture):
    image_id, original = archived_picture
    drop_full_size(r, image_id)
    client = archive_app.test_client()
    url = f"/api/images/{image_id}/image"

    part = client.get(url, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.data == original[100:1100]
    assert part.headers["Content-Range"] == f"bytes 100-1099/{len(original)}"
    assert part.headers["Content-Length"] == "1000"
    assert part.headers["ETag"] == f'"o-{image_id}-{len(original)}"'
    tail = client.get(url, headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.data == original[-50:]
    rest = client.get(url, headers={"Range": f"bytes={len(original) - 10}-"})
    assert rest.data == original[-10:]
    outside = client.get(url, headers={"Range": f"bytes={len(original) + 5}-"})
    assert outside.status_code == 416
    assert outside.headers["Content-Range"] == f"bytes */{len(original)}"
    # If-Range naming another version: the whole original.
    other = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"o-other-1"'})
    assert other.status_code == 200 and other.data == original


def test_an_original_gone_from_the_archive_is_a_410_naming_it_and_the_thumbnail_stays(
        r, archive_app, archived_picture, backend):
    image_id, _ = archived_picture
    drop_full_size(r, image_id)
    location = r.hget(contract.image_key(image_id), contract.F_ARCHIVED).decode()
    backend.delete(backend.key_of(location))  # the archive's retention deleted it
    client = archive_app.test_client()

    gone = client.get(f"/api/images/{image_id}/image")
    assert gone.status_code == 410
    error = gone.get_json()["error"]
    assert error["code"] == "original_gone"
    assert image_id in error["message"] and location in error["message"]
    assert "thumbnail" in error["message"]
    assert client.get(f"/api/images/{image_id}/thumbnail").status_code == 200
    detail = client.get(f"/api/images/{image_id}").get_json()
    assert detail["from_archive"] is True
    assert detail["archive_note"].startswith("The original is gone")


def test_an_unreachable_archive_is_a_503_naming_the_archive_and_the_fix(
        r, redis_url, tmp_path, s3_backend, caplog):
    image_id = store_image(r, camera="garden")
    archive_pictures(r, redis_url, s3_backend, image_id)
    drop_full_size(r, image_id)
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app = make_app(redis_url, tmp_path, ARCHIVE_URL=s3_backend.url, ARCHIVE_S3_ENDPOINT=dead)
    client = app.test_client()

    down = client.get(f"/api/images/{image_id}/image")
    assert down.status_code == 503
    error = down.get_json()["error"]
    assert error["code"] == "archive_unavailable"
    assert s3_backend.url in error["message"] and "Fix:" in error["message"]
    assert dead in error["message"]
    assert down.headers["Retry-After"]
    assert client.get(f"/api/images/{image_id}/image?download=1").status_code == 503
    warnings = [rec for rec in caplog.records if "can't read the archive" in rec.getMessage()]
    assert len(warnings) == 1  # one warning per outage, not one per request
    detail = client.get(f"/api/images/{image_id}").get_json()
    assert detail["from_archive"] is True and "can't be read right now" in detail["archive_note"]
    # /healthz stays 200 (pictures are stored and shown), reports the archive and says why.
    health = client.get("/healthz")
    assert health.status_code == 200
    body = health.get_json()
    assert body["status"] == "degraded" and body["archive"]["gallery_error"]
    services(app).redis.close()


def test_without_archive_url_an_archived_picture_without_full_size_is_not_served(
        r, redis_url, file_backend, client):
    image_id = store_image(r, camera="garden")
    archive_pictures(r, redis_url, file_backend, image_id)
    drop_full_size(r, image_id)
    assert client.get(f"/api/images/{image_id}/image").status_code == 404
    detail = client.get(f"/api/images/{image_id}").get_json()
    assert detail["from_archive"] is False
    # The archiver runs (its status is fresh): the stats panel says the gallery can't use it.
    archive = client.get("/api/stats").get_json()["archive"]
    assert archive["configured"] is False and archive["running"] is True
    assert "the gallery has no ARCHIVE_URL" in archive["warning"]
    assert client.get("/healthz").get_json()["status"] == "ok"
    r.delete(contract.ARCHIVE_STATUS_KEY)  # no archiver, no archive: /healthz as before
    assert "archive" not in client.get("/healthz").get_json()


def test_an_archived_field_pointing_outside_the_archive_is_never_followed(
        r, redis_url, tmp_path, file_backend):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"\xff\xd8 not for the gallery")
    image_id = store_image(r, camera="garden")
    key = contract.image_key(image_id)
    r.hdel(key, contract.F_IMAGE_DATA)
    app = make_app(redis_url, tmp_path, **archive_config(file_backend))
    client = app.test_client()
    for location in (secret.as_uri(), file_backend.url + "/../secret.jpg", "s3://other/x.jpg"):
        r.hset(key, contract.F_ARCHIVED, location)
        answer = client.get(f"/api/images/{image_id}/image")
        assert answer.status_code == 404 and b"not for the gallery" not in answer.data
    services(app).redis.close()


def test_a_bad_archive_setting_stops_the_gallery_with_one_line_and_status_2(redis_url, tmp_path):
    with pytest.raises(SettingsError, match="ARCHIVE_URL='ftp://nas/pictures' has an unknown scheme"):
        make_app(redis_url, tmp_path, ARCHIVE_URL="ftp://nas/pictures")
    env = {"PATH": "/usr/bin:/bin", "REDIS_URL": redis_url, "ARCHIVE_URL": "s3://Bad_Bucket/x"}
    done = subprocess.run([sys.executable, "-m", "server", "serve", "--port", str(free_port())],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ARCHIVE_URL=") and "bucket" in lines[0]


def test_stats_and_healthz_show_the_archiver_and_warn_when_none_runs(r, archive_app):
    client = archive_app.test_client()
    archive = client.get("/api/stats").get_json()["archive"]
    assert archive["configured"] is True and archive["running"] is False
    assert archive["state"] == "absent" and "No archiver is running" in archive["warning"]
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json()["status"] == "degraded"
    assert "No archiver is running" in health.get_json()["message"]

    now = time.time()
    contract.save_archive_status(r, contract.ArchiveStatus(
        state="retrying", archive="s3://camera-archive/originals", last_ok=now - 90,
        last_error="Archive unreachable: uploading failed", pending=12, backlog=40, missed=0))
    archive = client.get("/api/stats").get_json()["archive"]
    assert (archive["state"], archive["pending"], archive["backlog"]) == ("retrying", 12, 40)
    assert archive["last_ok"] == pytest.approx(now - 90, abs=1)
    assert "Archive unreachable" in archive["warning"]
    assert client.get("/healthz").get_json()["status"] == "degraded"

    contract.save_archive_status(r, contract.ArchiveStatus(state="ok", last_ok=now, archived=5))
    health = client.get("/healthz").get_json()
    assert health["status"] == "ok" and health["archive"]["archived"] == 5
    assert client.get("/api/stats").get_json()["archive"]["warning"] is None


def test_redis_down_stays_503_with_an_archive_configured(redis_factory, tmp_path, file_backend):
    dead = redis_factory()
    dead.stop()
    app = make_app(dead.url, tmp_path, REDIS_TIMEOUT=0.5, **archive_config(file_backend))
    assert app.test_client().get("/healthz").status_code == 503
    services(app).redis.close()


def test_a_timelapse_across_archived_frames_uses_them_and_its_movie_goes_to_the_archive(
        r, redis_url, archive_app, backend):
    ids = [store_image(r, camera="garden", timestamp=T0 + i * 10, width=320, height=180) for i in range(6)]
    archive_pictures(r, redis_url, backend, *ids)
    for image_id in ids[:4]:
        drop_full_size(r, image_id)
    client = archive_app.test_client()
    with client.session_transaction() as session:
        session["csrf"] = "t"
    started = client.post("/api/timelapse", json={"since": T0 - 1, "until": T0 + 60, "camera": "garden",
                                                  "fps": 5, "size": "320x180"},
                          headers={"X-CSRF-Token": "t"})
    assert started.status_code == 202, started.get_json()
    job = started.get_json()["job_id"]
    assert wait_until(lambda: client.get(f"/api/timelapse/{job}").get_json()["status"] == "done", 60)
    state = client.get(f"/api/timelapse/{job}").get_json()
    assert state["frames"] == 6 and state["archive_frames"] == 4 and state["skipped_expired"] == 0
    assert state["movie_archived"] is True
    assert not r.exists(movie_key(job))  # not in Redis
    stored = backend.get(f"timelapse.movies/{job}.mp4")
    assert len(stored) == state["movie_bytes"]
    movie = client.get(f"/api/timelapse/{job}/movie.mp4")
    assert movie.status_code == 200 and movie.data == stored
    with av.open(io.BytesIO(movie.data)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 6
    part = client.get(f"/api/timelapse/{job}/movie.mp4", headers={"Range": "bytes=10-109"})
    assert part.status_code == 206 and part.data == stored[10:110]
    assert part.headers["Content-Range"] == f"bytes 10-109/{len(stored)}"
    # Deleting the job deletes its movie from the archive too.
    assert client.delete(f"/api/timelapse/{job}", headers={"X-CSRF-Token": "t"}).status_code == 200
    assert backend.head(f"timelapse.movies/{job}.mp4") is None


def test_the_archive_answers_match_the_api_document(r, archive_app, archived_picture, backend):
    image_id, original = archived_picture
    drop_full_size(r, image_id)
    client = archive_app.test_client()
    doc = client.get("/api/openapi.json").get_json()
    check = Checker(doc, archive_app)

    def call(url: str, **headers: str):
        response = client.get(url, headers=headers)
        check.check(response, "GET", url)
        return response

    etag = call(f"/api/images/{image_id}/image").headers["ETag"]
    call(f"/api/images/{image_id}/image", **{"If-None-Match": etag})
    call(f"/api/images/{image_id}/image", Range="bytes=0-99")
    call(f"/api/images/{image_id}/image", Range=f"bytes={len(original) + 1}-")
    call(f"/api/images/{image_id}")
    call("/api/stats")
    call("/healthz")
    location = r.hget(contract.image_key(image_id), contract.F_ARCHIVED).decode()
    backend.delete(backend.key_of(location))
    call(f"/api/images/{image_id}")
    call(f"/api/images/{image_id}/image")
    assert {c for *_, c in check.codes} >= {200, 206, 304, 410, 416}


def test_the_timelapse_command_reads_archived_frames_with_archive_url(
        r, redis_url, file_backend, tmp_path, monkeypatch, capsys):
    from server.timelapse.cli import main

    ids = [store_image(r, camera="garden", timestamp=T0 + i * 10) for i in range(4)]
    archive_pictures(r, redis_url, file_backend, *ids)
    for image_id in ids[:3]:
        drop_full_size(r, image_id)
    monkeypatch.setenv("REDIS_URL", redis_url)
    argv = ["--since", str(T0 - 1), "--until", str(T0 + 60), "--camera", "garden", "--fps", "5",
            "--size", "320x180", "-q"]
    monkeypatch.setenv("ARCHIVE_URL", file_backend.url)
    assert main([*argv, "-o", str(tmp_path / "with.mp4")]) == 0
    out = capsys.readouterr().out
    assert ": 4 frames" in out and "3 frames read from the archive" in out
    monkeypatch.setenv("ARCHIVE_URL", "ftp://nas/x")
    assert main([*argv, "-o", str(tmp_path / "bad.mp4")]) == 2
    assert capsys.readouterr().err.startswith("error: ARCHIVE_URL='ftp://nas/x' has an unknown scheme")


def test_the_archivers_retention_never_deletes_time_lapse_movies(r, redis_url, file_backend):
    from dataclasses import replace

    from server.archive.retention import enforce_retention
    from server.archive.settings import Limits

    file_backend.put("timelapse.movies/0123456789abcdef.mp4", b"\0" * 4096, "video/mp4")
    settings = replace(settings_for(file_backend, redis_url), limits=Limits(max_age_days=1, max_bytes=1))
    enforce_retention(file_backend, r, settings, now=time.time() + 365 * 86400)
    assert file_backend.head("timelapse.movies/0123456789abcdef.mp4") is not None
