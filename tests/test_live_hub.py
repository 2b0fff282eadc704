"""The live-view hub against a real Redis: one subscription per camera, newest-frame slots,
lingering unsubscribe, frame limits, offline detection and Redis outages."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from pi.contract import preview_channel
from server.live import LiveHub, TooManyViewers
from tests.helpers import kill_server, wait_until
from tests.live_support import SimulatedCamera, card_jpeg, numsub, stamp


@pytest.fixture
def hub(redis_url):
    hub = LiveHub(redis_url, linger=0.3, offline_after=1.0)
    yield hub
    hub.stop()


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "live-hub-reader"]


def _publish_until_taken(r, camera: str, frame: bytes, viewer, timeout: float = 3.0):
    """Publish the frame until the viewer gets one (the first SUBSCRIBE may still be on its way)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r.publish(preview_channel(camera), frame)
        got = viewer.next_frame(timeout=0.2)
        if got is not None:
            return got
    return None


def test_many_viewers_share_one_subscription_and_all_get_each_frame(hub, r):
    viewers = [hub.open("cam1") for _ in range(3)]
    first = _publish_until_taken(r, "cam1", card_jpeg(1), viewers[0])
    assert first is not None
    assert numsub(r, "cam1") == 1
    for viewer in viewers[1:]:
        viewer.next_frame(timeout=0.5)  # drain what the warm-up published

    r.publish(preview_channel("cam1"), stamp(card_jpeg(2), "seq=99 t=0"))
    got = [v.next_frame(timeout=2.0) for v in viewers]
    assert all(f is not None and b"seq=99" in f.data for f in got)
    assert len({id(f) for f in got}) == 1  # one frame object fanned out, not copied
    assert numsub(r, "cam1") == 1


def test_last_viewer_leaving_drops_the_subscription_and_the_thread(hub, r):
    viewer = hub.open("cam1")
    assert wait_until(lambda: numsub(r, "cam1") == 1, 2.0)
    viewer.close()
    viewer.close()  # idempotent
    assert numsub(r, "cam1") == 1  # lingers, so a reload doesn't churn subscriptions
    assert wait_until(lambda: numsub(r, "cam1") == 0, 3.0)
    assert wait_until(lambda: not _reader_threads(), 3.0)
    assert hub.stats()["feeds"] == 0


def test_a_viewer_that_returns_within_the_linger_keeps_the_subscription(hub, r):
    hub.open("cam1").close()
    assert wait_until(lambda: numsub(r, "cam1") == 1, 2.0)
    viewer = hub.open("cam1")
    time.sleep(0.6)  # twice the linger
    assert numsub(r, "cam1") == 1
    viewer.close()


def test_a_slow_viewer_gets_only_the_newest_frame(hub, r):
    fast, slow = hub.open("cam1"), hub.open("cam1")
    assert _publish_until_taken(r, "cam1", card_jpeg(0), fast) is not None
    slow.next_frame(timeout=0.5)
    frame = card_jpeg(3, pad=20000)
    for seq in range(1, 51):
        r.publish(preview_channel("cam1"), stamp(frame, f"seq={seq} t=0"))
        fast.next_frame(timeout=1.0)
    got = slow.next_frame(timeout=1.0)
    assert got is not None and b"seq=50 " in got.data
    assert slow.dropped >= 45
    assert slow.next_frame(timeout=0.1) is None  # nothing queued behind it
    assert hub.buffered_bytes() <= len(got.data) + 100


def test_frames_too_big_or_not_jpeg_are_dropped_and_logged_once(redis_url, r, caplog):
    hub = LiveHub(redis_url, linger=0.3, max_frame_bytes=10_000)
    try:
        viewer = hub.open("cam1")
        assert _publish_until_taken(r, "cam1", card_jpeg(1), viewer) is not None
        with caplog.at_level(logging.WARNING, logger="server.live"):
            for _ in range(3):
                r.publish(preview_channel("cam1"), card_jpeg(2, pad=20_000))
                r.publish(preview_channel("cam1"), b"<html>not a picture</html>")
            assert viewer.next_frame(timeout=0.5) is None
        assert len([m for m in caplog.messages if "Dropping live frames" in m]) == 1
        r.publish(preview_channel("cam1"), card_jpeg(4))
        assert viewer.next_frame(timeout=2.0) is not None
    finally:
        hub.stop()


def test_status_goes_offline_when_frames_stop(hub, r):
    viewer = hub.open("cam1")
    assert not hub.status("cam1")["online"]
    assert _publish_until_taken(r, "cam1", card_jpeg(1), viewer) is not None
    status = hub.status("cam1")
    assert status["online"] and status["frame_age"] < 1.0 and status["frame_seq"] >= 1
    assert wait_until(lambda: not hub.status("cam1")["online"], 3.0)
    assert hub.status("cam1")["frame_age"] > 1.0
    viewer.close()


def test_redis_outage_shows_offline_then_reconnects_and_resubscribes(redis_factory):
    server = redis_factory(appendonly=False)
    hub = LiveHub(server.url, linger=0.3, offline_after=5.0, reconnect_cap=0.5)
    client = server.client()
    try:
        viewer = hub.open("cam1")
        assert _publish_until_taken(client, "cam1", card_jpeg(1), viewer) is not None
        assert hub.status("cam1")["online"]

        kill_server(server)
        assert wait_until(lambda: not hub.redis_ok, 3.0)
        assert not hub.status("cam1")["online"]  # offline although the last frame is recent

        server.start()
        client = server.client()
        assert wait_until(lambda: numsub(client, "cam1") == 1, 5.0)
        assert _publish_until_taken(client, "cam1", card_jpeg(2), viewer) is not None
        assert hub.redis_ok and hub.status("cam1")["online"]
        viewer.close()
    finally:
        hub.stop()
        client.close()


def test_the_hub_refuses_viewers_beyond_its_limit(redis_url):
    hub = LiveHub(redis_url, max_viewers=2)
    try:
        first, _ = hub.open("cam1"), hub.open("cam2")
        with pytest.raises(TooManyViewers):
            hub.open("cam1")
        first.close()
        hub.open("cam1").close()
    finally:
        hub.stop()


def test_a_viewer_stuck_in_a_write_is_dropped_after_the_write_timeout(redis_url, r):
    hub = LiveHub(redis_url, linger=0.2, write_timeout=0.5)
    try:
        stuck = hub.open("cam1")  # never takes a frame, as if blocked writing to a dead client
        assert wait_until(lambda: numsub(r, "cam1") == 1, 2.0)
        assert wait_until(lambda: stuck.closed, 3.0)
        assert wait_until(lambda: numsub(r, "cam1") == 0, 3.0)
        assert stuck.next_frame(timeout=0.1) is None
    finally:
        hub.stop()


def test_directory_lists_heartbeats_and_skips_other_keys(hub, r, redis_url):
    camera = SimulatedCamera(redis_url, camera="porch")
    camera.heartbeat()
    r.set("camera:notahash", "x")
    r.hset("camera:porch:settings", "a", "1")  # not a camera name
    r.hset("image:porch:1-abcd", "timestamp", "1")
    directory = hub.directory()
    assert list(directory) == ["porch"]
    assert directory["porch"].host == "test-pi"
    camera.close()


def test_stop_closes_viewers_and_ends_the_reader(redis_url, r):
    hub = LiveHub(redis_url)
    viewer = hub.open("cam1")
    assert wait_until(lambda: numsub(r, "cam1") == 1, 2.0)
    hub.stop()
    assert viewer.closed
    assert wait_until(lambda: numsub(r, "cam1") == 0, 2.0)
    assert not _reader_threads()
    with pytest.raises(RuntimeError):
        hub.open("cam1")
