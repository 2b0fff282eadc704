"""The "Make time-lapse" dialog in headless Chromium: start, watch, leave, return, play."""

from __future__ import annotations

import time

import pytest

from pi.contract import ensure_index
from server.timelapse import engine
from tests.browser import BROWSER_TESTS
from tests.factories import store_image

pytestmark = BROWSER_TESTS

FRAMES = 12
FPS = 6


@pytest.fixture
def slow_frames(monkeypatch):
    """Make each frame take a moment, so the progress bar can be watched."""
    real = engine.render_frame

    def slow(*args, **kwargs):
        time.sleep(0.15)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "render_frame", slow)


def test_make_watch_leave_return_and_play(r, gallery, page, slow_frames, artifacts_dir):
    ensure_index(r)
    now = time.time()
    for i in range(FRAMES):
        store_image(r, camera="garden", timestamp=now - 1800 + i * 60, lux=10 + 20 * i,
                    width=640, height=360)
    store_image(r, camera="porch", timestamp=now - 600, lux=50)

    page.goto(gallery.url + "/?camera=garden&range=1h")
    page.click("#tl-open")
    page.wait_for_selector("#tl-modal.is-active")
    assert page.input_value("#tl-camera") == "garden"  # the current filter is the default
    since = page.evaluate("new Date(document.getElementById('tl-since').value).getTime() / 1000")
    assert abs(since - (now - 3600)) < 120
    page.fill("#tl-fps", str(FPS))
    page.select_option("#tl-size", "640x360")
    page.check("#tl-burn-in")
    page.screenshot(path=str(artifacts_dir / "timelapse-form.png"))

    page.click("#tl-start")
    page.wait_for_function(
        "() => { const b = document.getElementById('tl-bar');"
        " return b.offsetParent !== null && b.value > 0 && b.value < b.max; }", timeout=15000)
    assert "frames" in page.text_content("#tl-count")
    page.screenshot(path=str(artifacts_dir / "timelapse-progress.png"))
    job_id = page.evaluate("localStorage.getItem('gallery.timelapse.job')")
    assert job_id

    # Leave the page mid-run and come back: the job carries on and is shown again.
    page.goto("about:blank")
    page.goto(gallery.url + "/")
    page.wait_for_selector("#tl-chip:not(.is-hidden)")
    page.wait_for_function(
        "() => document.getElementById('tl-chip-text').textContent === 'Time-lapse ready'",
        timeout=20000)
    page.click("#tl-chip")
    page.wait_for_selector("#tl-modal.is-active #tl-video")
    assert page.text_content("#tl-count").startswith(f"{FRAMES} / {FRAMES} frames (100 %)")
    assert page.evaluate("document.getElementById('tl-bar').value") == FRAMES

    page.wait_for_function(
        "() => { const v = document.getElementById('tl-video');"
        " return v.readyState >= 1 && Number.isFinite(v.duration); }", timeout=15000)
    duration = page.evaluate("document.getElementById('tl-video').duration")
    assert duration == pytest.approx(FRAMES / FPS, abs=0.2)
    size = page.evaluate("[document.getElementById('tl-video').videoWidth,"
                         " document.getElementById('tl-video').videoHeight]")
    assert size == [640, 360]
    download = page.get_attribute("#tl-download", "href")
    assert download.endswith(f"/api/timelapse/{job_id}/movie.mp4?download=1")
    page.evaluate("document.getElementById('tl-video').currentTime = 1.0")  # seeking uses Range
    page.wait_for_function("() => document.getElementById('tl-video').readyState >= 2",
                           timeout=10000)
    page.screenshot(path=str(artifacts_dir / "timelapse-done.png"))

    # Deleting the movie forgets the job.
    page.click("#tl-delete")
    page.wait_for_selector("#tl-form:not(.is-hidden)")
    assert page.evaluate("localStorage.getItem('gallery.timelapse.job')") is None
    assert r.keys("timelapse:*") == []


def test_bad_input_is_shown_next_to_the_field(r, gallery, page, artifacts_dir):
    ensure_index(r)
    store_image(r, camera="garden", timestamp=time.time() - 60)

    page.goto(gallery.url + "/")
    page.click("#tl-open")
    page.wait_for_selector("#tl-modal.is-active")
    page.fill("#tl-fps", "500")
    page.click("#tl-start")

    page.wait_for_selector("#tl-form-error:not(.is-hidden)")
    assert "frame rate 500 is out of bounds" in page.text_content("#tl-form-error")
    assert page.get_attribute("#tl-fps", "aria-invalid") == "true"
    page.screenshot(path=str(artifacts_dir / "timelapse-error.png"))
    assert r.keys("timelapse:*") == []


def test_cancel_stops_the_job_and_clears_it(r, gallery, page, slow_frames, artifacts_dir):
    ensure_index(r)
    now = time.time()
    for i in range(FRAMES):
        store_image(r, camera="garden", timestamp=now - 600 + i * 30)

    page.goto(gallery.url + "/")
    page.click("#tl-open")
    page.wait_for_selector("#tl-modal.is-active")
    page.click("#tl-start")
    page.wait_for_selector("#tl-cancel:not(.is-hidden)")
    page.click("[data-tl-close].delete")  # closing the dialog leaves the job running
    page.wait_for_function(
        "() => /Time-lapse \\d+ %/.test(document.getElementById('tl-chip-text').textContent)")
    page.locator("#filter-bar").screenshot(path=str(artifacts_dir / "timelapse-chip.png"))
    page.click("#tl-chip")
    page.click("#tl-cancel")

    page.wait_for_selector("#tl-form:not(.is-hidden)")
    assert page.is_hidden("#tl-chip")
    assert page.evaluate("localStorage.getItem('gallery.timelapse.job')") is None
    assert r.keys("timelapse:*") == []
