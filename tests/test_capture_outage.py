"""Nothing is lost while Redis is away: stopped, not yet started, or out of memory."""

from __future__ import annotations

import logging
import time

from redis.backoff import ConstantBackoff

from pi.contract import INDEX_NAME, ImageRecord, image_id, image_key
from pi.redis_connection import connect
from pi.spool import Spool
from pi.store import ImageStore
from tests.factories import make_jpeg
from tests.helpers import wait_until

EXPIRY = 60.0
FAST_RETRY = ConstantBackoff(0.1)


def assert_all_stored_with_remaining_ttl(client, ids) -> None:
    """Every picture is in Redis, its TTL what was left of EXPIRY since it was taken."""
    now = time.time()
    for new_id in ids:
        key = image_key(new_id)
        taken = float(client.hget(key, "timestamp"))
        expected = EXPIRY - (now - taken)
        assert abs(client.pttl(key) / 1000 - expected) < 2.0, (key, client.pttl(key), expected)


def test_redis_stopped_mid_run_and_restarted_loses_nothing(redis_factory, run_daemon):
    server = redis_factory()
    d = run_daemon(server.url, "--interval", "0.2", "--expiry", str(EXPIRY),
                   replay_backoff=FAST_RETRY)
    store = d.daemon.store
    wait_until(lambda: store.stored >= 2, 15.0)
    server.stop()
    wait_until(lambda: store.spooled >= 3, 15.0)
    assert d.thread.is_alive()
    server.start()
    wait_until(lambda: store.replayed >= 3 and len(d.daemon.spool) == 0, 15.0)
    wait_until(lambda: store.stored >= 4, 15.0)  # new pictures go straight to Redis again
    d.stop()
    assert d.error is None
    client = server.client()
    ids = list(d.daemon.recent_ids)
    assert len(ids) == store.stored + store.replayed + len(d.daemon.spool)
    assert_all_stored_with_remaining_ttl(client, ids)
    assert not list(d.daemon.spool.directory.glob("*.spool"))


def test_redis_down_at_start_spools_then_creates_the_index_and_replays(redis_factory, run_daemon):
    server = redis_factory()
    server.stop()
    d = run_daemon(server.url, "--interval", "0.2", "--expiry", str(EXPIRY),
                   replay_backoff=FAST_RETRY)
    wait_until(lambda: d.daemon.store.spooled >= 2, 15.0)
    server.start()
    wait_until(lambda: d.daemon.store.replayed >= 2 and len(d.daemon.spool) == 0, 15.0)
    d.stop()
    client = server.client()
    assert INDEX_NAME.encode() in client.execute_command("FT._LIST")
    ids = list(d.daemon.recent_ids)
    assert_all_stored_with_remaining_ttl(client, ids)
    total = client.execute_command("FT.SEARCH", INDEX_NAME, "*", "LIMIT", "0", "0")[0]
    assert total == len(ids)


def test_out_of_memory_spools_and_replays_when_memory_frees(redis_factory, run_daemon, caplog):
    server = redis_factory()
    admin = server.client()
    d = run_daemon(server.url, "--interval", "0.2", "--expiry", str(EXPIRY),
                   replay_backoff=FAST_RETRY)
    store = d.daemon.store
    wait_until(lambda: store.stored >= 1, 15.0)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", "1")
    wait_until(lambda: store.spooled >= 2, 15.0)
    assert d.thread.is_alive() and "out of memory" in caplog.text
    admin.config_set("maxmemory", "0")
    wait_until(lambda: store.replayed >= 2 and len(d.daemon.spool) == 0, 15.0)
    d.stop()
    assert_all_stored_with_remaining_ttl(admin, list(d.daemon.recent_ids))


def test_a_picture_that_expired_while_spooled_is_dropped_and_logged(r, redis_url, tmp_path, caplog):
    spool = Spool(tmp_path, 10_000_000)
    now = time.time()
    old = ImageRecord(timestamp=now - 120, image_data=make_jpeg(), camera="cam", lux=1.0)
    young = ImageRecord(timestamp=now - 10, image_data=make_jpeg(), camera="cam", lux=2.0)
    old_id, young_id = image_id("cam", old.timestamp), image_id("cam", young.timestamp)
    spool.put(old_id, old, old.timestamp + EXPIRY)
    spool.put(young_id, young, young.timestamp + EXPIRY)
    client = connect(redis_url)
    store = ImageStore(client, spool, EXPIRY, redis_url)
    caplog.set_level(logging.WARNING)
    assert store.connect() and store.replay()
    assert not r.exists(image_key(old_id))
    assert f"Dropped spooled picture {image_key(old_id)}: it expired" in caplog.text
    assert abs(r.pttl(image_key(young_id)) / 1000 - (EXPIRY - 10)) < 2
    assert len(spool) == 0 and store.expired == 1 and store.replayed == 1
    client.close()


def test_a_spool_that_cannot_be_written_loses_the_picture_but_not_the_daemon(tmp_path, caplog):
    import errno

    import redis

    class FullDisk(Spool):
        def put(self, *args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

    from server.tooling.embedded_redis import free_port
    client = redis.Redis(port=free_port(), socket_connect_timeout=0.5)
    store = ImageStore(client, FullDisk(tmp_path, 1000), EXPIRY, "nowhere")
    result = store.store("cam:1-0000", ImageRecord(timestamp=1.0, image_data=b"x"))
    assert not result.stored and not result.spooled and store.lost == 1
    assert "is lost" in caplog.text and "No space left on device" in caplog.text
