"""The archiver against a real Redis with the search module and real stores (folder, moto S3)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from pi import contract
from server.archive import layout
from server.archive.archiver import Archiver
from server.archive.backends import FileBackend, S3Backend
from server.archive.retention import enforce_retention
from server.archive.settings import Limits
from tests.archive_support import MotoS3, RunningArchiver, settings_for, tiny_filesystem
from tests.factories import store_image


def make_archiver(r, backend, redis_url, **overrides) -> Archiver:
    contract.ensure_index(r)
    return Archiver(settings_for(backend, redis_url, **overrides), r, backend)


def step(archiver: Archiver, times: int = 1) -> None:
    for _ in range(times):
        archiver.step(threading.Event())


def wait_for(predicate, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def state_of(r) -> str:
    status = contract.read_archive_status(r)
    return status.state if status else ""


def sidecar_of(backend, image_id: str, r) -> layout.Sidecar:
    location = r.hget(contract.image_key(image_id), contract.F_ARCHIVED).decode()
    base = layout.split_key(backend.key_of(location))[0]
    return layout.Sidecar.from_json(backend.get(layout.sidecar_key(base)))


def test_a_stored_picture_is_copied_byte_for_byte_and_its_hash_says_where(r, redis_url, backend):
    archiver = make_archiver(r, backend, redis_url)
    step(archiver)  # creates the group
    ts = datetime(2025, 11, 21, 21, 38, 58, 123000, tzinfo=UTC).timestamp()
    image_id = store_image(r, camera="garden", timestamp=ts, ttl=3600)
    key = contract.image_key(image_id)
    before = r.pttl(key)
    step(archiver)
    location = r.hget(key, contract.F_ARCHIVED).decode()
    nonce = image_id.rsplit("-", 1)[1]
    expected = f"garden/2025/11/21/21-38-58.123-{nonce}.jpg"
    assert location == backend.location(expected)
    with backend.open(expected) as obj:
        assert obj.read() == r.hget(key, contract.F_IMAGE_DATA)
    sidecar = sidecar_of(backend, image_id, r)
    assert sidecar.id == image_id and sidecar.fields["camera"] == "garden"
    assert sidecar.thumbnail == r.hget(key, contract.F_THUMBNAIL) and not sidecar.kept
    assert sidecar.expires_at == pytest.approx(time.time() + before / 1000, abs=5)
    assert 0 < before - r.pttl(key) < 5000  # the TTL was kept, not reset or removed
    assert r.xpending(contract.STREAM_KEY, contract.ARCHIVE_GROUP)["pending"] == 0


def test_archiving_keeps_the_key_ttl_and_the_full_sizes_own_expiry(r, redis_url, file_backend):
    archiver = make_archiver(r, file_backend, redis_url)
    step(archiver)
    image_id = store_image(r, ttl=7200)
    key = contract.image_key(image_id)
    r.execute_command("HPEXPIRE", key, 600_000, "FIELDS", 1, contract.F_IMAGE_DATA)  # the tiered retention
    step(archiver)
    assert r.hexists(key, contract.F_ARCHIVED)
    assert 7_100_000 < r.pttl(key) <= 7_200_000
    image_ttl, archived_ttl = r.execute_command("HPTTL", key, "FIELDS", 2, contract.F_IMAGE_DATA,
                                                contract.F_ARCHIVED)
    assert 590_000 < image_ttl <= 600_000 and archived_ttl == -1
    sidecar = sidecar_of(file_backend, image_id, r)
    assert sidecar.image_data_expires_at == pytest.approx(time.time() + 600, abs=5)


def test_marking_an_expired_picture_never_brings_it_back_without_ttl(r):
    assert contract.mark_archived(r, "garden:1-abcd", "file:///x.jpg") is False
    assert not r.exists("image:garden:1-abcd")


def test_bad_entries_and_bad_hashes_are_skipped_and_the_next_picture_archived(r, redis_url, file_backend,
                                                                              caplog):
    archiver = make_archiver(r, file_backend, redis_url)
    step(archiver)
    r.xadd(contract.STREAM_KEY, {"id": "../../etc"})  # another writer's garbage
    r.hset("image:garden:5-dead", mapping={"camera": "garden", "image_data": b"x"})  # no timestamp
    r.expire("image:garden:5-dead", 600)
    r.xadd(contract.STREAM_KEY, {"id": "garden:5-dead"})
    r.xadd(contract.STREAM_KEY, {"id": "garden:6-gone"})  # expired before we got to it
    r.set("image:garden:7-beef", "not a hash", ex=600)
    r.xadd(contract.STREAM_KEY, {"id": "garden:7-beef"})
    good = store_image(r)
    with caplog.at_level(logging.WARNING):
        step(archiver, 2)
    assert r.hexists(contract.image_key(good), contract.F_ARCHIVED)
    assert r.xpending(contract.STREAM_KEY, contract.ARCHIVE_GROUP)["pending"] == 0
    text = caplog.text
    assert "invalid image id" in text and "not a valid image hash" in text and "expired before" in text
    assert "not a hash" in text
    assert archiver.counters.malformed == 3 and archiver.counters.missed == 1


def test_pictures_captured_while_the_archiver_was_down_beyond_the_stream_cap_are_all_archived(
        r, redis_url, file_backend, monkeypatch):
    archiver = make_archiver(r, file_backend, redis_url)
    step(archiver)
    first = store_image(r, camera="garden")
    step(archiver)
    assert r.hexists(contract.image_key(first), contract.F_ARCHIVED)
    # The archiver is stopped. The stream keeps only a few entries: small nodes make XADD's
    # approximate MAXLEN trim for real, as it does at 1,000 in production.
    monkeypatch.setattr(contract, "STREAM_MAXLEN", 5)
    r.config_set("stream-node-max-entries", 2)
    try:
        ids = [store_image(r, camera="garden" if i % 2 else "porch", timestamp=time.time() - 100 + i)
               for i in range(30)]
        assert r.xlen(contract.STREAM_KEY) < 10
        restarted = make_archiver(r, file_backend, redis_url)
        step(restarted, 3)
    finally:
        r.config_set("stream-node-max-entries", 100)
    missing = [i for i in ids if not r.hexists(contract.image_key(i), contract.F_ARCHIVED)]
    assert missing == []
    originals = [o for o in file_backend.list("garden/") if o.key.endswith(".jpg")]
    originals += [o for o in file_backend.list("porch/") if o.key.endswith(".jpg")]
    assert len(originals) == 31
    assert restarted.counters.archived == 30  # each once


def test_two_archivers_of_the_group_copy_each_picture_once(r, redis_url, s3_backend):
    one = make_archiver(r, s3_backend, redis_url, consumer="one")
    two = make_archiver(r, s3_backend, redis_url, consumer="two")
    step(one)
    step(two)
    ids = [store_image(r) for _ in range(12)]
    for _ in range(4):
        step(one)
        step(two)
    assert all(r.hexists(contract.image_key(i), contract.F_ARCHIVED) for i in ids)
    assert one.counters.archived + two.counters.archived == 12
    assert one.counters.skipped + two.counters.skipped == 0


def test_an_unreachable_archive_keeps_pictures_pending_warns_and_catches_up_when_back(
        r, redis_url, caplog):
    s3 = MotoS3().start()
    try:
        backend = S3Backend("outage", endpoint=s3.endpoint, create_bucket=True)
        backend.check()
        s3.stop()
        archiver = make_archiver(r, backend, redis_url)
        with caplog.at_level(logging.WARNING, logger="server.archive"):
            running = RunningArchiver(archiver)
            wait_for(lambda: r.exists(contract.ARCHIVE_STATUS_KEY), what="a status")
            ids = [store_image(r) for _ in range(5)]
            wait_for(lambda: state_of(r) == "retrying", what="the retrying state")
            wait_for(lambda: contract.read_archive_status(r).backlog >= 5, what="a backlog of 5")
            status = contract.read_archive_status(r)
            assert status.archived == 0 and "unreachable" in status.last_error
            assert not any(r.hexists(contract.image_key(i), contract.F_ARCHIVED) for i in ids)
            s3.start()
            wait_for(lambda: all(r.hexists(contract.image_key(i), contract.F_ARCHIVED) for i in ids),
                     what="every picture archived")
            wait_for(lambda: contract.read_archive_status(r).state == "ok", what="the ok state")
            running.stop()
        assert running.error is None
        warnings = [rec for rec in caplog.records if rec.levelno == logging.WARNING
                    and "none is lost" in rec.getMessage()]
        assert len(warnings) == 1  # one clear warning per outage, not one per retry
        assert "Archive unreachable" in warnings[0].getMessage()
        assert r.xpending(contract.STREAM_KEY, contract.ARCHIVE_GROUP)["pending"] == 0
        assert contract.read_archive_status(r).state == "stopped"
    finally:
        s3.stop()


def test_a_full_disk_keeps_pictures_pending_until_there_is_room(r, redis_url, tmp_path):
    with tiny_filesystem(tmp_path / "disk", "512k") as mount:
        backend = FileBackend(mount / "archive", min_free_bytes=0)
        backend.check()
        filler = mount / "filler"
        with open(filler, "wb") as out:
            try:
                out.write(b"\0" * 1024 * 1024)
            except OSError:
                pass  # the disk is full now
        archiver = make_archiver(r, backend, redis_url)
        running = RunningArchiver(archiver)
        try:
            ids = [store_image(r) for _ in range(3)]
            wait_for(lambda: state_of(r) == "retrying", what="the retrying state")
            wait_for(lambda: contract.read_archive_status(r).backlog >= 3, what="a backlog")
            status = contract.read_archive_status(r)
            assert "full" in status.last_error and status.archived == 0
            filler.unlink()
            wait_for(lambda: all(r.hexists(contract.image_key(i), contract.F_ARCHIVED) for i in ids),
                     what="every picture archived")
        finally:
            running.stop()
        assert running.error is None


def test_the_status_key_tells_the_gallery_how_the_archiver_is_doing(r, redis_url, file_backend):
    archiver = make_archiver(r, file_backend, redis_url)
    step(archiver)
    store_image(r)
    step(archiver)
    archiver._write_status(force=True)
    status = contract.read_archive_status(r)
    assert status.state == "ok" and status.archive == file_backend.url and status.archived == 1
    assert status.pending == 0 and status.backlog == 0
    assert status.last_ok == pytest.approx(time.time(), abs=10)
    assert 0 < r.ttl(contract.ARCHIVE_STATUS_KEY) <= contract.ARCHIVE_STATUS_TTL


def test_keep_reaches_the_archive_and_retention_never_deletes_a_kept_picture(r, redis_url, backend):
    archiver = make_archiver(r, backend, redis_url)
    step(archiver)
    now = time.time()
    old = [store_image(r, camera="garden", timestamp=now - 40 * 86400 + i) for i in range(4)]
    r.persist(contract.image_key(old[0]))  # kept before it was archived
    new = store_image(r, camera="garden", timestamp=now)
    step(archiver)
    assert sidecar_of(backend, old[0], r).kept
    r.persist(contract.image_key(old[1]))  # kept after it was archived: the index walk marks it
    archiver.catch_up()
    assert sidecar_of(backend, old[1], r).kept
    r.expire(contract.image_key(old[0]), 3600)  # "let it expire" again
    archiver.catch_up()
    assert not sidecar_of(backend, old[0], r).kept
    r.persist(contract.image_key(old[2]))  # kept, not yet seen by a walk: checked before deleting
    settings = replace(archiver.settings, limits=Limits(max_age_days=30))
    deleted = enforce_retention(backend, r, settings, now=time.time())
    assert deleted == 2  # old[0] (no longer kept) and old[3]
    left = {layout.Sidecar.from_json(backend.get(o.key)).id
            for o in backend.list("garden/") if o.key.endswith(".json")}
    assert left == {old[1], old[2], new}


def test_retention_by_size_deletes_one_cameras_oldest_first_and_spares_the_others(r, redis_url, file_backend):
    archiver = make_archiver(r, file_backend, redis_url)
    step(archiver)
    now = time.time()
    garden = [store_image(r, camera="garden", timestamp=now - 600 + i) for i in range(6)]
    porch = [store_image(r, camera="porch", timestamp=now - 900 + i) for i in range(3)]
    step(archiver, 2)
    sizes = {}
    for o in file_backend.list("garden/"):
        base = layout.split_key(o.key)[0]
        sizes[base] = sizes.get(base, 0) + o.size
    per_picture = max(sizes.values())
    limits = {"garden": Limits(max_bytes=int(per_picture * 3.5))}
    settings = replace(archiver.settings, camera_limits=limits)
    assert enforce_retention(file_backend, r, settings, now=time.time()) == 3
    left = sorted(layout.Sidecar.from_json(file_backend.get(o.key)).id
                  for o in file_backend.list("garden/") if o.key.endswith(".json"))
    assert left == sorted(garden[3:])
    assert len([o for o in file_backend.list("porch/") if o.key.endswith(".jpg")]) == len(porch)


def test_redis_restarted_under_the_archiver_loses_nothing(redis_factory, file_backend, caplog):
    from pi.redis_connection import connect

    server = redis_factory()
    client = connect(server.url, retries=1, socket_timeout=2)
    archiver = make_archiver(client, file_backend, server.url)
    running = RunningArchiver(archiver)
    try:
        first = store_image(client, camera="garden")
        wait_for(lambda: client.hexists(contract.image_key(first), contract.F_ARCHIVED), what="archived")
        with caplog.at_level(logging.WARNING, logger="server.archive"):
            server.stop()  # the append-only file keeps the data and the group
            time.sleep(1.5)
            server.start()
            later = store_image(client, camera="garden")
            wait_for(lambda: client.hexists(contract.image_key(later), contract.F_ARCHIVED), what="archived")
    finally:
        running.stop()
        client.close()
    assert running.error is None
    assert "Redis unavailable" in caplog.text and "none is lost" in caplog.text
    assert len([o for o in file_backend.list("garden/") if o.key.endswith(".jpg")]) == 2


def test_a_near_duplicate_stored_without_its_full_size_is_not_counted_as_missed(
        r, redis_url, file_backend, caplog) -> None:
    archiver = make_archiver(r, file_backend, redis_url)
    step(archiver)  # creates the group
    original = store_image(r, camera="garden", ttl=3600)
    ts = time.time() + 1
    near = contract.image_id("garden", ts)
    record = contract.ImageRecord(timestamp=ts, camera="garden", trigger="interval", lux=0.4,
                                  thumbnail=r.hget(contract.image_key(original), contract.F_THUMBNAIL),
                                  unchanged_since=ts - 1, same_as=original)
    contract.save_image(r, record, 3600, near)
    with caplog.at_level(logging.WARNING):
        step(archiver, 2)
    assert r.hget(contract.image_key(original), contract.F_ARCHIVED)  # its original is archived
    assert r.hget(contract.image_key(near), contract.F_ARCHIVED) is None
    assert archiver.counters.missed == 0 and archiver.counters.unchanged == 1
    assert "expired before it was archived" not in caplog.text
    assert r.xpending(contract.STREAM_KEY, contract.ARCHIVE_GROUP)["pending"] == 0
