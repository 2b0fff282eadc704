"""Motion bursts: consecutive motion pictures of one camera grouped like events, reviewable."""

from __future__ import annotations

import time

from server.gallery.bursts import group
from tests.factories import store_image

T0 = 1_700_000_000.0


def test_grouping_keeps_cameras_apart_and_splits_at_the_gap() -> None:
    pics = [("g4", "garden", 300.0), ("p2", "porch", 290.0), ("g3", "garden", 250.0),
            ("g2", "garden", 100.0), ("p1", "porch", 95.0), ("g1", "garden", 60.0)]
    assert [[p[0] for p in b] for b in group(pics, 60)] == [["g4", "g3"], ["p2"], ["g2", "g1"], ["p1"]]


def test_bursts_of_a_filter_with_strips_and_review(client, r, app) -> None:
    def motion(ts: float) -> str:
        return store_image(r, camera="garden", trigger="motion", timestamp=ts)

    burst_a = [motion(T0 + i * 20) for i in range(5)]
    burst_b = [motion(T0 + 600 + i * 10) for i in range(3)]
    store_image(r, camera="garden", trigger="interval", timestamp=T0 + 30)  # not motion
    store_image(r, camera="porch", trigger="motion", timestamp=T0 + 5)
    body = client.get("/api/bursts?camera=garden").json
    assert [(b["id"], b["count"]) for b in body["bursts"]] == [(burst_b[0], 3), (burst_a[0], 5)]
    first = body["bursts"][1]
    assert first["start"] == T0 and first["end"] == T0 + 80 and not first["reviewed"]
    assert len(first["thumbnails"]) == 5 and first["thumbnails"][0].endswith("/thumbnail?w=160")
    assert client.get(first["thumbnails"][0]).status_code == 200

    done = client.post("/api/bursts/review", json={"ids": [burst_a[0]]}, headers=client.csrf_headers)
    assert done.status_code == 200 and done.json["reviewed"] == [burst_a[0]]
    reviewed = {b["id"]: b["reviewed"] for b in client.get("/api/bursts").json["bursts"]}
    assert reviewed[burst_a[0]] and not reviewed[burst_b[0]]
    assert abs(r.zscore("gallery:reviewed", burst_a[0]) - time.time()) < 60  # when it was reviewed
    client.post("/api/bursts/review", json={"ids": [burst_a[0]], "reviewed": False},
                headers=client.csrf_headers)
    assert not {b["id"]: b["reviewed"] for b in client.get("/api/bursts").json["bursts"]}[burst_a[0]]


def test_a_wider_gap_joins_bursts_and_bad_gaps_are_named(client, r, app) -> None:
    for i in range(3):
        store_image(r, camera="garden", trigger="motion", timestamp=T0 + i * 200)
    assert len(client.get("/api/bursts?gap=60").json["bursts"]) == 3
    assert len(client.get("/api/bursts?gap=300").json["bursts"]) == 1
    bad = client.get("/api/bursts?gap=1")
    assert bad.status_code == 400 and bad.json["error"]["parameter"] == "gap"
    bad_id = client.post("/api/bursts/review", json={"ids": ["x/../y"]}, headers=client.csrf_headers)
    assert bad_id.status_code == 400
    assert client.post("/api/bursts/review", json={"ids": ["garden:1-ab12"]}).status_code == 403
