"""Many pictures at once over the API: bulk delete/keep/expire, zip downloads, the timeline."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from tests.factories import store_image

T0 = 1_700_000_000.0


@pytest.fixture
def five(r, app) -> list[str]:
    return [store_image(r, camera="garden" if i % 2 else "porch", timestamp=T0 + i * 600, lux=10.0 * i)
            for i in range(5)]


def test_bulk_delete_deletes_and_names_what_was_already_gone(client, r, five) -> None:
    r.delete(f"image:{five[0]}")
    response = client.post("/api/images/bulk/delete", json={"ids": five[:3]}, headers=client.csrf_headers)
    assert response.status_code == 200
    assert response.json == {"deleted": five[1:3], "missing": five[:1]}
    assert sorted(k.decode() for k in r.keys("image:*")) == sorted(f"image:{i}" for i in five[3:])


def test_bulk_actions_need_the_csrf_token(client, five) -> None:
    response = client.post("/api/images/bulk/delete", json={"ids": five[:1]})
    assert response.status_code == 403


def test_bulk_keep_then_undo_restores_each_expiry(client, r, five) -> None:
    before = {i: r.pttl(f"image:{i}") for i in five[:2]}
    kept = client.post("/api/images/bulk/keep", json={"ids": five[:2]}, headers=client.csrf_headers).json
    assert [k["id"] for k in kept["kept"]] == five[:2] and kept["missing"] == []
    assert all(r.ttl(f"image:{i}") == -1 for i in five[:2])
    undo = [{"id": k["id"], "expires_at": k["previous_expires_at"]} for k in kept["kept"]]
    back = client.post("/api/images/bulk/expire", json={"items": undo}, headers=client.csrf_headers)
    assert back.status_code == 200 and len(back.json["expiring"]) == 2
    for i in five[:2]:
        assert abs(r.pttl(f"image:{i}") - before[i]) < 5000


@pytest.mark.parametrize(("body", "parameter"), [
    ({}, "ids"), ({"ids": "x"}, "ids"), ({"ids": []}, "ids"), ({"ids": ["../etc"]}, "ids"),
    ({"ids": ["garden:1700000000000-ab12"] * 501}, "ids"),
])
def test_bad_bulk_bodies_get_a_400_naming_ids(client, body, parameter) -> None:
    response = client.post("/api/images/bulk/delete", json=body, headers=client.csrf_headers)
    assert response.status_code == 400
    assert response.json["error"]["parameter"] == parameter
    assert "ids" in response.json["error"]["message"]


def test_zip_of_chosen_ids_holds_their_originals(client, r, five) -> None:
    response = client.get("/api/archive?ids=" + ",".join(five[:3]))
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    names = archive.namelist()
    assert len(names) == 3 and all(n.endswith(".jpg") for n in names)
    originals = {r.hget(f"image:{i}", "image_data") for i in five[:3]}
    assert {archive.read(n) for n in names} == originals


def test_a_whole_filter_is_planned_in_parts_by_size_and_each_part_downloads(client, r, app) -> None:
    ids = [store_image(r, camera="garden", timestamp=T0 + i * 60, width=1280, height=720) for i in range(12)]
    store_image(r, camera="porch", timestamp=T0 + 30)  # not in the filter
    size = r.hstrlen(f"image:{ids[0]}", "image_data")
    per_part = max(1, 1_000_000 // size)
    plan = client.get("/api/archive/plan?camera=garden&part_mb=1").json
    assert plan["count"] == 12 and not plan["truncated"]
    assert len(plan["parts"]) == -(-12 // per_part)
    assert all(p["bytes"] <= 1_000_000 for p in plan["parts"])
    got = []
    for part in plan["parts"]:
        body = client.get(part["url"]).get_data()
        got += zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert len(got) == 12 and len(set(got)) == 12
    assert got == sorted(got), "parts run oldest first"


def test_timeline_counts_pictures_per_hour_under_the_filter(client, r, app) -> None:
    for i in range(7):
        store_image(r, camera="garden", timestamp=T0 + i * 1200)  # 20 minutes apart
    store_image(r, camera="porch", timestamp=T0)
    body = client.get("/api/timeline?camera=garden").json
    hour = T0 // 3600 * 3600
    counts = {h: n for h, n in body["hours"]}
    assert sum(counts.values()) == 7 and min(counts) == hour
    assert list(counts) == sorted(counts) and not body["truncated"]
    assert client.get("/api/timeline?since=x").status_code == 400


def test_streamed_zip_is_sent_before_it_is_finished(client, r, app) -> None:
    ids = [store_image(r, timestamp=T0 + i, width=640, height=360) for i in range(30)]
    for i in ids:  # pictures the size of real ones
        r.hset(f"image:{i}", "image_data", os.urandom(400_000))
    response = client.get("/api/archive?ids=" + ",".join(ids), buffered=False)
    assert response.is_streamed
    first = next(iter(response.response))
    assert first.startswith(b"PK") and len(first) < sum(r.hstrlen(f"image:{i}", "image_data") for i in ids)
    response.close()


def test_the_list_marks_kept_pictures(client, r, five) -> None:
    client.post("/api/images/bulk/keep", json={"ids": five[1:3]}, headers=client.csrf_headers)
    items = {it["id"]: it["kept"] for it in client.get("/api/images?limit=10").json["images"]}
    assert items == {i: i in five[1:3] for i in five}
