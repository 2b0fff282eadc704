"""The gallery's side of tiered retention (issue 9) and of the notifier (issue 14), against
the real Redis: keep and let-expire, thumbnail-only pictures in the list, the detail and the
downloads, the "full size available" filter, the forecast and budgets API, the notifier's
status and /healthz, and time-lapses across pictures whose full size is gone."""

from __future__ import annotations

import json
import math
import time

import av
import pytest

from pi import contract
from pi.contract import ImageRecord, ensure_index, image_id, image_key, save_image
from server.timelapse.engine import TimelapseOptions, make_timelapse
from tests.factories import make_jpeg, store_image, store_reference_image
from tests.helpers import wait_until
from tests.retention_support import store_thumbnail_only


@pytest.fixture
def r(r):
    ensure_index(r)
    return r


def store_tiered(r, camera: str = "garden", ts: float | None = None, *, full_ttl: float = 600,
                 ttl: float = 7200, shade: int = 128) -> str:
    """Store a picture in two tiers, as the daemon does with HISTORY_EXPIRY set."""
    ts = time.time() if ts is None else ts
    record = ImageRecord(timestamp=ts, image_data=make_jpeg(320, 180, shade=shade), camera=camera,
                         trigger="interval", lux=50.0, width=320, height=180,
                         thumbnail=make_jpeg(160, 90, shade=shade))
    new_id = image_id(camera, ts)
    save_image(r, record, ttl, new_id, full_ttl=full_ttl)
    return new_id


def field_ttl(r, key: str) -> int:
    return r.execute_command("HTTL", key, "FIELDS", 1, contract.F_IMAGE_DATA)[0]


# --- Keep and let it expire ---------------------------------------------------------------------


def test_keep_keeps_the_full_size_too_and_let_expire_restores_the_planned_ttls(client, r):
    pid = store_tiered(r, full_ttl=600, ttl=7200)
    key = image_key(pid)
    assert 0 < field_ttl(r, key) <= 600

    kept = client.post(f"/api/images/{pid}/keep", headers=client.csrf_headers)

    assert kept.status_code == 200 and kept.json["full_size"] is True
    assert abs(kept.json["previous_expires_at"] - (time.time() + 7200)) < 5
    assert r.ttl(key) == -1 and field_ttl(r, key) == -1  # neither the picture nor its full size expires
    assert r.hget(key, contract.F_FULL_UNTIL) == b"inf"
    detail = client.get(f"/api/images/{pid}").json
    assert detail["kept"] is True and detail["tier"] == {
        "state": "full", "full_until": None, "full_kept": True, "unchanged_since": None, "same_as": None}
    assert ["full_until", "inf"] in detail["fields"]

    back = client.post(f"/api/images/{pid}/expire", json={}, headers=client.csrf_headers)

    assert back.status_code == 200 and back.json["kept"] is False
    assert 7190 < r.ttl(key) <= 7200, "the planned 2 h, not a fixed day"
    assert 590 < field_ttl(r, key) <= 600, "the full size's own planned 10 min"
    assert abs(back.json["full_until"] - (time.time() + 600)) < 10


def test_a_kept_picture_keeps_its_full_size_past_its_planned_expiry(client, r):
    pid = store_tiered(r, full_ttl=0.5, ttl=3600)
    assert client.post(f"/api/images/{pid}/keep", headers=client.csrf_headers).status_code == 200
    time.sleep(0.8)
    assert r.hexists(image_key(pid), contract.F_IMAGE_DATA)
    assert client.get(f"/api/images/{pid}/image").status_code == 200
    assert client.get("/api/images?full_size=1").json["images"][0]["id"] == pid


def test_let_expire_with_an_expiry_only_matters_for_a_picture_without_a_plan(client, r):
    ref = store_reference_image(r, timestamp=int(time.time()), lux=10, ttl=None)
    when = time.time() + 1800
    answer = client.post(f"/api/images/{ref}/expire", json={"expires_at": when}, headers=client.csrf_headers)
    assert answer.status_code == 200 and abs(answer.json["expires_at"] - when) < 2
    planned = store_tiered(r, ttl=7200)
    client.post(f"/api/images/{planned}/keep", headers=client.csrf_headers)
    answer = client.post(f"/api/images/{planned}/expire", json={"expires_at": time.time() + 60},
                         headers=client.csrf_headers)
    assert 7190 < r.ttl(image_key(planned)) <= 7200


# --- Thumbnail-only pictures ---------------------------------------------------------------------


def test_full_size_expiring_leaves_a_labelled_thumbnail_and_a_410_naming_it(client, r):
    pid = store_tiered(r, full_ttl=0.3, ttl=3600)
    wait_until(lambda: not r.hexists(image_key(pid), contract.F_IMAGE_DATA), 5)

    item = client.get("/api/images").json["images"][0]
    detail = client.get(f"/api/images/{pid}").json
    gone = client.get(f"/api/images/{pid}/image")

    for shown in (item, detail):
        assert shown["tier"]["state"] == "expired"
        assert shown["tier"]["full_until"] < time.time()
        assert shown["image_url"] == f"/api/images/{pid}/thumbnail"
        assert shown["download_url"] == f"/api/images/{pid}/thumbnail?download=1"
        assert shown["download_name"].endswith("_thumbnail.jpg")
    assert gone.status_code == 410 and gone.mimetype == "application/json"
    assert gone.json["error"]["code"] == "full_size_gone"
    assert pid in gone.json["error"]["message"] and "expired" in gone.json["error"]["message"]
    assert f"/api/images/{pid}/thumbnail" in gone.json["error"]["message"]
    assert client.get(f"/api/images/{pid}/thumbnail").status_code == 200


@pytest.mark.parametrize("state, words", [("expired", "expired"), ("trimmed", "budget"),
                                          ("unchanged", "nothing had changed")])
def test_each_thumbnail_only_tier_is_named_in_the_list_the_detail_and_the_410(client, r, state, words):
    whole = store_image(r, camera="garden", timestamp=time.time() - 4 * 3600)
    pid = store_thumbnail_only(r, state=state, same_as=whole, unchanged_since=time.time() - 4 * 3600)

    items = {i["id"]: i for i in client.get("/api/images").json["images"]}
    detail = client.get(f"/api/images/{pid}").json
    gone = client.get(f"/api/images/{pid}/image")

    assert items[pid]["tier"]["state"] == detail["tier"]["state"] == state
    assert items[whole]["tier"]["state"] == "full"
    assert items[whole]["image_url"] == f"/api/images/{whole}/image"
    assert gone.status_code == 410 and words in gone.json["error"]["message"]
    if state == "unchanged":
        assert detail["tier"]["same_as"] == whole and whole in gone.json["error"]["message"]
        assert detail["tier"]["unchanged_since"] == pytest.approx(time.time() - 4 * 3600, abs=5)


def test_webp_thumbnails_are_served_as_webp_and_download_with_their_extension(client, r):
    pid = store_thumbnail_only(r, state="expired")
    thumb = client.get(f"/api/images/{pid}/thumbnail")
    download = client.get(f"/api/images/{pid}/thumbnail?download=1")
    assert thumb.mimetype == "image/webp" and thumb.data[8:12] == b"WEBP"
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.headers["Content-Disposition"].endswith('_thumbnail.webp"') or \
        "_thumbnail.webp" in download.headers["Content-Disposition"]
    detail = client.get(f"/api/images/{pid}").json
    assert detail["download_name"].endswith("_thumbnail.webp")
    assert ["thumbnail_mime", "image/webp"] in detail["fields"]


def test_a_missing_picture_is_still_a_404_not_a_410(client, r):
    assert client.get("/api/images/garden:1-ab12/image").status_code == 404


# --- The "full size available" filter -------------------------------------------------------------


def test_full_size_filter_lists_counts_and_streams_by_tier(client, r):
    start = client.get("/api/images").json["stream_id"]
    whole = store_tiered(r, "garden", time.time() - 60)
    reference = store_reference_image(r, timestamp=int(time.time()) - 120, lux=5)
    trimmed = store_thumbnail_only(r, state="trimmed", timestamp=time.time() - 30)
    near = store_thumbnail_only(r, state="unchanged", same_as=whole, timestamp=time.time() - 20)

    full = client.get("/api/images?full_size=1").json
    thumbs = client.get("/api/images?full_size=0&sort=oldest").json

    # A reference picture has no full_until: its key expires whole, so it counts as full.
    assert {i["id"] for i in full["images"]} == {whole, reference}
    assert full["count"]["value"] == 2 and full["count"]["exact"]
    assert [i["id"] for i in thumbs["images"]] == [trimmed, near]
    events = client.get(f"/api/events?stream_id={start}&full_size=0").get_data(as_text=True)
    streamed = [json.loads(line[6:])["id"] for line in events.splitlines()
                if line.startswith("data: ") and '"tier"' in line]
    assert streamed == [trimmed, near]
    chart = client.get("/api/chart?full_size=0&buckets=4").json
    assert sum(b["count"] for b in chart["buckets"]) == 2


def test_full_size_filter_is_declared_once_and_documented_everywhere(client):
    doc = client.get("/api/openapi.json").json
    for path in ("/api/images", "/api/events", "/api/chart", "/api/images/{image_id}/neighbors"):
        names = [p["name"] for p in doc["paths"][path]["get"]["parameters"]]
        assert "full_size" in names, path
    bad = client.get("/api/images?full_size=maybe")
    assert bad.status_code == 400 and bad.json["error"]["parameter"] == "full_size"
    assert "1" in bad.json["error"]["message"] and "0" in bad.json["error"]["message"]


def test_a_full_size_that_expires_leaves_the_filter_at_once(client, r):
    pid = store_tiered(r, full_ttl=0.3)
    assert [i["id"] for i in client.get("/api/images?full_size=1").json["images"]] == [pid]
    time.sleep(0.5)
    assert client.get("/api/images?full_size=1").json["images"] == []
    assert [i["id"] for i in client.get("/api/images?full_size=0").json["images"]] == [pid]


# --- Forecast and budgets -------------------------------------------------------------------------


def test_retention_report_forecasts_each_camera_and_counts_the_movies(client, r):
    now = time.time()
    for i in range(6):
        store_tiered(r, "garden", now - 300 + 60 * i, full_ttl=600, ttl=7200)
    r.set("timelapse:0123456789abcdef:mp4", b"x" * 50_000)  # a finished job's movie and its state
    r.hset("timelapse:0123456789abcdef", mapping={"status": "done", "frames": "6"})

    body = client.get("/api/retention").json

    [garden] = body["cameras"]
    assert garden["camera"] == "garden"
    assert garden["describe"].startswith("garden: full size ") and "MB/min" in garden["describe"]
    assert garden["pictures_per_min"] == pytest.approx(1.0, rel=0.05)
    assert garden["full_reach_seconds"] == pytest.approx(600, abs=5)
    assert body["timelapse"]["count"] == 1 and body["timelapse"]["bytes"] >= 50_000
    assert body["budgets"]["key"] == "retention:budgets"


def test_budgets_are_saved_in_redis_and_the_forecast_warns_when_they_cannot_hold_min_age(client, r):
    now = time.time()
    for i in range(6):
        store_tiered(r, "garden", now - 300 + 60 * i)
    assert client.post("/api/retention/budgets", json={"total": "1mb"}).status_code == 403

    saved = client.post("/api/retention/budgets", headers=client.csrf_headers,
                        json={"total": "128mb", "default": "", "min_age": "2h",
                              "cameras": {"garden": "1kb"}})

    assert saved.status_code == 200
    assert r.hgetall(contract.BUDGETS_KEY) == {b"total": b"128000000", b"camera:garden": b"1000",
                                               b"min_age": b"7200"}
    assert saved.json["budgets"]["cameras"] == {"garden": 1000}
    [garden] = saved.json["cameras"]
    assert garden["budget"] == 1000 and garden["warnings"]
    assert any("minimum age" in w for w in saved.json["warnings"])


@pytest.mark.parametrize("body, parameter", [
    ({"total": "lots"}, "total"),
    ({"total": "lots", "default": None, "min_age": None}, "total"),
    ({"default": True}, "default"),
    ({"min_age": "soon"}, "min_age"),
    ({"cameras": {"garden": "-5"}}, "camera:garden"),
    ({"cameras": {"no such/camera": "5mb"}}, "camera:no such/camera"),
    ({"total": "10mb", "cameras": {"a": "8mb", "b": "8mb"}}, "total"),
    ({"maximum": "1gb"}, "maximum"),
])
def test_a_bad_budget_is_refused_naming_its_field_and_nothing_changes(client, r, body, parameter):
    r.hset(contract.BUDGETS_KEY, "total", "64000000")
    answer = client.post("/api/retention/budgets", json=body, headers=client.csrf_headers)
    assert answer.status_code == 400
    assert answer.json["error"]["parameter"] == parameter
    assert r.hgetall(contract.BUDGETS_KEY) == {b"total": b"64000000"}


def test_budgets_written_by_hand_that_cannot_be_used_are_reported_not_fatal(client, r):
    r.hset(contract.BUDGETS_KEY, mapping={"total": "a lot", "default": "32mb"})
    body = client.get("/api/retention").json
    assert body["budgets"]["default"] == 32_000_000 and body["budgets"]["total"] is None
    assert any("total" in p for p in body["budgets"]["problems"])


# --- The notifier ---------------------------------------------------------------------------------


def write_notifier(r, updated_at: float, **targets: dict) -> None:
    r.hset(contract.NOTIFY_STATUS_KEY, mapping={
        "consumer": "notifier-1", "started_at": f"{updated_at - 60:.3f}", "updated_at": f"{updated_at:.3f}",
        "heartbeat": "5", "targets": ",".join(targets), "pending": "0", "lag": "0"})
    for name, fields in targets.items():
        r.hset(contract.notify_target_key(name), mapping=fields)


def test_notifier_targets_are_listed_with_when_they_fired_and_their_last_error(client, r):
    now = time.time()
    write_notifier(r, now, ntfy={"kind": "ntfy", "rule": "camera=garden trigger=motion", "state": "ok",
                                 "last_fired": f"{now - 300:.3f}", "sent": "12"},
                   hook={"kind": "webhook", "state": "retrying", "last_error": "HTTP 503 from example.org",
                         "last_error_at": f"{now - 20:.3f}", "failures": "3"})
    body = client.get("/api/notify").json
    assert body["state"] == "retrying" and "hook" in body["message"]
    targets = {t["name"]: t for t in body["targets"]}
    assert targets["ntfy"]["sent"] == 12 and targets["ntfy"]["last_fired"] == pytest.approx(now - 300, abs=1)
    assert targets["hook"]["last_error"] == "HTTP 503 from example.org" and targets["hook"]["failures"] == 3

    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json["status"] == "degraded" and health.json["notifier"]["retrying"] == ["hook"]


def test_a_stale_notifier_makes_healthz_degraded_not_unavailable(client, r):
    assert client.get("/healthz").json["status"] == "ok"  # no notifier: nothing to report
    assert client.get("/api/notify").json["state"] == "absent"
    write_notifier(r, time.time() - 600, ntfy={"kind": "ntfy", "state": "ok"})
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json["status"] == "degraded"
    assert health.json["notifier"]["state"] == "stale" and "not running" in health.json["message"]
    write_notifier(r, time.time(), ntfy={"kind": "ntfy", "state": "ok"})
    assert client.get("/healthz").json["status"] == "ok"


def test_notifier_values_written_by_anyone_are_read_as_input(client, r):
    r.hset(contract.NOTIFY_STATUS_KEY, mapping={"updated_at": "nan", "targets": "ok1,../etc,\x00bad",
                                                "pending": "-4", "heartbeat": "inf"})
    r.hset(contract.notify_target_key("ok1"), mapping={"state": "<script>", "last_fired": "yesterday",
                                                       "sent": "1e400", "last_error": "x" * 5000 + "\x07"})
    body = client.get("/api/notify").json
    assert body["state"] == "stale" and body["pending"] is None
    [target] = body["targets"]
    assert target["name"] == "ok1" and target["state"] == "unknown" and target["last_fired"] is None
    assert target["sent"] == 0 and len(target["last_error"]) <= 300 and "\x07" not in target["last_error"]
    assert client.get("/healthz").status_code == 200


# --- The time-lapse across tiers -------------------------------------------------------------------


def test_time_lapse_draws_gone_full_sizes_from_thumbnails_and_repeats_from_their_original(r, tmp_path):
    t0 = time.time() - 3600
    first = store_image(r, camera="cam", timestamp=t0 + 1, lux=200)
    store_thumbnail_only(r, camera="cam", state="unchanged", timestamp=t0 + 2, same_as=first)
    store_thumbnail_only(r, camera="cam", state="expired", timestamp=t0 + 3)
    store_image(r, camera="cam", timestamp=t0 + 4, lux=200)
    out = tmp_path / "out.mp4"

    result = make_timelapse(r, TimelapseOptions(since=t0, until=t0 + 10, camera="cam", fps=4, width=320,
                                                height=180), out)

    assert result.frames == 4, "continuous: no frame skipped"
    assert result.thumbnail_frames == 1 and result.same_as_frames == 1 and result.skipped_expired == 0
    with av.open(str(out)) as movie:
        assert sum(1 for _ in movie.decode(video=0)) == 4


def test_time_lapse_job_says_how_many_frames_came_from_thumbnails(client, r, app, tmp_path):
    t0 = time.time() - 3600
    store_image(r, camera="cam", timestamp=t0 + 1)
    store_thumbnail_only(r, camera="cam", state="trimmed", timestamp=t0 + 2)
    started = client.post("/api/timelapse", headers=client.csrf_headers,
                          json={"since": t0, "until": t0 + 10, "camera": "cam", "fps": 5, "size": "320x180"})
    assert started.status_code == 202, started.json
    job = started.json["job_id"]
    state = wait_until(lambda: (s := client.get(f"/api/timelapse/{job}").json)["status"] in ("done", "failed")
                       and s, 60)
    assert state["status"] == "done" and state["frames"] == 2 and state["thumbnail_frames"] == 1
    assert not math.isnan(state["percent"])


@pytest.mark.parametrize("sort", ["newest", "oldest", "brightest", "darkest"])
def test_full_size_filter_pages_through_every_sort(client, r, sort):
    now = time.time()
    whole = {store_image(r, camera="cam", timestamp=now - 60 * i, lux=float(10 * i)) for i in range(7)}
    for i in range(5):
        store_thumbnail_only(r, camera="cam", state="expired", timestamp=now - 30 - 60 * i,
                             lux=float(5 + 10 * i))
    seen, cursor = [], None
    while True:
        after = f"&cursor={cursor}" if cursor else ""
        page = client.get(f"/api/images?full_size=1&sort={sort}&limit=3{after}").json
        seen += [i["id"] for i in page["images"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(whole) and len(seen) == 7
