"""Stats, cameras, facets, the light chart, the OpenAPI document and /healthz."""

from __future__ import annotations

import re
import time

import pytest
import redis

from pi.contract import CameraStatus, save_heartbeat
from tests.factories import store_image

T0 = 1_700_000_000.0


def test_stats_count_memory_and_edges(client, r, app) -> None:
    first = store_image(r, camera="a", timestamp=T0, lux=1.0, thumbnail=False)
    store_image(r, camera="b", timestamp=T0 + 50, lux=2.0, thumbnail=False)
    last = store_image(r, camera="a", timestamp=T0 + 100, lux=3.0, thumbnail=False)
    body = client.get("/api/stats").json
    assert body["count"] == 3
    assert body["memory"]["used_bytes"] > 0 and body["memory"]["max_bytes"] is None
    assert body["oldest"] == {"id": first, "timestamp": T0, "camera": "a"}
    assert body["newest"] == {"id": last, "timestamp": T0 + 100, "camera": "a"}
    r.config_set("maxmemory", "64mb")
    assert client.get("/api/stats").json["memory"]["max_bytes"] == 64 * 1024 * 1024


def test_stats_of_an_empty_store(client) -> None:
    body = client.get("/api/stats").json
    assert body["count"] == 0 and body["oldest"] is None and body["newest"] is None


def test_cameras_online_from_heartbeat_and_offline_from_images(client, r, app) -> None:
    now = time.time()
    beat = CameraStatus(camera="Garden", host="pi-garden", started_at=now - 100,
                        last_capture=now - 5, last_id="Garden:1-ab12", triggers="interval,motion")
    save_heartbeat(r, beat, 30)
    r.hset("camera:Garden:settings", mapping={"x": "1"})  # not a heartbeat
    store_image(r, camera="shed", timestamp=T0, thumbnail=False)
    cams = client.get("/api/cameras").json["cameras"]
    assert [c["name"] for c in cams] == ["Garden", "shed"]
    garden, shed = cams
    assert garden["online"] is True and garden["host"] == "pi-garden"
    assert garden["triggers"] == ["interval", "motion"] and abs(garden["last_capture"] - (now - 5)) < 0.01
    assert shed["online"] is False and shed["last_capture"] == T0 and shed["last_id"].startswith("shed:")


def test_facets_offer_cameras_and_triggers(client, r, app) -> None:
    store_image(r, camera="door", timestamp=T0, trigger="timer", thumbnail=False)
    body = client.get("/api/facets").json
    assert body["cameras"] == ["door"]
    assert {"interval", "motion", "sensor", "manual", "timer"} <= set(body["triggers"])


def test_chart_buckets_average_min_and_max_lux(client, r, app) -> None:
    for i, lux in enumerate([10, 20, 30, 100, 300]):
        store_image(r, camera="cam", timestamp=T0 + i * 600, lux=float(lux), thumbnail=False)
    body = client.get(f"/api/chart?since={T0}&until={T0 + 3600}&buckets=2").json
    assert body["bucket_seconds"] == 1800
    starts = [b["start"] for b in body["buckets"]]
    assert starts == sorted(starts) and all(s % 1800 == 0 for s in starts)
    total = sum(b["count"] for b in body["buckets"])
    assert total == 5
    every = [b for b in body["buckets"]]
    assert min(b["min"] for b in every) == 10 and max(b["max"] for b in every) == 300
    for b in every:
        assert b["min"] <= b["avg"] <= b["max"] and b["end"] - b["start"] == 1800


def test_chart_follows_the_filter(client, r, app) -> None:
    store_image(r, camera="a", timestamp=T0, lux=5.0, thumbnail=False)
    store_image(r, camera="b", timestamp=T0 + 10, lux=500.0, thumbnail=False)
    body = client.get("/api/chart?camera=b").json
    assert len(body["buckets"]) == 1 and body["buckets"][0]["avg"] == 500.0
    assert client.get("/api/chart?camera=c").json["buckets"] == []
    assert client.get("/api/chart?buckets=9999").status_code == 400
    wide = client.get("/api/chart?since=0&until=99999999999")
    assert wide.status_code == 200 and len(wide.json["buckets"]) == 1


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def test_openapi_document_matches_the_real_routes(client, app) -> None:
    doc = client.get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.rule == "/healthz":
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                served.add((_openapi_path(rule.rule), method))
    assert documented == served
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert op["summary"] and op["responses"]
            in_path = [p for p in op.get("parameters", []) if p["in"] == "path"]
            assert {p["name"] for p in in_path} == set(re.findall(r"{(\w+)}", path)), path
            assert all(p["required"] for p in in_path)


def test_healthz_reports_redis_search_and_index(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"redis": True, "search_module": True, "index": True, "status": "ok",
                             "notifier": {"state": "absent", "retrying": []}}


def test_healthz_recreates_a_dropped_index(client, r: redis.Redis) -> None:
    r.execute_command("FT.DROPINDEX", "idx:images")
    assert client.get("/healthz").status_code == 200
    assert r.execute_command("FT._LIST") == [b"idx:images"]


@pytest.mark.parametrize("path", ["/api/stats", "/api/cameras", "/api/facets", "/api/chart",
                                  "/api/images"])
def test_api_answers_json(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "application/json"
