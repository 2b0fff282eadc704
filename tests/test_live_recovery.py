"""The live view recovers by itself after a Redis outage: Redis is killed and restarted on
the same port while a page keeps polling, and /api/live reports ok and frames flow again
within seconds, with nobody reloading or reopening anything."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from pi.contract import CameraStatus, preview_channel, save_heartbeat
from pi.redis_connection import connect
from server import create_app, live
from server.core.services import services
from tests.browser import BROWSER_TESTS, DESKTOP, ConsoleErrors, ServerThread, launch_browser
from tests.helpers import kill_server, wait_until
from tests.live_support import card_jpeg

CAMERA = "porch"
#: "Within a few seconds" of Redis answering again.
RECOVERY_SECONDS = 8.0


class Publisher:
    """A camera as the capture daemon runs it: a heartbeat every second, and preview frames
    while someone watches; it shrugs off a Redis outage and carries on when Redis is back."""

    def __init__(self, url: str, fps: float = 8.0) -> None:
        self.client = connect(url, retries=0, socket_timeout=1.0)
        self.interval = 1.0 / fps
        self.published = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-publisher", daemon=True)

    def _run(self) -> None:
        frame = card_jpeg(1)
        last_beat = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() - last_beat > 1.0:
                    save_heartbeat(self.client, CameraStatus(camera=CAMERA, host="test-pi",
                                                             started_at=time.time()), 30)
                    last_beat = time.monotonic()
                if self.client.pubsub_numsub(preview_channel(CAMERA))[0][1]:
                    self.client.publish(preview_channel(CAMERA), frame)
                    self.published += 1
            except (redis.ConnectionError, redis.TimeoutError):
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> Publisher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.close()


class PagePoller:
    """Asks GET /api/live?watch=1 once a second, as the page's live.js does."""

    def __init__(self, app, interval: float = 1.0) -> None:
        self.client = app.test_client()
        self.interval = interval
        self.body: dict = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-page-poller", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            response = self.client.get("/api/live?watch=1")
            assert response.status_code == 200
            self.body = response.get_json()
            self._stop.wait(self.interval)

    def camera(self) -> dict:
        return next((c for c in self.body.get("cameras", []) if c["camera"] == CAMERA), {})

    def __enter__(self) -> PagePoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def gallery_app(redis_factory):
    server = redis_factory()
    app = create_app({"REDIS_URL": server.url, "TESTING": True, "SECRET_KEY": "k",
                      "GALLERY_PASSWORD": None, "REDIS_TIMEOUT": 1.0,
                      "LIVE_LINGER": 1.0, "LIVE_OFFLINE_AFTER": 2.0})
    yield app, server
    live.get_hub(app).stop()
    services(app).redis.close()


def _restart(redis_factory, server):
    return redis_factory(port=server.port, data_dir=server.data_dir)


def test_live_status_and_frames_come_back_after_redis_is_killed_and_restarted(
        gallery_app, redis_factory):
    app, server = gallery_app
    with Publisher(server.url) as camera, PagePoller(app) as page:
        wait_until(lambda: page.camera().get("online"), 10, message="the camera never went live")

        kill_server(server)
        wait_until(lambda: page.body.get("redis") == "down" and not page.camera().get("online"),
                   6, message=lambda: f"the outage was not noticed: {page.body}")
        time.sleep(3)  # longer than LIVE_LINGER: the hub's feeds would lapse meanwhile

        _restart(redis_factory, server)
        back = time.monotonic()
        wait_until(lambda: page.body.get("redis") == "ok", RECOVERY_SECONDS,
                   message=lambda: f"/api/live still says {page.body}")
        published = camera.published
        wait_until(lambda: page.camera().get("online") and camera.published > published,
                   RECOVERY_SECONDS, message=lambda: f"no frames flow again: {page.body}")
        assert time.monotonic() - back < RECOVERY_SECONDS
        snapshot = app.test_client().get(f"/live/{CAMERA}.jpg")
        assert snapshot.status_code == 200 and snapshot.data.startswith(b"\xff\xd8")


def test_status_without_viewers_reports_redis_ok_once_it_is_back(gallery_app, redis_factory):
    app, server = gallery_app
    hub = live.get_hub(app)
    client = app.test_client()
    viewer = hub.open(CAMERA)
    wait_until(lambda: hub.stats()["subscribed"] == [CAMERA], 5)

    kill_server(server)
    wait_until(lambda: not hub.redis_ok, 5)
    viewer.close()  # nobody watches any more: the reader ends while Redis is still away
    wait_until(lambda: not hub.stats()["reader_alive"], 8)
    assert client.get("/api/live").get_json()["redis"] == "down"

    restarted = _restart(redis_factory, server)
    wait_until(lambda: client.get("/api/live").get_json()["redis"] == "ok", 3,
               message="/api/live kept saying Redis is down")
    save_heartbeat(restarted.client(), CameraStatus(camera=CAMERA, host="test-pi",
                                                    started_at=time.time()), 30)
    wait_until(lambda: client.get(f"/api/live/{CAMERA}").get_json().get("redis") == "ok", 3)


def _browser_test(fn):
    for mark in BROWSER_TESTS:
        fn = mark(fn)
    return fn


@_browser_test
def test_live_tiles_come_back_in_the_browser_after_a_redis_restart(
        gallery_app, redis_factory, artifacts_dir):
    app, server = gallery_app
    tile = f'.live-tile[data-camera="{CAMERA}"]'
    with Publisher(server.url), ServerThread(app) as gallery, launch_browser() as browser:
        page = browser.new_page(viewport=DESKTOP)
        errors = ConsoleErrors(page, failed_requests_ok=True)
        page.goto(gallery.url + "/")
        page.click("#overview-toggle")  # the live view is in the overview, folded at first
        page.wait_for_selector(f"{tile} .live-badge.is-live", timeout=15000)

        kill_server(server)
        page.wait_for_selector(f"{tile} .live-badge.is-offline", timeout=10000)
        page.wait_for_timeout(3000)
        page.screenshot(path=str(artifacts_dir / "live_redis_down.png"))

        _restart(redis_factory, server)
        page.wait_for_selector(f"{tile} .live-badge.is-live", timeout=RECOVERY_SECONDS * 1000)
        page.wait_for_function("() => document.getElementById('live-view-note').textContent === ''")
        src = page.get_attribute(f"{tile} img", "src")
        page.wait_for_function("([sel, src]) => document.querySelector(sel).getAttribute('src') !== src",
                               arg=[f"{tile} img", src], timeout=5000)
        page.screenshot(path=str(artifacts_dir / "live_redis_back.png"))
        errors.assert_none()


def test_a_subscription_that_lapses_between_two_polls_keeps_its_last_frame(redis_url, r):
    """A slow poll lets the linger run out; the tile must not flicker to "no frames"."""
    hub = live.LiveHub(redis_url, linger=0.2, offline_after=2.0)
    try:
        hub.touch(CAMERA)
        wait_until(lambda: hub.stats()["subscribed"] == [CAMERA], 3)
        frame = card_jpeg(3)
        wait_until(lambda: r.publish(preview_channel(CAMERA), frame) and hub.latest(CAMERA), 3)
        seq = hub.status(CAMERA)["frame_seq"]

        wait_until(lambda: hub.stats()["feeds"] == 0, 3)  # the linger ran out: unsubscribed
        status = hub.status(CAMERA)
        assert status["online"] and status["frame_seq"] >= seq and status["frame_age"] < 2.0
        seq = status["frame_seq"]

        hub.touch(CAMERA)  # the next poll: the feed comes back with its frame and numbering
        assert hub.latest(CAMERA) is not None and hub.status(CAMERA)["frame_seq"] == seq
        wait_until(lambda: hub.stats()["subscribed"] == [CAMERA], 3)
        wait_until(lambda: r.publish(preview_channel(CAMERA), frame)
                   and hub.status(CAMERA)["frame_seq"] > seq, 3)

        wait_until(lambda: hub.stats()["feeds"] == 0, 3)
        time.sleep(2.1)  # longer than offline_after: the kept frame is let go
        assert hub.buffered_bytes() == 0 and hub.status(CAMERA)["frame_age"] is None
    finally:
        hub.stop()
