"""Live MJPEG streams from a real waitress server: demand-driven publishing, freeing
closed viewers, slow clients and many viewers at once."""

from __future__ import annotations

import http.client
import statistics
import threading
import time

import pytest

from pi.contract import CameraStatus, ensure_index, preview_channel, save_heartbeat
from pi.preview import PreviewPublisher
from server import live
from tests.browser import ServerThread
from tests.factories import store_image
from tests.helpers import wait_until
from tests.live_support import (
    MjpegClient,
    SimulatedCamera,
    card_jpeg,
    live_app,
    numsub,
    read_stamp,
    stamp,
)


@pytest.fixture
def app(redis_url):
    with live_app(redis_url) as app:
        yield app


@pytest.fixture
def web(app):
    with ServerThread(app) as server:
        yield server


def _first_real_frame(client: MjpegClient) -> tuple[dict[str, str], bytes]:
    while True:
        headers, data = client.read_part()
        if headers.get("x-frame-seq") != "0":
            return headers, data


def test_no_frames_are_published_until_a_viewer_arrives_then_within_a_second(web, redis_url):
    with SimulatedCamera(redis_url, camera="porch", fps=5) as camera:
        time.sleep(1.5)
        assert camera.numsub_checks >= 5 and camera.count == 0

        started = time.monotonic()
        with MjpegClient(web.url, "/live/porch.mjpg") as viewer:
            headers, data = _first_real_frame(viewer)
            assert time.monotonic() - started < 1.0
            assert read_stamp(data)[0] == 1
            assert headers["content-type"] == "image/jpeg"


def test_the_daemons_publisher_encodes_nothing_unwatched_and_starts_within_a_second(
        web, redis_url, r):
    reads = []

    def read_frame() -> bytes:
        reads.append(time.monotonic())
        return stamp(card_jpeg(len(reads)), f"seq={len(reads)} t={time.time():.6f}")

    stop = threading.Event()
    save_heartbeat(r, CameraStatus(camera="yard", host="pi"), 60)
    publisher = PreviewPublisher(r, preview_channel("yard"), read_frame, fps=2.0,
                                 max_bytes=256 * 1024, stop=stop)
    publisher.start()
    try:
        time.sleep(1.5)
        assert publisher.frames_read == 0 and publisher.published == 0
        started = time.monotonic()
        with MjpegClient(web.url, "/live/yard.mjpg") as viewer:
            _first_real_frame(viewer)
            assert time.monotonic() - started < 1.0
            _first_real_frame(viewer)
        # Once nobody watches (after the hub's linger), the publisher goes idle again.
        assert wait_until(lambda: numsub(r, "yard") == 0, 6.0)
        time.sleep(0.6)
        idle_from = publisher.frames_read
        time.sleep(1.0)
        assert publisher.frames_read == idle_from
    finally:
        stop.set()
        publisher.join(5)


def test_a_closed_viewer_frees_its_subscription_within_seconds(app, web, redis_url, r):
    hub = live.get_hub(app)
    with SimulatedCamera(redis_url, camera="porch", fps=5) as camera:
        viewer = MjpegClient(web.url, "/live/porch.mjpg")
        _first_real_frame(viewer)
        assert numsub(r, "porch") == 1
        viewer.close()
        closed = time.monotonic()
        assert wait_until(lambda: hub.stats()["viewers"] == 0, 2.0)
        assert wait_until(lambda: numsub(r, "porch") == 0, 6.0)
        assert time.monotonic() - closed < hub.linger + 2.0
        assert wait_until(lambda: not hub.stats()["reader_alive"], 2.0)
        published = camera.count
        time.sleep(0.6)
        assert camera.count == published  # the camera stopped publishing too


def test_a_tab_closed_while_the_camera_is_silent_is_noticed(app, web, r):
    hub = live.get_hub(app)
    save_heartbeat(r, CameraStatus(camera="attic", host="pi"), 60)
    viewer = MjpegClient(web.url, "/live/attic.mjpg")
    assert wait_until(lambda: hub.stats()["viewers"] == 1, 2.0)
    viewer.close()
    assert wait_until(lambda: hub.stats()["viewers"] == 0, 3.0)


def test_a_slow_client_gets_frames_dropped_and_nothing_piles_up(app, web, redis_url):
    hub = live.get_hub(app)
    fps, reads = 20, 16
    with SimulatedCamera(redis_url, camera="porch", fps=fps, pad=40_000) as camera:
        frame_size = len(camera.cards[0]) + 40
        with MjpegClient(web.url, "/live/porch.mjpg", rcvbuf=16 * 1024) as viewer:
            lags, held = [], []
            for _ in range(reads):  # one frame read per 10 published
                _, data = _first_real_frame(viewer)
                lags.append(camera.count - read_stamp(data)[0])
                held.append(hub.buffered_bytes())
                time.sleep(10 / fps)
            received, published = reads, camera.count
    # The hub holds at most the newest frame and one untaken slot, however slow the client.
    assert max(held) <= 2 * frame_size
    # What the client sees stops falling behind: the backlog between the hub and the client
    # is bounded (it would grow by 9 frames a read if frames were queued, not dropped).
    first_half, second_half = lags[: reads // 2], lags[reads // 2:]
    assert max(second_half) <= max(first_half) + 10, lags
    assert max(lags) < 8 * fps, lags
    assert received < published / 5


def _p50_ms(base_url: str, path: str, count: int, seconds: float = 0.0) -> float:
    """Return the median time of `count` requests (or more, to last at least `seconds`)."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    times: list[float] = []
    until = time.monotonic() + seconds
    try:
        while len(times) < count or time.monotonic() < until:
            started = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            times.append(time.perf_counter() - started)
            assert response.status == 200
    finally:
        conn.close()
    return statistics.median(times) * 1000


def _open_event_stream(base_url: str) -> http.client.HTTPResponse:
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/api/events")
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/event-stream")
    return response


def test_twenty_viewers_and_event_streams_leave_the_list_api_as_responsive(
        app, web, redis_url, r):
    ensure_index(r)
    for i in range(48):
        store_image(r, camera="porch", timestamp=time.time() - 60 * i)
    api = "/api/images?limit=24"
    with SimulatedCamera(redis_url, camera="porch", fps=5, pad=30_000):
        _p50_ms(web.url, api, 10)  # warm up
        alone = _p50_ms(web.url, api, 60)

        stop = threading.Event()
        frames = [0] * 20

        def watch(index: int) -> None:
            with MjpegClient(web.url, "/live/porch.mjpg") as viewer:
                while not stop.is_set():
                    viewer.read_part()
                    frames[index] += 1

        viewers = [threading.Thread(target=watch, args=(i,), daemon=True) for i in range(20)]
        for thread in viewers:
            thread.start()
        events = [_open_event_stream(web.url) for _ in range(5)]  # five tabs' new-image feeds
        try:
            assert wait_until(lambda: min(frames) >= 2, 5.0, message=lambda: f"frames: {frames}")
            before = list(frames)
            watched = _p50_ms(web.url, api, 60, seconds=2.0)
            assert all(after >= b + 5 for after, b in zip(frames, before))  # streams kept flowing
        finally:
            stop.set()
            for thread in viewers:
                thread.join(5)
            for response in events:
                response.close()
    assert watched <= 2 * alone, f"p50 {watched:.1f} ms with 20 viewers vs {alone:.1f} ms alone"
