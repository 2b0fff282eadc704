"""Tiered retention (issue 9) against a real Redis 8.2 with the search module.

Two tiers in one hash (the full size expires, the thumbnail and metadata stay searchable),
keep and let-expire, the fallback for a Redis without hash-field expiry, per-camera
budgets trimmed exactly oldest first, and near-duplicates stored as history only.
"""

from __future__ import annotations

import io
import logging
import time

import pytest
import redis
from PIL import Image

from pi import contract
from pi.contract import (
    BUDGETS_KEY,
    BudgetError,
    Budgets,
    ImageRecord,
    TrimPolicy,
    full_set_key,
    image_id,
    image_key,
    save_image,
)
from pi.spool import Spool
from pi.store import ImageStore
from tests.factories import make_jpeg, store_image, store_reference_image
from tests.helpers import wait_until

MB = 1_000_000


def save(r, camera: str, ts: float, size: int = 1000, *, ttl: float = 3600, full_ttl: float | None = None,
         trim: TrimPolicy | None = None) -> str:
    """Store one picture of `size` full-size bytes the way the daemon does; return its id."""
    record = ImageRecord(timestamp=ts, image_data=b"\xff\xd8" + b"x" * (size - 2), camera=camera,
                         trigger="interval", lux=10.0, thumbnail=make_jpeg(64, 36))
    new_id = image_id(camera, ts)
    save_image(r, record, ttl, new_id, full_ttl=full_ttl, trim=trim)
    return new_id


def search_ids(r, query: str = "*") -> set[str]:
    total, *keys = r.execute_command("FT.SEARCH", "idx:images", query, "NOCONTENT", "LIMIT", "0", "1000")
    return {contract.id_from_key(k) for k in keys}


# --- Two tiers in one hash ---------------------------------------------------------------


def test_full_size_expires_while_the_picture_stays_searchable_with_its_thumbnail(r):
    contract.ensure_index(r)
    now = time.time()
    old = save(r, "garden", now, full_ttl=0.3, ttl=3600)
    wait_until(lambda: not r.hexists(image_key(old), "image_data"), 5.0)
    assert search_ids(r) == {old}
    assert search_ids(r, "@camera:{garden} @lux:[5 15]") == {old}
    h = r.hgetall(image_key(old))
    assert h[b"thumbnail"].startswith(b"\xff\xd8") and h[b"thumbnail_mime"] == b"image/jpeg"
    assert 3590 < r.ttl(image_key(old)) <= 3600  # the key keeps its own TTL
    state = contract.full_size_state(r, old)
    assert state.state == "expired" and not state.has_full_size
    assert state.full_until == pytest.approx(now + 0.3, abs=1)
    fresh = save(r, "garden", time.time(), full_ttl=600)
    assert search_ids(r, contract.full_size_query()) == {fresh}
    assert contract.full_size_state(r, fresh).state == "full"


def test_tiered_store_is_one_transaction_with_the_field_expiry(r, redis_url):
    contract.ensure_index(r)
    seen: list[str] = []
    watcher = redis.Redis.from_url(redis_url)
    with watcher.monitor() as monitor:
        save(r, "garden", time.time(), full_ttl=60, ttl=3600, trim=TrimPolicy(10 * MB))
        for event in monitor.listen():
            if event.get("client_type") == "lua":
                continue  # the trim script's own commands
            seen.append(event["command"].split()[0].upper())
            if seen[-1] == "EXEC":
                break
    watcher.close()
    assert seen[seen.index("MULTI"):] == ["MULTI", "HSET", "PEXPIRE", "HPEXPIRE", "ZADD", "ZREMRANGEBYSCORE",
                                          "EVAL", "XADD", "EXEC"]
    (key,) = [k.decode() for k in r.scan_iter("image:*")]
    (field_ttl,) = r.execute_command("HTTL", key, "FIELDS", 1, "image_data")
    assert 55 <= field_ttl <= 60 and 3590 <= r.ttl(key) <= 3600


def test_history_expiry_not_longer_than_image_expiry_is_one_ttl_as_today(r, tmp_path):
    contract.ensure_index(r)
    store = ImageStore(r, Spool(tmp_path, 10 * MB), ttl=300, where="test", history_ttl=300)
    assert store.connect() and not store.tiered
    record = ImageRecord(timestamp=time.time(), image_data=make_jpeg(), camera="garden")
    store.store(image_id("garden", record.timestamp), record)
    (key,) = [k.decode() for k in r.scan_iter("image:*")]
    assert r.execute_command("HTTL", key, "FIELDS", 1, "image_data") == [-1]  # no field TTL
    assert 290 < r.ttl(key) <= 300


# --- Keep and let it expire -----------------------------------------------------------------


def test_keep_removes_both_ttls_and_let_expire_restores_the_planned_ones(r):
    contract.ensure_index(r)
    now = time.time()
    kept = save(r, "garden", now, full_ttl=600, ttl=7200)
    result = contract.keep(r, kept)
    assert result.full_size and result.would_have_expired == pytest.approx(now + 7200, abs=2)
    key = image_key(kept)
    assert r.ttl(key) == -1 and r.execute_command("HTTL", key, "FIELDS", 1, "image_data") == [-1]
    assert r.zscore(full_set_key("garden"), kept) is None  # out of the budget's reach
    state = contract.full_size_state(r, kept)
    assert state.kept and state.full_until == float("inf")
    assert search_ids(r, contract.full_size_query(now + 10 * 86400)) == {kept}

    back = contract.let_expire(r, kept)
    assert back.expires_at == pytest.approx(now + 7200, abs=2)
    assert back.full_until == pytest.approx(now + 600, abs=2)
    assert 7190 < r.ttl(key) <= 7200
    (field_ttl,) = r.execute_command("HTTL", key, "FIELDS", 1, "image_data")
    assert 590 < field_ttl <= 600
    assert r.zscore(full_set_key("garden"), kept) is not None
    assert contract.full_size_state(r, kept).state == "full"


def test_let_expire_of_a_picture_whose_plan_has_passed_gives_it_seconds_not_a_day(r):
    contract.ensure_index(r)
    old = save(r, "garden", time.time() - 7200, full_ttl=1, ttl=2)
    contract.keep(r, old)
    r.hset(image_key(old), mapping={"plan_full_until": time.time() - 3600,
                                    "plan_history_until": time.time() - 60})
    back = contract.let_expire(r, old)
    assert back.expires_at == pytest.approx(time.time() + contract.MIN_LET_EXPIRE_SECONDS, abs=2)
    assert 0 < r.ttl(image_key(old)) <= 10


def test_let_expire_of_a_reference_picture_falls_back_to_a_day(r):
    contract.ensure_index(r)
    ref = store_reference_image(r, 1_700_000_000, 110, ttl=None)
    back = contract.let_expire(r, ref)
    assert back.expires_at == pytest.approx(time.time() + 86400, abs=5)
    assert contract.keep(r, "nope:1-0000") is None and contract.let_expire(r, "nope:1-0000") is None


# --- A Redis without hash-field expiry -------------------------------------------------------


def test_a_redis_without_field_expiry_warns_once_and_stores_as_today(redis_factory, run_daemon, caplog):
    renamed = ("--rename-command", "HPEXPIRE", "", "--rename-command", "HPERSIST", "")
    server = redis_factory(maxmemory="0", appendonly=False, extra_args=renamed)
    client = server.client()
    assert not contract.supports_field_expiry(client)
    caplog.set_level(logging.INFO)
    d = run_daemon(server.url, "--interval", "0.2", "--expiry", "120", "--history-expiry", "86400")
    wait_until(lambda: len(list(client.scan_iter("image:*"))) >= 4, 10.0)
    d.stop()
    assert d.error is None
    warnings = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert len([w for w in warnings if "HPEXPIRE" in w]) == 1, warnings
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    for key in client.scan_iter("image:*"):
        assert 100 < client.ttl(key) <= 120  # IMAGE_EXPIRY, not HISTORY_EXPIRY
        assert client.hexists(key, "image_data")
    # Keep and let-expire work there too (without the field TTL).
    some = contract.id_from_key(next(client.scan_iter("image:*")))
    assert contract.keep(client, some).full_size
    assert client.ttl(image_key(some)) == -1
    assert contract.let_expire(client, some).expires_at > time.time()
    client.close()


def test_on_redis_8_the_daemon_stores_two_tiers(r, redis_url, run_daemon):
    d = run_daemon(redis_url, "--interval", "0.2", "--expiry", "120", "--history-expiry", "86400",
                   "--near-duplicates", "0")
    wait_until(lambda: len(list(r.scan_iter("image:*"))) >= 2, 10.0)
    d.stop()
    for key in r.scan_iter("image:*"):
        assert 86300 < r.ttl(key) <= 86400
        (field_ttl,) = r.execute_command("HTTL", key, "FIELDS", 1, "image_data")
        assert 100 < field_ttl <= 120
        h = r.hgetall(key)
        assert h[b"thumbnail_mime"] == b"image/webp" and h[b"thumbnail"][8:12] == b"WEBP"
        assert len(h[b"thumbnail"]) <= 12_000
        with Image.open(io.BytesIO(h[b"thumbnail"])) as thumb:
            assert thumb.width <= 320
        ts = float(h[b"timestamp"])
        assert float(h[b"plan_full_until"]) == pytest.approx(ts + 120, abs=0.01)
        assert float(h[b"plan_history_until"]) == pytest.approx(ts + 86400, abs=0.01)


# --- Budgets ----------------------------------------------------------------------------------


def full_ids(r, camera: str) -> list[str]:
    return sorted(contract.id_from_key(k) for k in r.scan_iter(f"image:{camera}:*")
                  if r.hexists(k, "image_data"))


def test_budget_trims_exactly_the_oldest_full_sizes_of_that_camera_only(r):
    contract.ensure_index(r)
    now = time.time()
    quiet = [save(r, "quiet", now - 500 + i, size=100_000) for i in range(3)]
    policy = TrimPolicy(budget=350_000)  # three and a half pictures
    busy = [save(r, "busy", now - 400 + i * 10, size=100_000, trim=policy) for i in range(10)]
    assert full_ids(r, "busy") == sorted(busy[-3:])
    assert policy.last_bytes == 300_000 and r.zcard(full_set_key("busy")) == 3
    assert full_ids(r, "quiet") == sorted(quiet)  # a busy camera never touches a quiet one
    assert search_ids(r) == set(busy) | set(quiet)  # history stays
    trimmed = contract.full_size_state(r, busy[0])
    assert trimmed.state == "trimmed" and trimmed.full_until == pytest.approx(time.time(), abs=5)


def test_budget_never_trims_kept_pictures_or_pictures_under_the_minimum_age(r):
    contract.ensure_index(r)
    now = time.time()
    first = save(r, "cam", now - 1000, size=100_000)
    contract.keep(r, first)
    for i in range(3):
        save(r, "cam", now - 900 + i, size=100_000)
    young = [save(r, "cam", now - 10 + i, size=100_000) for i in range(4)]
    policy = TrimPolicy(budget=150_000, min_age=60)
    assert contract.trim_full_size(r, "cam", policy) == 3
    assert full_ids(r, "cam") == sorted([first, *young])  # over budget: the young stay whole
    assert policy.last_bytes == 400_000


def test_budgets_round_trip_through_redis_and_refuse_bad_values(r):
    budgets = Budgets(default=50 * MB, total=200 * MB, cameras={"garden": 80 * MB}, min_age=3600)
    contract.write_budgets(r, budgets)
    assert r.hgetall(BUDGETS_KEY) == {b"default": b"50000000", b"total": b"200000000",
                                      b"camera:garden": b"80000000", b"min_age": b"3600"}
    assert contract.read_budgets(r) == (budgets, [])
    for bad, word in ((Budgets(default=-1), "default"),
                      (Budgets(total=10, cameras={"a": 20}), "add up"),
                      (Budgets(cameras={"bad name": 1}), "camera name"),
                      (Budgets(min_age=float("nan")), "min_age")):
        with pytest.raises(BudgetError, match=word):
            contract.write_budgets(r, bad)
    assert contract.read_budgets(r)[0] == budgets  # a refused write changes nothing
    # What a redis-cli user may type: units are accepted, nonsense is reported and ignored.
    r.hset(BUDGETS_KEY, mapping={"default": "64mb", "min_age": "2h", "camera:porch": "lots", "colour": "1"})
    read, problems = contract.read_budgets(r)
    assert read.default == 64 * MB and read.min_age == 7200 and "porch" not in read.cameras
    assert len(problems) == 2 and any("camera:porch" in p for p in problems)


def test_total_budget_is_shared_equally_after_the_cameras_own_budgets():
    budgets = Budgets(total=300, cameras={"porch": 100}, default=80)
    assert budgets.for_camera("porch", ["a", "b"]) == 100
    assert budgets.for_camera("a", ["a", "b", "porch"]) == 80  # share 100, default 80
    assert Budgets(total=300, cameras={"porch": 100}).for_camera("a", ["a", "b"]) == 100
    assert Budgets(total=300).for_camera("new", ["a", "b"]) == 100  # itself counts
    assert Budgets().for_camera("a", ["a"]) is None


def test_the_daemon_picks_up_a_new_budget_without_a_restart(r, redis_url, run_daemon, monkeypatch):
    monkeypatch.setattr("pi.store.BUDGET_REFRESH", 0.0)
    d = run_daemon(redis_url, "--interval", "0.1", "--expiry", "600", "--history-expiry", "86400",
                   "--near-duplicates", "0")
    wait_until(lambda: len(full_ids(r, "testcam")) >= 6, 10.0)
    size = max(r.hstrlen(k, "image_data") for k in r.scan_iter("image:testcam:*"))
    contract.write_budgets(r, Budgets(cameras={"testcam": 2 * size}))
    wait_until(lambda: d.daemon.store.trimmed > 0, 10.0)
    d.stop()
    full = full_ids(r, "testcam")
    assert 1 <= len(full) <= 2
    everything = sorted(contract.id_from_key(k) for k in r.scan_iter("image:testcam:*"))
    assert full == everything[-len(full):]  # the newest kept their full size


# --- Near-duplicates ------------------------------------------------------------------------


def _clock_at(hour: float, speed: float):
    """A clock at `hour` local time today that runs `speed` times faster than real time."""
    base = time.mktime(time.localtime()[:3] + (0, 0, 0, 0, 0, -1)) + hour * 3600
    start = time.time()
    return lambda: base + (time.time() - start) * speed


@pytest.mark.parametrize("hour, unchanged", [(2.0, True), (12.0, False)])
def test_near_duplicates_are_history_only_at_night_and_whole_in_daylight(r, redis_url, run_daemon, hour,
                                                                         unchanged):
    from pi.cameras.simulated import SimulatedCamera

    # Each 0.2 s interval is 12 s of scene time: clouds drift (slowly at night, when they are
    # dark), the sun and moon move.
    camera = SimulatedCamera(resolution=(320, 180), clock=_clock_at(hour + 0.01, 60))
    d = run_daemon(redis_url, "--interval", "0.2", "--expiry", "600", "--history-expiry", "86400",
                   camera=camera)
    wait_until(lambda: len(list(r.scan_iter("image:*"))) >= 6, 10.0)
    d.stop()
    rows = sorted((r.hgetall(k) for k in r.scan_iter("image:*")), key=lambda h: float(h[b"timestamp"]))
    assert b"image_data" in rows[0]  # the first picture is always whole
    later = rows[1:]
    history_only = [h for h in later if b"image_data" not in h]
    if unchanged:
        assert len(history_only) >= len(later) - 1, [d.daemon.near_duplicates.last_level]
        for h in history_only:
            assert h[b"same_as"].decode().startswith("testcam:") and b"unchanged_since" in h
            assert b"thumbnail" in h
        assert d.daemon.near_duplicates.saved_bytes > 0
    else:
        assert history_only == []


def test_sensor_and_motion_pictures_are_always_kept_whole(r, redis_url, run_daemon):
    from pi.cameras.simulated import SimulatedCamera

    camera = SimulatedCamera(resolution=(320, 180), clock=lambda: time.mktime(
        time.localtime()[:3] + (2, 0, 0, 0, 0, -1)))  # a still night
    d = run_daemon(redis_url, "--interval", "30", "--expiry", "600", "--history-expiry", "86400",
                   camera=camera)
    wait_until(lambda: len(list(r.scan_iter("image:*"))) >= 1, 10.0)
    for trigger in ("motion", "sensor", "motion"):
        d.daemon.request_capture(trigger)
    wait_until(lambda: len(list(r.scan_iter("image:*"))) >= 4, 10.0)
    d.stop()
    for key in r.scan_iter("image:*"):
        assert r.hexists(key, "image_data"), r.hget(key, "trigger")


def test_near_duplicates_can_be_turned_off(r, redis_url, run_daemon):
    from pi.cameras.simulated import SimulatedCamera

    camera = SimulatedCamera(resolution=(320, 180), clock=lambda: 1_700_000_000.0)
    d = run_daemon(redis_url, "--interval", "0.2", "--expiry", "600", "--history-expiry", "86400",
                   "--near-duplicates", "0", camera=camera)
    wait_until(lambda: len(list(r.scan_iter("image:*"))) >= 4, 10.0)
    d.stop()
    assert all(r.hexists(k, "image_data") for k in r.scan_iter("image:*"))


def test_spooled_picture_past_its_full_size_plan_is_replayed_as_history_only(r, tmp_path):
    contract.ensure_index(r)
    store = ImageStore(r, Spool(tmp_path, 10 * MB), ttl=60, where="test", history_ttl=86400)
    assert store.connect()
    record = ImageRecord(timestamp=time.time() - 120, image_data=make_jpeg(), camera="garden",
                         thumbnail=make_jpeg(64, 36))
    store.online = False  # as during an outage
    new_id = image_id("garden", record.timestamp)
    assert store.store(new_id, record).spooled
    store.online = True
    assert store.replay()
    h = r.hgetall(image_key(new_id))
    assert b"image_data" not in h and b"thumbnail" in h
    assert 86000 < r.ttl(image_key(new_id)) <= 86400 - 100
    assert contract.full_size_state(r, new_id).state == "expired"


def test_reference_pictures_and_old_hashes_still_read_and_search(r):
    contract.ensure_index(r)
    ref = store_reference_image(r, 1_700_000_000, 110)
    ours = store_image(r, camera="garden", timestamp=1_700_000_100, lux=110)
    assert contract.full_size_state(r, ref).state == "full"
    assert search_ids(r, "@lux:[100 120]") == {ref, ours}


def test_total_budget_is_shared_by_the_cameras_online_or_holding_full_sizes(r):
    contract.ensure_index(r)
    now = time.time()
    contract.save_heartbeat(r, contract.CameraStatus(camera="garden"), ttl=30)
    contract.save_heartbeat(r, contract.CameraStatus(camera="gone"), ttl=30)
    r.delete(contract.camera_key("gone"))  # offline, and no full-size pictures: no share
    contract.save_heartbeat(r, contract.CameraStatus(camera="porch"), ttl=30)
    r.delete(contract.camera_key("porch"))  # offline, but still holds full-size pictures
    save(r, "porch", now, size=1000)
    contract.write_budgets(r, Budgets(total=90 * MB, cameras={"attic": 30 * MB}, min_age=60))
    policy, problems = contract.camera_trim_policy(r, "garden")
    assert problems == [] and policy.min_age == 60
    assert policy.budget == 30 * MB  # (90 - attic's 30) shared by garden and porch
    assert contract.camera_trim_policy(r, "attic")[0].budget == 30 * MB
