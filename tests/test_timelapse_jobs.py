"""The job runner: state in Redis, expiring images counted, nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from pi import contract
from pi.contract import ensure_index, image_key
from server.timelapse import engine
from server.timelapse.engine import TimelapseOptions
from server.timelapse.jobs import TimelapseJobs, movie_key
from tests.factories import store_image

T0 = 1_750_000_000.0


@pytest.fixture
def jobs(r, tmp_path):
    ensure_index(r)
    runner = TimelapseJobs(r, max_frames=100, result_ttl=120, tmp_dir=tmp_path)
    yield runner
    runner.shutdown()


def options() -> TimelapseOptions:
    return TimelapseOptions(since=T0, until=T0 + 100, camera="cam", fps=5, width=320, height=180)


def test_images_expiring_during_a_job_are_counted_in_its_state(r, jobs, monkeypatch):
    ids = [store_image(r, camera="cam", timestamp=T0 + i, lux=50 + 10 * i) for i in range(5)]
    real = engine.render_frame

    def expire_one(*args, **kwargs):
        r.delete(image_key(ids[3]))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "render_frame", expire_one)
    job_id = jobs.start(options())
    assert jobs.wait(20)

    state = jobs.status(job_id)
    assert state["status"] == "done"
    assert (state["frames"], state["skipped_expired"]) == (4, 1)
    assert (state["done"], state["total"]) == (5, 5)
    assert state["percent"] == 100.0
    assert len(jobs.read_movie(job_id, 0, 10)) == 10


def test_a_job_with_nothing_left_fails_with_a_clear_error(r, jobs, monkeypatch):
    ids = [store_image(r, camera="cam", timestamp=T0 + i) for i in range(3)]
    real = engine.iter_frames

    def all_gone(*args, **kwargs):
        for image_id in ids:
            r.delete(image_key(image_id))
        yield from real(*args, **kwargs)

    monkeypatch.setattr(engine, "iter_frames", all_gone)
    job_id = jobs.start(options())
    assert jobs.wait(20)

    state = jobs.status(job_id)
    assert state["status"] == "failed"
    assert state["error"]["code"] == "no_frames"
    assert "3 expired" in state["error"]["message"]
    assert r.exists(movie_key(job_id)) == 0
    assert 0 < r.ttl(contract.timelapse_key(job_id)) <= 120


def test_a_process_that_exits_cancels_its_job(r, jobs, tmp_path, monkeypatch):
    for i in range(4):
        store_image(r, camera="cam", timestamp=T0 + i)
    reached, opened = threading.Event(), threading.Event()
    real = engine.render_frame

    def held(*args, **kwargs):
        reached.set()
        opened.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "render_frame", held)
    job_id = jobs.start(options())
    assert reached.wait(10)
    assert r.exists(contract.timelapse_key(job_id)) == 1
    assert len(list(tmp_path.iterdir())) == 1

    threading.Timer(0.2, opened.set).start()
    jobs.shutdown()

    assert r.keys("timelapse:*") == []
    assert list(tmp_path.iterdir()) == []


def test_temporary_movies_of_dead_processes_are_swept(r, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    orphan = tmp_path / f"timelapse-{dead.stdout.strip()}-0123456789abcdef-x1.mp4"
    mine = tmp_path / f"timelapse-{os.getpid()}-fedcba9876543210-x2.mp4"
    unrelated = tmp_path / "holiday.mp4"
    for path in (orphan, mine, unrelated):
        path.write_bytes(b"partial")

    TimelapseJobs(r, max_frames=10, tmp_dir=tmp_path)

    assert not orphan.exists()
    assert mine.exists() and unrelated.exists()
