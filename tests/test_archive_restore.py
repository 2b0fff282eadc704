"""Restore: archive, lose Redis, rebuild the hashes, and the gallery lists them again."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from pi import contract
from server.archive import layout
from server.archive.archiver import Archiver
from server.archive.restore import restore
from tests.archive_support import settings_for
from tests.factories import store_image, store_reference_image


def archive_all(r, backend, redis_url) -> Archiver:
    contract.ensure_index(r)
    archiver = Archiver(settings_for(backend, redis_url), r, backend)
    for _ in range(3):
        archiver.step(threading.Event())
    return archiver


def test_after_losing_redis_one_restore_brings_back_searchable_pictures_with_their_ttls(
        r, redis_url, backend, client):
    now = time.time()
    garden = [store_image(r, camera="garden", timestamp=now - 300 + i, ttl=3600) for i in range(3)]
    porch = store_image(r, camera="porch", timestamp=now - 200, ttl=7200)
    contract.ensure_index(r)
    r.persist(contract.image_key(garden[0]))  # kept
    before = {i: (r.hgetall(contract.image_key(i)), r.pttl(contract.image_key(i))) for i in [*garden, porch]}
    archive_all(r, backend, redis_url)
    r.flushall()  # the Redis disk is lost

    report = restore(r, backend, now=time.time())
    assert (report.restored, report.expired, report.unreadable, report.with_full_size) == (4, 0, 0, 0)
    for image_id, (fields, pttl) in before.items():
        key = contract.image_key(image_id)
        got = r.hgetall(key)
        assert got[b"thumbnail"] == fields[b"thumbnail"]
        assert got[b"camera"] == fields[b"camera"] and got[b"timestamp"] == fields[b"timestamp"]
        assert b"image_data" not in got and got[b"archived"].startswith(backend.location("x")[:5].encode())
        if pttl == -1:
            assert r.pttl(key) == -1
        else:
            assert r.pttl(key) == pytest.approx(pttl, abs=10_000)
    # What the user sees: the gallery lists and filters them again, thumbnails included.
    listed = client.get("/api/images?camera=garden").json["images"]
    assert sorted(item["id"] for item in listed) == sorted(garden)
    thumb = client.get(f"/api/images/{porch}/thumbnail")
    assert thumb.status_code == 200 and thumb.data == before[porch][0][b"thumbnail"]
    again = restore(r, backend, now=time.time())
    assert again.restored == 0 and again.present == 4


def test_full_size_restore_brings_back_the_original_with_its_field_expiry(r, redis_url, file_backend):
    image_id = store_image(r, camera="garden", ttl=7200)
    key = contract.image_key(image_id)
    r.execute_command("HPEXPIRE", key, 1_800_000, "FIELDS", 1, contract.F_IMAGE_DATA)
    original = r.hget(key, contract.F_IMAGE_DATA)
    archive_all(r, file_backend, redis_url)
    r.flushall()
    report = restore(r, file_backend, full=True, now=time.time())
    assert report.with_full_size == 1
    assert r.hget(key, contract.F_IMAGE_DATA) == original
    (field_ttl,) = r.execute_command("HPTTL", key, "FIELDS", 1, contract.F_IMAGE_DATA)
    assert 1_700_000 < field_ttl <= 1_800_000 and 7_000_000 < r.pttl(key) <= 7_200_000


def test_restore_picks_cameras_and_a_time_range_and_skips_what_would_have_expired(r, redis_url, file_backend):
    base = datetime(2025, 11, 21, 12, 0, tzinfo=UTC).timestamp()
    ids = {(cam, h): store_image(r, camera=cam, timestamp=base + h * 3600, ttl=3600)
           for cam in ("garden", "porch") for h in range(4)}
    archive_all(r, file_backend, redis_url)
    r.flushall()
    since, until = datetime(2025, 11, 21, 13, 0, tzinfo=UTC), datetime(2025, 11, 21, 14, 30, tzinfo=UTC)
    # An hour later their TTLs have run out: skipped unless asked for.
    later = time.time() + 7200
    report = restore(r, file_backend, cameras=["garden"], since=since, until=until, now=later)
    assert report.restored == 0 and report.expired == 2
    report = restore(r, file_backend, cameras=["garden"], since=since, until=until, expired_ttl=600,
                     now=later)
    assert report.restored == 2
    present = sorted(k.decode() for k in r.keys("image:*"))
    assert present == sorted(contract.image_key(ids[("garden", h)]) for h in (1, 2))
    assert all(0 < r.ttl(k) <= 600 for k in present)


def test_a_reference_picture_without_thumbnail_gets_one_made_on_restore(r, redis_url, file_backend):
    contract.ensure_index(r)
    ref = store_reference_image(r, int(time.time()) - 60, lux=100)
    archive_all(r, file_backend, redis_url)  # found by the index walk: it never was on the stream
    [original] = [o.key for o in file_backend.list("_unnamed/") if o.key.endswith(".jpg")]
    assert original.endswith(f"-id-{ref}.jpg")
    r.flushall()
    assert restore(r, file_backend, now=time.time()).restored == 1
    thumb = r.hget(contract.image_key(ref), contract.F_THUMBNAIL)
    assert thumb and thumb.startswith(b"\xff\xd8")


def test_an_unreadable_sidecar_is_skipped_and_counted(r, redis_url, file_backend):
    good = store_image(r, camera="garden")
    archive_all(r, file_backend, redis_url)
    file_backend.put("garden/2025/01/01/00-00-00.000-beef.json", b"{not json")
    r.flushall()
    report = restore(r, file_backend, now=time.time())
    assert (report.restored, report.unreadable) == (1, 1)
    assert r.exists(contract.image_key(good))


def test_sidecars_name_what_rebuilds_the_hash():
    sidecar = layout.Sidecar(id="garden:1-abcd", original="x.jpg", size=3, sha256="00",
                             fields={"timestamp": "1"}, thumbnail=b"\xff\xd8", expires_at=None,
                             image_data_expires_at=None, kept=True, archived_at=2.0)
    parsed = layout.Sidecar.from_json(sidecar.to_json())
    assert parsed == sidecar
    for bad in (b"[]", b'{"format": "other"}', b'{"format": "redis-pi-camera archive sidecar", "id": "../x",'
                b' "fields": {"timestamp": "1"}}'):
        with pytest.raises(ValueError):
            layout.Sidecar.from_json(bad)
