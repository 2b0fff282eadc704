"""Anything another writer (redis-cli, a buggy daemon) puts under `image:` is input.

Each hostile case from the security review is written straight into the real Redis, beside
a few good pictures; then every route of the gallery is walked. Whatever the bad value, no
route answers a 5xx, every JSON body is real JSON (no Infinity or NaN), a key of the wrong
type is a 404, and the good pictures are still listed for everyone.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pi.contract import ensure_index, image_key, stream_entry
from tests.factories import make_jpeg, store_image
from tests.helpers import wait_until

SORTS = ("newest", "oldest", "brightest", "darkest")
NOW = time.time()


def strict_json(body: bytes | str):
    """Parse JSON as a browser's JSON.parse does: Infinity and NaN are errors."""
    def refuse(name: str):
        raise AssertionError(f"the body holds {name}, which is not JSON: {body[:300]!r}")
    return json.loads(body, parse_constant=refuse)


@cache
def png_bomb(side: int = 10_000) -> bytes:
    """A small PNG that decodes to side x side RGB pixels (300 MB for 10000), built row by row."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    squeeze = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * (side * 3)
    parts = [squeeze.compress(row) for _ in range(side)]
    parts.append(squeeze.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts))
            + chunk(b"IEND", b""))


def good_fields(camera: str = "door", **overrides) -> dict:
    fields = {"timestamp": f"{NOW - 60:.3f}", "camera": camera, "trigger": "interval",
              "mime_type": "image/jpeg", "lux": "12", "width": "320", "height": "180",
              "size_bytes": "2000", "exposure_time": "10000", "analogue_gain": "1.5",
              "colour_temperature": "5200", "lens_position": "1.0",
              "image_data": make_jpeg(320, 180, label="hostile"), "thumbnail": make_jpeg(160, 90)}
    fields.update(overrides)
    return fields


#: name -> fields of an `image:bad:<name>` hash, each a case from the review (issue 15).
HOSTILE_HASHES = {
    "ts-ms": {"timestamp": "1795960000000"},
    "ts-1e20": {"timestamp": "1e20"},
    "ts-inf": {"timestamp": "inf"},
    "ts-nan": {"timestamp": "nan"},
    "ts-neg": {"timestamp": "-1e12"},
    "ts-year1": {"timestamp": "-62135596800"},
    "ts-1e300": {"timestamp": "1e300"},
    "ts-text": {"timestamp": "abc"},
    "ts-missing": {"timestamp": None},
    **{f"{name.replace('_', '-')}-inf": {name: "inf"}
       for name in ("size_bytes", "width", "height", "exposure_time", "colour_temperature",
                    "lux", "analogue_gain", "lens_position")},
    "lux-neg-inf": {"lux": "-inf"},
    "lux-nan": {"lux": "nan"},
    "lux-huge": {"lux": "1e308"},
    "camera-underscore": {"camera": "_"},
    "trigger-underscore": {"trigger": "_"},
    "camera-punct": {"camera": "a,.<>{}[]\"':;!@#$%^&*()-+=~|/\\ b"},
    "camera-crlf": {"camera": "door\r\nSet-Cookie: stolen=1"},
    "camera-1mb": {"camera": "x" * 1_000_000},
    "camera-binary": {"camera": b"\xff\xfe\x00door"},
    "trigger-1mb": {"trigger": "y" * 1_000_000},
    "mime-odd": {"mime_type": "text/html"},
    "no-image-data": {"image_data": None},
    "garbage-image-data": {"image_data": b"not a picture at all", "thumbnail": None},
    "bomb": {"image_data": "BOMB", "thumbnail": None, "mime_type": "image/png"},
    "bomb-thumbnail": {"thumbnail": "BOMB"},
}


def write_hostile_hash(r, name: str) -> str:
    """Write one hostile case (with a stream entry, as a daemon would); return its id."""
    fields = good_fields()
    for key, value in HOSTILE_HASHES[name].items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = png_bomb() if value == "BOMB" else value
    image_id = f"bad:{name}"
    r.hset(image_key(image_id), mapping=fields)
    r.expire(image_key(image_id), 3600)
    r.xadd("images:new", {"id": image_id, "camera": str(fields.get("camera", ""))[:100],
                          "timestamp": str(fields.get("timestamp", "")),
                          "trigger": str(fields.get("trigger", ""))[:100], "lux": str(fields.get("lux"))})
    return image_id


#: name -> writes a key of another type under image: ; each must be a 404, not a 502.
WRONG_TYPES = {
    "string": lambda r, k: r.set(k, "just a string"),
    "list": lambda r, k: r.rpush(k, "a", "b"),
    "set": lambda r, k: r.sadd(k, "a"),
    "zset": lambda r, k: r.zadd(k, {"a": 1.0}),
    "stream": lambda r, k: r.xadd(k, {"timestamp": "1795960000"}),
}


def store_good(r) -> list[str]:
    ensure_index(r)
    return [store_image(r, camera="door", timestamp=NOW - 5 - i, lux=10 + i) for i in range(3)]


def wait_indexed(r, count: int) -> None:
    wait_until(lambda: int(r.execute_command("FT.SEARCH", "idx:images", "*", "LIMIT", "0", "0")[0])
               >= count, timeout=5)


def ok_json(client, url: str, *, allowed=(200,)):
    response = client.get(url)
    assert response.status_code < 500, f"{url} -> {response.status_code}: {response.data[:400]!r}"
    assert response.status_code in allowed, f"{url} -> {response.status_code}: {response.data[:400]!r}"
    return strict_json(response.data)


def read_events(client, after: str = "0-1") -> list[dict]:
    """Read one (short) event stream from the start; return every event's data."""
    response = client.get("/api/events", headers={"Last-Event-ID": after})
    assert response.status_code == 200, response.data[:300]
    body = response.get_data(as_text=True)
    return [strict_json(line[5:]) for line in body.splitlines() if line.startswith("data:")]


def walk_every_route(client, good: list[str], hostile: list[str]) -> None:
    """GET every route a user's page calls; assert no 5xx, real JSON, the good pictures listed."""
    for sort in SORTS:
        for extra in ("", "&camera=door", "&trigger=interval"):
            data = ok_json(client, f"/api/images?sort={sort}{extra}&limit=100")
            listed = [item["id"] for item in data["images"]]
            assert set(good) <= set(listed), f"sort={sort}{extra}: good pictures missing: {listed}"
    for image_id in good[:1] + hostile:
        for url in (f"/api/images/{image_id}", f"/api/images/{image_id}/neighbors"):
            ok_json(client, url, allowed=(200, 404))
        for url in (f"/api/images/{image_id}/image", f"/api/images/{image_id}/image?download=1",
                    f"/api/images/{image_id}/thumbnail"):
            response = client.get(url)
            assert response.status_code < 500, f"{url} -> {response.status_code}"
            for header, value in response.headers.items():
                assert "\r" not in value and "\n" not in value and len(value) < 2048, (url, header)
            if response.status_code != 200:
                strict_json(response.data)
    for url in ("/api/chart", "/api/chart?camera=door", "/api/stats", "/api/cameras", "/api/facets",
                "/api/live"):
        ok_json(client, url, allowed=(200, 400))
    for event in read_events(client):
        assert isinstance(event, dict)


@pytest.mark.parametrize("name", sorted(HOSTILE_HASHES))
def test_one_hostile_hash_breaks_no_route(client, r, name) -> None:
    good = store_good(r)
    bad = write_hostile_hash(r, name)
    wait_indexed(r, 3)
    walk_every_route(client, good, [bad])


@pytest.mark.parametrize("kind", sorted(WRONG_TYPES))
def test_a_key_of_another_type_under_image_is_a_404(client, r, kind) -> None:
    good = store_good(r)
    WRONG_TYPES[kind](r, image_key(f"bad:{kind}"))
    wait_indexed(r, 3)
    for url in (f"/api/images/bad:{kind}", f"/api/images/bad:{kind}/image",
                f"/api/images/bad:{kind}/thumbnail", f"/api/images/bad:{kind}/neighbors"):
        response = client.get(url)
        assert response.status_code == 404, f"{url} -> {response.status_code}: {response.data[:300]!r}"
        assert strict_json(response.data)["error"]
    walk_every_route(client, good, [f"bad:{kind}"])


def test_every_hostile_case_at_once_leaves_the_list_working(client, r) -> None:
    good = store_good(r)
    hostile = [write_hostile_hash(r, name) for name in sorted(HOSTILE_HASHES)]
    for kind, write in WRONG_TYPES.items():
        write(r, image_key(f"bad:{kind}"))
    wait_indexed(r, 3)
    walk_every_route(client, good, hostile)
    # A time-lapse over all of them: made from what can be decoded, the rest skipped.
    started = client.post("/api/timelapse", json={"since": "-2h", "until": "now", "fps": 5,
                                                  "size": "320x180"}, headers=client.csrf_headers)
    assert started.status_code == 202, started.data[:300]
    status_url = strict_json(started.data)["status_url"]

    def finished():
        state = ok_json(client, status_url)
        return state if state["status"] in ("done", "failed", "cancelled") else None
    state = wait_until(finished, timeout=60, interval=0.2)
    assert state["status"] == "done" and state["frames"] >= len(good), state
    assert state["skipped_unreadable"] >= 2, state  # the bomb and the garbage at least


#: Run in a fresh process, so its peak memory is the gallery's alone: ask for the
#: bomb's thumbnail, or make a time-lapse over it; print the request's answer and the MB it took.
MEASURE = r"""
import json, resource, sys, time
from server import create_app
url, what, tmp = sys.argv[1:4]
app = create_app({"TESTING": True, "REDIS_URL": url, "GALLERY_PASSWORD": None,
                  "SECRET_KEY": "k", "TIMELAPSE_TMPDIR": tmp})
client = app.test_client()
with client.session_transaction() as session:
    session["csrf"] = "t"
client.get("/api/images")  # warm up: imports, connections
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if what == "thumbnail":
    status = client.get("/api/images/bad:bomb/thumbnail").status_code
else:
    answer = client.post("/api/timelapse", json={"since": "-2h", "until": "now", "fps": 5,
                         "size": "320x180"}, headers={"X-CSRF-Token": "t"})
    status = answer.get_json()
    for _ in range(600):
        status = client.get(answer.get_json()["status_url"]).get_json()
        if status["status"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.1)
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps({"answer": status, "grown_mb": grown}))
"""


def measure_gallery(redis_url: str, what: str, tmp_path) -> dict:
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", MEASURE, redis_url, what, str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_decompression_bomb_is_not_decoded_for_a_thumbnail(redis_url, r, tmp_path) -> None:
    write_hostile_hash(r, "bomb")
    assert len(png_bomb()) < 400_000  # a small upload...
    result = measure_gallery(redis_url, "thumbnail", tmp_path)
    assert result["answer"] < 500
    assert result["grown_mb"] < 100, f"one thumbnail of a 10000x10000 PNG took {result}"  # ...not 300 MB


def test_a_time_lapse_over_a_decompression_bomb_skips_it(redis_url, r, tmp_path) -> None:
    store_good(r)
    write_hostile_hash(r, "bomb")
    write_hostile_hash(r, "garbage-image-data")
    wait_indexed(r, 5)
    result = measure_gallery(redis_url, "timelapse", tmp_path)
    assert result["answer"]["status"] == "done", result
    assert result["grown_mb"] < 150, f"the time-lapse decoded the bomb: {result}"


def test_hostile_stream_entries_give_valid_events(client, r) -> None:
    good = store_good(r)
    bad = write_hostile_hash(r, "ts-inf")
    r.xadd("images:new", {"id": "\r\n", "timestamp": "inf", "lux": "nan"})
    r.xadd("images:new", {"garbage": "x" * 10_000})
    r.xadd("images:new", stream_entry(good[0], __import__("pi.contract", fromlist=["ImageRecord"])
                                      .ImageRecord.from_hash(r.hgetall(image_key(good[0])))))
    events = read_events(client)
    assert all("Infinity" not in json.dumps(e) for e in events)
    assert bad  # the hash of the entry is hostile; the stream still answers with JSON


@pytest.mark.browser
@pytest.mark.skipif(not __import__("tests.conftest", fromlist=["x"]).chromium_available(),
                    reason="/usr/bin/chromium is not installed")
def test_the_page_lists_the_good_pictures_beside_every_hostile_case(gallery, page, r, artifacts_dir) -> None:
    good = store_good(r)
    for name in sorted(HOSTILE_HASHES):
        if name not in ("camera-1mb", "trigger-1mb"):  # one page, every other case at once
            write_hostile_hash(r, name)
    for kind, write in WRONG_TYPES.items():
        write(r, image_key(f"bad:{kind}"))
    wait_indexed(r, 3)
    import urllib.request

    for sort in SORTS:
        with urllib.request.urlopen(f"{gallery.url}/api/images?sort={sort}&limit=12") as answer:
            listed = [item["id"] for item in strict_json(answer.read())["images"]]
        page.goto(f"{gallery.url}/?sort={sort}")
        page.wait_for_selector(".image-card", timeout=10_000)
        shown = page.eval_on_selector_all(".image-card", "cards => cards.map(c => c.dataset.id)")
        assert listed and shown[:len(listed)] == listed, (sort, shown, listed)  # same pictures, same order
        assert page.locator(".image-card").first.is_visible()
        if sort == "newest":
            assert shown[:3] == good, shown  # the good pictures, newest, lead the page
    # The chart and the camera bar are drawn over the plausible times only: a timestamp of
    # 1e20 stretches neither to the year 58000. (They sit in the folded "Cameras & light" panel.)
    page.click("#overview-toggle")
    page.wait_for_selector("#chart .chart-hit", timeout=10_000)
    assert "unavailable" not in page.locator("#chart").inner_text()
    assert "months" not in page.locator("body").inner_text()
    from tests.browser import PHONE, screenshot

    page.goto(f"{gallery.url}/?sort=newest")
    page.wait_for_selector(".image-card", timeout=10_000)
    screenshot(page, artifacts_dir / "hostile-hashes.png", {"width": 1440, "height": 900})
    screenshot(page, artifacts_dir / "hostile-hashes-phone.png", PHONE)
    assert page.locator(f'.image-card[data-id="{good[0]}"]').is_visible()


# --- Generated hashes ------------------------------------------------------------------------

_NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["inf", "-inf", "nan", "1e308", "1e309", "-0", "0x10", "1_000", "\u00b2", " 12 ", ""]),
)
_TEXT = st.text(max_size=40) | st.sampled_from(["_", "-", "a,b", "{x}", "\r\n", "@camera:{x}", "*"])
_FIELD_VALUES = {
    "timestamp": _NUMBER_TEXT | st.just(f"{NOW - 30:.3f}"),
    "lux": _NUMBER_TEXT, "width": _NUMBER_TEXT, "height": _NUMBER_TEXT, "size_bytes": _NUMBER_TEXT,
    "exposure_time": _NUMBER_TEXT, "analogue_gain": _NUMBER_TEXT, "colour_temperature": _NUMBER_TEXT,
    "lens_position": _NUMBER_TEXT, "camera": _TEXT, "trigger": _TEXT, "mime_type": _TEXT,
    "image_data": st.binary(max_size=64) | st.just(b"\xff\xd8\xff"),
}
HASHES = st.fixed_dictionaries({}, optional=_FIELD_VALUES).filter(bool)


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(fields=HASHES)
def test_any_hash_a_writer_can_store_breaks_no_route(client, r, fields) -> None:
    ensure_index(r)
    for key in r.scan_iter("image:gen:*"):
        r.delete(key)
    r.hset(image_key("gen:1"), mapping=fields)
    for url in ("/api/images", "/api/images?sort=brightest", "/api/images?sort=oldest",
                "/api/images/gen:1", "/api/images/gen:1/neighbors", "/api/stats", "/api/cameras",
                "/api/facets", "/api/chart"):
        ok_json(client, url, allowed=(200, 404))
    for url in ("/api/images/gen:1/image?download=1", "/api/images/gen:1/thumbnail"):
        response = client.get(url)
        assert response.status_code < 500, (url, fields)
        assert all("\n" not in v and len(v) < 2048 for v in response.headers.values())


# --- Camera heartbeats and the registry ----------------------------------------------------

#: name -> writes a hostile camera registry or heartbeat; the camera bar, facets and live
#: status must still answer.
HOSTILE_CAMERAS = {
    "heartbeat-garbage": lambda r: (r.zadd("cameras", {"door": time.time()}), r.hset("camera:door", mapping={
        "started_at": "inf", "last_capture": "1e300", "host": "\r\n" * 500, "triggers": "x," * 50_000,
        "last_id": "../../etc", "interval": "nan"})),
    "heartbeat-wrong-type": lambda r: (r.zadd("cameras", {"door": time.time()}),
                                       r.set("camera:door", "not a hash")),
    "registry-wrong-type": lambda r: r.set("cameras", "not a sorted set"),
    "registry-odd-names": lambda r: r.zadd("cameras", {"_": time.time(), "a b": time.time(),
                                                       "x" * 10_000: time.time(), "\r\n": time.time()}),
    "registry-odd-scores": lambda r: r.zadd("cameras", {"door": float("inf"), "yard": -1e300}),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_CAMERAS))
def test_a_hostile_camera_registry_breaks_no_route(client, r, name) -> None:
    good = store_good(r)
    HOSTILE_CAMERAS[name](r)
    wait_indexed(r, 3)
    walk_every_route(client, good, [])
    for url in ("/api/live", "/api/live/door", "/api/live/_"):
        ok_json(client, url, allowed=(200, 404))


def test_a_stream_key_of_another_type_leaves_the_list_and_events_working(client, r) -> None:
    good = store_good(r)
    r.delete("images:new")
    r.set("images:new", "not a stream")
    wait_indexed(r, 3)
    data = ok_json(client, "/api/images?limit=100")
    assert set(good) <= {item["id"] for item in data["images"]}
    # Live updates can't work until the key is fixed: a 503 that says how, like Redis down.
    response = client.get("/api/events")
    assert response.status_code == 503, response.data[:300]
    assert "DEL images:new" in strict_json(response.data)["error"]["message"]


def test_a_time_lapse_job_key_of_another_type_or_with_garbage_is_answered(client, r) -> None:
    r.set("timelapse:0123456789abcdef", "not a hash")
    r.hset("timelapse:fedcba9876543210", mapping={"status": "done", "frames": "inf", "created_at": "nan",
                                                  "total": "-1e300", "params": "{not json"})
    for job in ("0123456789abcdef", "fedcba9876543210"):
        for url in (f"/api/timelapse/{job}", f"/api/timelapse/{job}/movie.mp4"):
            response = client.get(url)
            assert response.status_code < 500, (url, response.data[:300])
            if response.mimetype == "application/json":
                strict_json(response.data)
    ok_json(client, "/api/timelapse/current")
