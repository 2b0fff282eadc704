"""Live preview publishing (capture side): only while watched, small, never stored."""

from __future__ import annotations

import io
import logging
import time

from PIL import Image

from pi.contract import preview_channel
from tests.helpers import wait_until

CHANNEL = preview_channel("testcam")


def next_frame(pubsub, timeout: float = 5.0) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.2)
        if message and message["type"] == "message":
            return message["data"]
    raise AssertionError("no preview frame arrived")


def test_nothing_is_read_or_published_while_nobody_watches(r, redis_url, run_daemon):
    d = run_daemon(redis_url, "--interval", "3600", "--preview-fps", "10")
    wait_until(lambda: d.daemon.preview and d.daemon.store.stored == 1, 10.0)
    time.sleep(1.2)  # a few viewer checks
    preview = d.daemon.preview
    assert preview.is_alive()
    assert preview.frames_read == 0 and preview.published == 0


def test_frames_start_within_a_second_of_a_viewer_and_stop_when_they_leave(r, redis_url, run_daemon):
    d = run_daemon(redis_url, "--interval", "3600", "--preview-fps", "5")
    wait_until(lambda: d.daemon.preview and d.daemon.store.stored == 1, 10.0)
    pubsub = r.pubsub()
    pubsub.subscribe(CHANNEL)
    subscribed = time.monotonic()
    first = next_frame(pubsub)
    assert time.monotonic() - subscribed < 1.0
    frames = [first, next_frame(pubsub), next_frame(pubsub)]
    for frame in frames:
        with Image.open(io.BytesIO(frame)) as img:
            assert img.format == "JPEG" and img.size == (320, 180)
        assert len(frame) <= d.daemon.settings.preview_max_bytes
    pubsub.unsubscribe(CHANNEL)
    pubsub.close()
    time.sleep(0.8)  # the publisher notices within a check interval (or its next publish)
    read = d.daemon.preview.frames_read
    time.sleep(0.8)
    assert d.daemon.preview.frames_read == read
    assert len(list(r.scan_iter("image:*"))) == 1  # previews are never stored


def test_frames_over_the_size_limit_are_not_published_and_logged_once(r, redis_url, run_daemon,
                                                                      caplog):
    caplog.set_level(logging.WARNING)
    d = run_daemon(redis_url, "--interval", "3600", "--preview-fps", "10",
                   "--preview-max-bytes", "1024")
    pubsub = r.pubsub()
    pubsub.subscribe(CHANNEL)
    wait_until(lambda: d.daemon.preview and d.daemon.preview.too_big >= 3, 10.0)
    assert d.daemon.preview.published == 0
    assert pubsub.get_message(timeout=0.3)["type"] == "subscribe"
    assert pubsub.get_message(timeout=0.3) is None
    assert caplog.text.count("over PREVIEW_MAX_BYTES=1024") == 1
    pubsub.close()


def test_a_redis_outage_only_pauses_previews(redis_factory, run_daemon):
    from redis.backoff import ConstantBackoff
    server = redis_factory()
    d = run_daemon(server.url, "--interval", "0.5", "--preview-fps", "5",
                   replay_backoff=ConstantBackoff(0.1))
    viewer = server.client()
    pubsub = viewer.pubsub()
    pubsub.subscribe(CHANNEL)
    next_frame(pubsub)
    pubsub.close()
    server.stop()
    spooled = d.daemon.store.spooled
    wait_until(lambda: d.daemon.store.spooled >= spooled + 2, 10.0)  # captures carry on meanwhile
    assert d.daemon.preview.is_alive()
    server.start()
    pubsub = server.client().pubsub()
    pubsub.subscribe(CHANNEL)
    assert next_frame(pubsub).startswith(b"\xff\xd8")
    pubsub.close()
    assert d.daemon.preview.is_alive() and d.thread.is_alive()
