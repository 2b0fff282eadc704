"""The data contract against a real Redis with the search module."""

from __future__ import annotations

import time

import pytest
import redis

from pi import contract
from pi.contract import ImageRecord, ensure_index, image_id, image_key, save_image
from tests.factories import make_jpeg, reference_index, store_image, store_reference_image

REFERENCE_NEWEST_9 = (
    'FT.SEARCH idx:images "*" RETURN 3 timestamp mime_type lux SORTBY timestamp DESC LIMIT 0 9'
)
REFERENCE_LUX_100_120 = (
    'FT.SEARCH idx:images "@lux:[100 120]" RETURN 3 timestamp mime_type lux '
    "SORTBY timestamp DESC LIMIT 0 9"
)


def run_cli(r: redis.Redis, command: str):
    """Run a command line as redis-cli would split it (quotes group words)."""
    import shlex

    return r.execute_command(*shlex.split(command))


def full_record(**overrides) -> ImageRecord:
    values = dict(
        timestamp=1763761138.123, image_data=make_jpeg(), lux=268.4, camera="garden",
        trigger="interval", width=320, height=180, exposure_time=12000, analogue_gain=2.25,
        colour_temperature=5100, lens_position=1.5, thumbnail=make_jpeg(160, 90),
        extra={"digital_gain": "1.01"},
    )
    values.update(overrides)
    return ImageRecord(**values)


def test_record_round_trips_through_a_hash(r):
    record = full_record()
    save_image(r, record, ttl=60, image_id_=image_id("garden", record.timestamp))
    (key,) = r.keys("image:*")
    back = ImageRecord.from_hash(r.hgetall(key))
    assert back == ImageRecord(**{**record.__dict__, "size_bytes": len(record.image_data)})


def test_hash_values_are_readable_in_redis_cli(r):
    record = full_record()
    key = save_image(r, record, ttl=60, image_id_=image_id("garden", record.timestamp))
    h = r.hgetall(key)
    assert h[b"timestamp"] == b"1763761138.123"
    assert h[b"captured_at"] == b"2025-11-21T21:38:58.123Z"
    assert h[b"lux"] == b"268.4"
    assert h[b"camera"] == b"garden"
    assert h[b"size_bytes"] == str(len(record.image_data)).encode()
    assert h[b"image_data"].startswith(b"\xff\xd8")


def test_save_sets_the_ttl_and_announces_on_the_stream(r):
    new_id = image_id("garden", 1000.5)
    save_image(r, full_record(timestamp=1000.5), ttl=30, image_id_=new_id)
    assert 0 < r.ttl(image_key(new_id)) <= 30
    [(_, fields)] = r.xrange(contract.STREAM_KEY)
    assert fields[b"id"] == new_id.encode()
    assert fields[b"camera"] == b"garden"


def test_save_is_one_transaction(r, redis_url):
    """HSET, PEXPIRE and XADD reach the server inside one MULTI/EXEC, TTL before anything else."""
    seen: list[str] = []
    watcher = redis.Redis.from_url(redis_url)
    with watcher.monitor() as monitor:
        save_image(r, full_record(), ttl=30, image_id_=image_id("garden", 1.0))
        for event in monitor.listen():
            command = event["command"].split()[0].upper()
            seen.append(command)
            if command == "EXEC":
                break
    watcher.close()
    # ZADD/ZREMRANGEBYSCORE keep the camera's full-size set (issue 9's budgets).
    assert seen[seen.index("MULTI"):] == ["MULTI", "HSET", "PEXPIRE", "ZADD", "ZREMRANGEBYSCORE",
                                          "XADD", "EXEC"]


def test_ids_are_unique_within_a_millisecond_and_across_cameras():
    ids = {image_id("cam", 1700000000.0001) for _ in range(200)}
    assert len(ids) > 190  # random 16-bit suffix: a clash in 200 is very unlikely
    assert image_id("a", 5.0, "0000") != image_id("b", 5.0, "0000")


@pytest.mark.parametrize("bad", ["", "*", "a b", "../x", "x:*", "cam:1?", "a" * 33, "idx:images x"])
def test_invalid_ids_never_make_a_key(bad):
    assert not contract.is_valid_image_id(bad)
    with pytest.raises(ValueError):
        image_key(bad)


def test_reference_ids_are_valid():
    assert image_key("1681844748") == "image:1681844748"


def test_ensure_index_creates_the_full_schema(r):
    assert ensure_index(r) == "created"
    fields = contract.index_fields(r)
    assert fields["mime_type"] == "TAG" and fields["lux"] == "NUMERIC"
    assert {f.name for f in contract.SCHEMA} <= set(fields)
    assert ensure_index(r) == "unchanged"


def test_ensure_index_upgrades_the_reference_index_and_finds_reference_hashes(r):
    reference_index(r)
    for ts, lux in ((1684427130, 93), (1684427190, 109), (1684427251, 104)):
        store_reference_image(r, ts, lux)
    assert ensure_index(r) == "altered"
    assert {f.name for f in contract.SCHEMA} <= set(contract.index_fields(r))
    store_image(r, camera="garden", timestamp=1684427300, lux=110)
    result = run_cli(r, REFERENCE_NEWEST_9)
    assert result[0] == 4
    assert result[1] == b"image:garden:1684427300000-" + result[1][-4:]
    assert result[3] == b"image:1684427251"
    hashes = [ImageRecord.from_hash(r.hgetall(k)) for k in r.keys("image:1*")]
    assert sorted(h.lux for h in hashes) == [93, 104, 109]
    assert all(h.thumbnail is None and h.camera is None for h in hashes)


def test_reference_queries_work_verbatim_on_our_data(r):
    ensure_index(r)
    for i, lux in enumerate((90, 100, 110.5, 120, 130)):
        store_image(r, camera="garden", timestamp=1000 + i, lux=lux)
    newest = run_cli(r, REFERENCE_NEWEST_9)
    assert newest[0] == 5
    fields = dict(zip(newest[2][0::2], newest[2][1::2]))
    assert fields == {b"timestamp": b"1004", b"mime_type": b"image/jpeg", b"lux": b"130"}
    in_range = run_cli(r, REFERENCE_LUX_100_120)
    luxes = [dict(zip(doc[0::2], doc[1::2]))[b"lux"] for doc in in_range[2::2]]
    assert luxes == [b"120", b"110.5", b"100"]


def test_ensure_index_survives_a_race(redis_url):
    """Both processes call ensure_index at start; whichever comes second must not fail."""
    from concurrent.futures import ThreadPoolExecutor

    def attempt(_: int) -> str:
        with redis.Redis.from_url(redis_url, protocol=2) as client:
            return ensure_index(client)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(attempt, range(4)))
    assert results.count("created") == 1
    assert set(results) <= {"created", "unchanged"}


def test_missing_search_module_is_a_clear_error(redis_factory):
    plain = redis_factory(with_search=False)
    client = plain.client()
    with pytest.raises(contract.SearchModuleMissing) as err:
        ensure_index(client, where=plain.url)
    message = str(err.value)
    assert plain.url in message and "docker compose up -d" in message and "REDIS_URL" in message


def test_heartbeat_round_trips(r):
    status = contract.CameraStatus(camera="garden", host="pi4", started_at=10.0, last_capture=12.5,
                                   last_id="garden:12500-abcd", triggers="interval")
    r.hset(contract.camera_key("garden"), mapping=status.to_hash())
    back = contract.CameraStatus.from_hash(r.hgetall(contract.camera_key("garden")))
    assert back == status


def test_heartbeats_register_cameras_without_a_keyspace_scan(r):
    for name in ("porch", "garden"):
        contract.save_heartbeat(r, contract.CameraStatus(camera=name, host="pi"), ttl=30)
    assert contract.camera_names(r) == ["garden", "porch"]
    assert 0 < r.ttl(contract.camera_key("garden")) <= 30
    r.zadd(contract.CAMERAS_KEY, {"gone": time.time() - contract.CAMERA_FORGET_AFTER - 60})
    assert "gone" not in contract.camera_names(r)
    contract.save_heartbeat(r, contract.CameraStatus(camera="garden"), ttl=30)
    assert r.zscore(contract.CAMERAS_KEY, "gone") is None  # forgotten cameras are pruned
    contract.clear_heartbeat(r, "garden")
    assert not r.exists(contract.camera_key("garden"))


def test_the_stream_entry_reads_back_what_the_daemon_writes(r):
    new_id = image_id("garden", 1000.5)
    save_image(r, full_record(timestamp=1000.5), ttl=30, image_id_=new_id)
    [(_, fields)] = r.xrange(contract.STREAM_KEY)
    entry = contract.StreamEntry.from_fields(fields)
    assert entry == contract.StreamEntry(new_id, 1000.5, "garden", entry.trigger, 268.4)
    assert contract.StreamEntry.from_fields(entry.to_fields()) == entry


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, None),
    ({b"id": b"has spaces!"}, None),
    ({b"id": b"cam:1-ab12", b"timestamp": b"soon", b"lux": b"nan"},
     contract.StreamEntry("cam:1-ab12")),
    ({"id": "cam:1-ab12", "camera": "", "trigger": "motion", "lux": "5"},
     contract.StreamEntry("cam:1-ab12", trigger="motion", lux=5.0)),
])
def test_a_hand_written_stream_entry_is_read_without_failing(fields, expected):
    assert contract.StreamEntry.from_fields(fields) == expected
