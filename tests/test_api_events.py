"""GET /api/events: Server-Sent Events from the images stream, resumable by stream id,
filtered by the list's own parameters, each image in the list's item shape."""

from __future__ import annotations

import json

import redis

from pi.contract import STREAM_KEY
from tests.factories import store_image

T0 = 1_700_000_000.0


def _events(response) -> list[dict]:
    """Parse a finished event stream into [{id, event, data}]."""
    out = []
    for block in response.get_data(as_text=True).split("\n\n"):
        fields: dict = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            name, _, value = line.partition(":")
            fields[name] = value.strip()
        if "event" in fields:
            fields["data"] = json.loads(fields["data"])
            out.append(fields)
    return out


def test_new_images_arrive_with_their_stream_ids(client, r: redis.Redis, app) -> None:
    start = client.get("/api/images").json["stream_id"]
    first = store_image(r, camera="cam", timestamp=T0, lux=42.0, trigger="motion", thumbnail=False)
    second = store_image(r, camera="cam", timestamp=T0 + 1, thumbnail=False)
    response = client.get(f"/api/events?stream_id={start}")
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    events = _events(response)
    assert events[0]["event"] == "hello"
    images = [e for e in events if e["event"] == "image"]
    assert [e["data"]["id"] for e in images] == [first, second]
    # Each event carries the picture exactly as the list shows it (one card function for both).
    listed = {item["id"]: item for item in client.get("/api/images").json["images"]}
    assert [e["data"] for e in images] == [listed[first], listed[second]]
    assert images[0]["data"]["camera"] == "cam" and images[0]["data"]["trigger"] == "motion"
    assert images[0]["data"]["timestamp"] == T0 and images[0]["data"]["lux"] == 42.0
    ids = [e[0].decode() for e in r.xrange(STREAM_KEY)]
    assert [e["id"] for e in images] == ids


def test_reconnect_with_last_event_id_misses_nothing(client, r: redis.Redis, app) -> None:
    ids = [store_image(r, camera="cam", timestamp=T0 + i, thumbnail=False) for i in range(4)]
    stream_ids = [e[0].decode() for e in r.xrange(STREAM_KEY)]
    response = client.get("/api/events?stream_id=0-0", headers={"Last-Event-ID": stream_ids[1]})
    got = [e["data"]["id"] for e in _events(response) if e["event"] == "image"]
    assert got == ids[2:]


def test_without_a_position_only_new_images_come(client, r: redis.Redis, app) -> None:
    store_image(r, camera="cam", timestamp=T0, thumbnail=False)
    response = client.get("/api/events")
    assert [e for e in _events(response) if e["event"] == "image"] == []


def test_a_trimmed_stream_asks_the_page_to_reload(client, r: redis.Redis, app) -> None:
    for i in range(5):
        store_image(r, camera="cam", timestamp=T0 + i, thumbnail=False)
    old = r.xrange(STREAM_KEY)[0][0].decode()
    r.xtrim(STREAM_KEY, maxlen=2, approximate=False)
    events = _events(client.get("/api/events", headers={"Last-Event-ID": old}))
    assert [e["event"] for e in events][:2] == ["hello", "reset"]


def test_bad_stream_position_is_a_400(client) -> None:
    response = client.get("/api/events?stream_id=yesterday")
    assert response.status_code == 400 and response.json["error"]["parameter"] == "stream_id"
    response = client.get("/api/events", headers={"Last-Event-ID": "x"})
    assert response.json["error"]["parameter"] == "Last-Event-ID"


def test_events_are_filtered_with_the_list_parameters(client, r: redis.Redis, app) -> None:
    start = client.get("/api/images").json["stream_id"]
    store_image(r, camera="cam", timestamp=T0, lux=5.0, thumbnail=False)
    bright = store_image(r, camera="cam", timestamp=T0 + 1, lux=500.0, thumbnail=False)
    store_image(r, camera="other", timestamp=T0 + 2, lux=900.0, thumbnail=False)
    response = client.get(f"/api/events?stream_id={start}&camera=cam&lux_min=100&since={T0 - 10}")
    got = [e["data"]["id"] for e in _events(response) if e["event"] == "image"]
    assert got == [bright]
    listed = client.get(f"/api/images?camera=cam&lux_min=100&since={T0 - 10}").json["images"]
    assert [item["id"] for item in listed] == got


def test_a_malformed_stream_entry_is_skipped_and_the_next_arrives(client, r: redis.Redis, app) -> None:
    start = client.get("/api/images").json["stream_id"]
    r.xadd(STREAM_KEY, {"id": "not a valid id!", "timestamp": "x"})
    good = store_image(r, camera="cam", timestamp=T0, thumbnail=False)
    got = [e["data"]["id"] for e in _events(client.get(f"/api/events?since={start}"))
           if e["event"] == "image"]
    assert got == [good]


def test_events_take_the_lists_filter(client, r: redis.Redis, app) -> None:
    start = client.get("/api/images").json["stream_id"]
    dim = store_image(r, camera="door", timestamp=T0, lux=5.0, trigger="motion", thumbnail=False)
    other_camera = store_image(r, camera="yard", timestamp=T0 + 1, lux=50.0, thumbnail=False)
    bright = store_image(r, camera="DOOR", timestamp=T0 + 2, lux=50.0, thumbnail=False)
    late = store_image(r, camera="door", timestamp=T0 + 9000, lux=50.0, thumbnail=False)
    query = f"camera=door&lux_min=10&until={T0 + 3600:.0f}"
    events = _events(client.get(f"/api/events?stream_id={start}&{query}"))
    images = [e["data"] for e in events if e["event"] == "image"]
    listed = client.get(f"/api/images?{query}&sort=oldest").json["images"]
    assert [item["id"] for item in images] == [bright] == [item["id"] for item in listed]
    assert images == listed
    # The others still move the stream position on, so a reconnect does not read them again.
    others = [e for e in events if e["event"] == "other"]
    assert [e["data"]["stream_id"] for e in others] == [e["id"] for e in others]
    assert len(others) == 3 and {dim, other_camera, late}.isdisjoint(e["data"].get("id") for e in others)


def test_an_image_gone_before_it_is_sent_is_not_announced(client, r: redis.Redis, app) -> None:
    start = client.get("/api/images").json["stream_id"]
    gone = store_image(r, camera="cam", timestamp=T0, thumbnail=False)
    kept = store_image(r, camera="cam", timestamp=T0 + 1, thumbnail=False)
    r.delete(f"image:{gone}")
    events = [e for e in _events(client.get(f"/api/events?stream_id={start}")) if e["event"] != "hello"]
    assert [(e["event"], e["data"].get("id")) for e in events] == [("other", None), ("image", kept)]


def test_a_bad_filter_is_a_400_naming_it(client) -> None:
    response = client.get("/api/events?lux_min=bright")
    assert response.status_code == 400 and response.json["error"]["parameter"] == "lux_min"
    assert "lux_min=10" in response.json["error"]["message"]
