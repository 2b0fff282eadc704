"""The embedded Redis launcher: start, reuse, persistence, clear errors, retention by size."""

from __future__ import annotations

import os

import pytest
from redis.commands.search.query import Query

from pi.contract import ImageRecord, ensure_index, image_id, image_key, save_image
from server.tooling import embedded_redis
from server.tooling.embedded_redis import EmbeddedRedis, EmbeddedRedisError, free_port
from tests.factories import store_image


def test_starts_with_search_module_memory_budget_and_aof(redis_factory, tmp_path):
    server = redis_factory(data_dir=tmp_path / "data", maxmemory="64mb")
    client = server.client()
    assert ensure_index(client) == "created"
    config = client.config_get("*")
    assert config["maxmemory"] == str(64 * 1024 * 1024)
    assert config["maxmemory-policy"] == "volatile-ttl"
    assert config["appendonly"] == "yes"
    assert config["bind"] == "127.0.0.1"
    assert config["dir"] == str((tmp_path / "data").resolve())


def test_data_and_index_survive_a_restart(redis_factory, tmp_path):
    port, data = free_port(), tmp_path / "data"
    server = redis_factory(port=port, data_dir=data)
    client = server.client()
    ensure_index(client)
    new_id = store_image(client, camera="garden", timestamp=1000.0, lux=42)
    server.stop()
    assert (data / "appendonlydir").is_dir()

    again = redis_factory(port=port, data_dir=data).client()
    assert ensure_index(again) == "unchanged"
    found = again.ft("idx:images").search("@camera:{garden}")
    assert [doc.id for doc in found.docs] == [image_key(new_id)]
    assert again.ttl(image_key(new_id)) > 0


def test_reuses_a_running_server_and_leaves_it_running(redis_factory):
    first = redis_factory()
    second = EmbeddedRedis(data_dir=first.data_dir, port=first.port).start()
    assert second.reused and second.process is None
    second.stop()
    assert first.client().ping()


def test_refuses_a_port_held_by_a_redis_without_search(redis_factory):
    plain = redis_factory(with_search=False)
    with pytest.raises(EmbeddedRedisError, match="without the search module.*REDIS_PORT"):
        EmbeddedRedis(data_dir=plain.data_dir, port=plain.port).start()


def test_reports_a_server_that_cannot_start(tmp_path, monkeypatch):
    monkeypatch.setenv("REDISEARCH_MODULE", str(tmp_path / "missing.so"))
    server = EmbeddedRedis(data_dir=tmp_path, port=free_port())
    with pytest.raises(EmbeddedRedisError, match="exited at start"):
        server.start()


@pytest.mark.parametrize(("name", "value", "words"), [
    ("REDIS_PORT", "sixty", "not a TCP port"),
    ("REDIS_PORT", "70000", "not a TCP port"),
    ("REDIS_MAXMEMORY", "lots", "not a size"),
])
def test_bad_settings_name_the_variable(monkeypatch, name, value, words):
    monkeypatch.setenv(name, value)
    with pytest.raises(EmbeddedRedisError) as err:
        embedded_redis.from_env()
    assert name in str(err.value) and words in str(err.value)


def test_settings_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("REDIS_PORT", "6400")
    monkeypatch.setenv("REDIS_MAXMEMORY", "1GB")
    monkeypatch.setenv("REDIS_DATA_DIR", str(tmp_path))
    server = embedded_redis.from_env()
    assert (server.port, server.maxmemory, server.data_dir) == (6400, "1gb", tmp_path.resolve())


def test_default_data_dir_is_redisdata_as_in_docker_compose():
    assert embedded_redis.DEFAULT_DATA_DIR.name == "redisdata"
    assert os.path.isdir(embedded_redis.DEFAULT_DATA_DIR)


def test_full_redis_evicts_the_oldest_images_and_never_a_kept_one(redis_factory):
    server = redis_factory(maxmemory="12mb")
    client = server.client()
    ensure_index(client)
    payload = os.urandom(40_000)  # incompressible, like a JPEG
    kept = image_id("garden", 1.0)
    save_image(client, ImageRecord(timestamp=1.0, image_data=payload, camera="garden"), 60, kept)
    client.persist(image_key(kept))  # the gallery's "keep"

    ids = []
    for n in range(600):  # ~24 MB: twice the budget; each newer image lives longer
        new_id = image_id("garden", 100.0 + n)
        save_image(client, ImageRecord(timestamp=100.0 + n, image_data=payload, camera="garden"),
                   3600 + n, new_id)
        ids.append(new_id)

    survivors = [n for n, i in enumerate(ids) if client.exists(image_key(i))]
    assert client.exists(image_key(kept)) and client.ttl(image_key(kept)) == -1
    assert 50 < len(survivors) < 450
    oldest_quarter = sum(1 for n in survivors if n < 150)
    newest_quarter = sum(1 for n in survivors if n >= 450)
    # Redis samples keys to evict, so a few old ones may linger: "approximately the oldest".
    assert oldest_quarter <= 15 and newest_quarter >= 140
    # Evicted images leave the index: it lists no ghosts. (Even reads may evict a little
    # more while over budget, so the two counts can differ by one or two.)
    found = {doc.id for doc in client.ft("idx:images").search(
        Query("*").no_content().paging(0, 1000)).docs}
    assert found <= {image_key(ids[n]) for n in survivors} | {image_key(kept)}
    assert len(found) >= len(survivors) - 3


def test_never_reuses_a_redis_it_did_not_start(redis_factory, tmp_path):
    theirs = redis_factory(data_dir=tmp_path / "someone-else")
    theirs.client().set("their:key", "untouched")
    mine = EmbeddedRedis(data_dir=tmp_path / "ours", port=theirs.port)
    with pytest.raises(EmbeddedRedisError) as err:
        mine.start()
    message = str(err.value)
    assert "did not start" in message and "REDIS_PORT" in message
    assert f"REDIS_URL=redis://127.0.0.1:{theirs.port}" in message
    assert not mine.reused and mine.process is None
    client = theirs.client()
    assert client.get("their:key") == b"untouched" and client.dbsize() == 1


def test_a_second_launcher_never_starts_a_redis_in_a_data_folder_in_use(redis_factory, tmp_path):
    first = redis_factory(data_dir=tmp_path / "shared")
    first.client().set("picture", "kept")
    second = EmbeddedRedis(data_dir=tmp_path / "shared", port=free_port())
    with pytest.raises(EmbeddedRedisError) as refused:
        second.start()
    message = str(refused.value)
    assert f"port {first.port}" in message and "REDIS_DATA_DIR" in message
    assert second.process is None  # nothing was started
    assert first.client().get("picture") == b"kept"
    first.stop()  # a clean stop removes the pid file: the folder can be used again
    assert not first.pid_file.exists()
    second.start()
    try:
        assert second.client().get("picture") == b"kept"
    finally:
        second.stop()
