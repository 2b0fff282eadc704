"""The live view in headless Chromium, fed by the real capture daemon's simulated camera:
tiles update while it runs, the modal streams MJPEG, and both say offline when it stops."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pi.contract import camera_key
from server import live
from tests.browser import BROWSER_TESTS, DESKTOP, ConsoleErrors, ServerThread, launch_browser
from tests.helpers import wait_until
from tests.live_support import live_app

pytestmark = BROWSER_TESTS

ROOT = Path(__file__).resolve().parent.parent
TILE = '.live-tile[data-camera="porch"]'


@pytest.fixture
def daemon(redis_url, r, tmp_path):
    """The capture daemon with its simulated camera, previews at 4 fps while watched."""
    cmd = [sys.executable, "-m", "pi.capture", "--camera-backend", "simulated",
           "--camera-name", "porch", "--redis-url", redis_url, "--interval", "3600",
           "--resolution", "1280x720", "--preview-fps", "4", "--spool-dir", str(tmp_path),
           "--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: r.exists(camera_key("porch")) or proc.poll() is not None, 20)
        assert proc.poll() is None, proc.stderr.read().decode()
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(15)
        proc.stderr.close()


@pytest.fixture
def gallery(redis_url):
    with live_app(redis_url, LIVE_OFFLINE_AFTER=2.0, LIVE_LINGER=1.0) as app:
        with ServerThread(app) as server:
            yield app, server


def _shot(locator) -> bytes:
    return locator.screenshot(animations="disabled")


def test_live_tiles_and_modal_follow_the_camera_and_say_offline_when_it_stops(
        daemon, gallery, artifacts_dir):
    app, server = gallery
    hub = live.get_hub(app)
    with launch_browser() as browser:
        page = browser.new_page(viewport=DESKTOP)
        errors = ConsoleErrors(page, failed_requests_ok=True)
        page.goto(server.url + "/")
        page.click("#overview-toggle")  # the live view is in the overview, folded away at first

        # The tile shows live frames that change over time.
        page.wait_for_selector(f"{TILE} .live-badge.is-live", timeout=15000)
        tile_img = page.locator(f"{TILE} img")
        page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                               arg=tile_img.element_handle(), timeout=10000)
        first_src, first = tile_img.get_attribute("src"), _shot(tile_img)
        page.wait_for_timeout(2200)
        assert tile_img.get_attribute("src") != first_src
        assert _shot(tile_img) != first
        assert page.locator(f"{TILE} .live-age").inner_text().startswith("frame ")
        page.locator("#live-view").screenshot(path=str(artifacts_dir / "live_tiles.png"))
        page.screenshot(path=str(artifacts_dir / "live_page.png"))

        # The modal streams MJPEG with the camera's name and the frame's age.
        page.click(TILE)
        page.wait_for_selector("#live-modal.is-active")
        assert page.inner_text("#live-modal-title") == "porch"
        modal_img = page.locator("#live-modal-img")
        page.wait_for_function("img => img.complete && img.naturalWidth >= 320",
                               arg=modal_img.element_handle(), timeout=10000)
        assert "/live/porch.mjpg" in modal_img.get_attribute("src")
        assert wait_until(lambda: hub.stats()["viewers"] == 1, 3.0)
        page.wait_for_selector("#live-modal-badge.is-live")
        assert page.inner_text("#live-modal-age").startswith("frame ")
        before = _shot(modal_img)
        page.wait_for_timeout(1500)
        assert _shot(modal_img) != before  # same <img>, new parts of the stream
        page.screenshot(path=str(artifacts_dir / "live_modal.png"))

        # The daemon stops: the modal and the tile say offline.
        daemon.terminate()
        daemon.wait(15)
        page.wait_for_selector("#live-modal-badge.is-offline", timeout=8000)
        assert page.inner_text("#live-modal-badge").lower() == "offline"
        assert page.locator("#live-modal-frame .live-offline-label").is_visible()
        page.wait_for_timeout(300)
        page.screenshot(path=str(artifacts_dir / "live_offline.png"))

        # Closing the modal ends the stream: the gallery frees the viewer.
        page.keyboard.press("Escape")
        page.wait_for_selector("#live-modal.is-active", state="hidden")
        assert wait_until(lambda: hub.stats()["viewers"] == 0, 3.0)
        assert page.locator(f"{TILE} .live-badge").inner_text().lower() == "offline"
        errors.assert_none()
