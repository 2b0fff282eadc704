"""Clients made by pi.redis_connection: quick to give up on a hung server, quick to reconnect."""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis

from pi.redis_connection import connect, redact_url


def test_a_hung_server_costs_one_timeout_not_one_per_retry(redis_factory):
    server = redis_factory()
    client = connect(server.url, retries=3, socket_timeout=0.5)
    client.ping()
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            client.set("k", "v")
        assert time.monotonic() - started < 1.4
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


def test_a_restarted_server_is_reconnected_to_transparently(redis_factory, tmp_path):
    server = redis_factory(data_dir=tmp_path / "d")
    client = connect(server.url, retries=3)
    client.set("k", "v")
    server.stop()
    server.start()
    assert client.get("k") == b"v"  # the pooled connection died; the retry made a new one


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
    ("redis://user:s3cret@host", "redis://user:***@host"),
    ("redis://host:6379", "redis://host:6379"),
])
def test_passwords_never_show(url, shown):
    assert redact_url(url) == shown
