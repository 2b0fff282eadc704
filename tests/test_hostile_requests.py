"""Odd requests get a clear 4xx naming the problem, never a 5xx or a traceback.

The review's M1 (tag values RediSearch reads as syntax) and its Low items: overflowing and
odd numbers, CR/LF in redirects, deep JSON, event ids above 2^64, TRACE and 405s.
"""

from __future__ import annotations

import json
import string
import time

import pytest

from pi.contract import ensure_index, image_key
from tests.factories import make_jpeg, store_image
from tests.helpers import wait_until
from tests.test_hostile_redis import strict_json


def put_camera(r, image_id: str, camera: str, trigger: str = "interval", ts: float | None = None) -> None:
    """Write a picture as redis-cli could, with any camera and trigger text."""
    r.hset(image_key(image_id), mapping={
        "timestamp": f"{(ts or time.time() - 60):.3f}", "camera": camera, "trigger": trigger,
        "mime_type": "image/jpeg", "lux": "10", "image_data": make_jpeg(64, 36)})


def indexed(r, count: int) -> None:
    wait_until(lambda: int(r.execute_command("FT.SEARCH", "idx:images", "*", "LIMIT", "0", "0")[0])
               >= count, timeout=5)


# --- M1: tag values are escaped by RediSearch's rules -----------------------------------------


@pytest.mark.parametrize("camera", ["_", "-", "__", "_-_", "a_", "-a", "x-_-y"])
def test_camera_and_trigger_names_made_of_punctuation_filter_every_route(client, r, camera) -> None:
    ensure_index(r)
    other = store_image(r, camera="door")
    put_camera(r, "p:1", camera, trigger=camera)
    indexed(r, 2)
    for url in (f"/api/images?camera={camera}", f"/api/images?trigger={camera}",
                f"/api/images?camera={camera}&trigger={camera}&sort=brightest"):
        response = client.get(url)
        assert response.status_code == 200, (url, response.data[:300])
        assert [i["id"] for i in strict_json(response.data)["images"]] == ["p:1"], url
    for url in (f"/api/chart?camera={camera}", f"/api/images/p:1/neighbors?camera={camera}",
                f"/api/images/{other}/neighbors?trigger={camera}", "/api/cameras", "/api/facets",
                "/api/stats"):
        response = client.get(url)
        assert response.status_code == 200, (url, response.data[:300])
    assert camera in json.dumps(strict_json(client.get("/api/facets").data))


def test_every_ascii_punctuation_character_in_a_tag_matches_only_itself(r) -> None:
    """The query kit's escaping, against the real search module, for every punctuation mark."""
    from server.search import escape_tag

    ensure_index(r)
    written = {}
    for i, mark in enumerate(string.punctuation):
        for j, value in enumerate((mark, f"a{mark}b", f"{mark}{mark}z")):
            put_camera(r, f"p:{i}-{j}", value)
            written[f"p:{i}-{j}"] = value
    indexed(r, len(written))
    for image_id, value in written.items():
        query = f"@camera:{{{escape_tag(value)}}}"
        found = r.execute_command("FT.SEARCH", "idx:images", query, "NOCONTENT", "DIALECT", 2)
        ids = sorted(x.decode() for x in found[1:])
        if "," in value:  # the TAG separator: "a,b" is stored as the two tags a and b
            continue
        assert ids == [image_key(image_id)], f"camera {value!r}: {query} found {ids}"


def test_a_camera_named_underscore_leaves_the_cameras_and_facets_working(client, r) -> None:
    ensure_index(r)
    store_image(r, camera="door")
    put_camera(r, "_:1", "_")
    indexed(r, 2)
    for url in ("/api/cameras", "/api/facets", "/api/stats"):
        response = client.get(url)
        assert response.status_code == 200, (url, response.data[:300])
        strict_json(response.data)


# --- Low: odd numbers --------------------------------------------------------------------


def test_an_expiry_beyond_any_date_is_a_400_naming_expires_at(client, r) -> None:
    ensure_index(r)
    image_id = store_image(r)
    for value in (2.1e16, 1e300, 4102444801):
        response = client.post(f"/api/images/{image_id}/expire", json={"expires_at": value},
                               headers=client.csrf_headers)
        assert response.status_code == 400, (value, response.data[:300])
        assert strict_json(response.data)["error"]["parameter"] == "expires_at"


@pytest.mark.parametrize("url, parameter", [
    ("/api/images?limit=\u00b2", "limit"), ("/api/images?limit=\u0661\u0662", "limit"),
    ("/api/chart?buckets=\u00b2", "buckets"), ("/api/chart?buckets=\uff11\uff12", "buckets"),
])
def test_unicode_digits_are_a_400_naming_the_parameter(client, r, url, parameter) -> None:
    response = client.get(url)
    assert response.status_code == 400, response.data[:300]
    assert strict_json(response.data)["error"]["parameter"] == parameter


@pytest.mark.parametrize("since", [1e300, -62135596800, "0001-01-01T00:00:00", "1e300"])
def test_a_time_lapse_from_an_impossible_time_is_a_400_naming_since(client, r, since) -> None:
    response = client.post("/api/timelapse", json={"since": since, "until": "now"},
                           headers=client.csrf_headers)
    assert response.status_code == 400, response.data[:300]
    assert strict_json(response.data)["error"]["parameter"] == "since"


def test_deeply_nested_json_is_a_400(client, r) -> None:
    ensure_index(r)
    image_id = store_image(r)
    deep = "[" * 100_000 + "]" * 100_000
    for url in (f"/api/images/{image_id}/expire", "/api/timelapse"):
        response = client.post(url, data=deep, content_type="application/json",
                               headers=client.csrf_headers)
        assert response.status_code == 400, (url, response.status_code, response.data[:300])
        strict_json(response.data)


# --- Low: HTTP ------------------------------------------------------------------------------


def test_trace_is_a_405_with_an_allow_header(client) -> None:
    for method, url in (("TRACE", "/"), ("TRACE", "/api/images"), ("PUT", "/api/images"),
                        ("DELETE", "/api/stats"), ("POST", "/healthz")):
        response = client.open(url, method=method, headers=client.csrf_headers)
        assert response.status_code == 405, (method, url, response.status_code)
        assert "GET" in response.headers.get("Allow", ""), (method, url, dict(response.headers))


@pytest.mark.parametrize("value", ["18446744073709551616-0", "1-18446744073709551616",
                                   "99999999999999999999-99999999999999999999"])
def test_event_ids_above_2_64_are_a_400_naming_them(client, r, value) -> None:
    for response in (client.get("/api/events", headers={"Last-Event-ID": value}),):
        assert response.status_code == 400, response.data[:300]
        body = strict_json(response.data)["error"]
        assert body["parameter"] == "Last-Event-ID"


@pytest.mark.parametrize("stamp", ["1795964794.296", "1795964794.996", "1795964794.3"])
def test_a_millisecond_time_that_prints_rounded_still_ends_the_page(client, r, stamp) -> None:
    """RediSearch prints 1795964794.296 as 1795964794.3; the cursor must use the exact time."""
    ensure_index(r)
    store_image(r, camera="door", lux=100)
    r.hset(image_key("p:1"), mapping={"timestamp": stamp, "camera": "yard", "lux": "10",
                                      "image_data": make_jpeg(64, 36)})
    indexed(r, 2)
    for sort in ("brightest", "darkest", "newest", "oldest"):
        response = client.get(f"/api/images?camera=yard&sort={sort}")
        assert response.status_code == 200, (sort, response.data[:300])
        assert [i["id"] for i in strict_json(response.data)["images"]] == ["p:1"]
