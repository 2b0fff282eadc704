"""Every route's real answers match /api/openapi.json: successes and errors, every operation.

The document is generated from the same marshmallow schemas that shape the answers; this
checks the result from outside, as a generated client would see it.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator

from pi.contract import CameraStatus, ensure_index, save_heartbeat
from server import create_app
from server.core.openapi import document
from server.core.services import services
from server.timelapse.jobs import TimelapseJobs
from tests.factories import store_image
from tests.helpers import wait_until
from tests.retention_support import store_thumbnail_only

T0 = 1_750_000_000.0
CSRF = "test-csrf-token"


@pytest.fixture
def app(redis_url, tmp_path):
    tmp = tmp_path / "movies"
    tmp.mkdir()
    gallery = create_app({"TESTING": True, "REDIS_URL": redis_url, "GALLERY_PASSWORD": None,
                          "SECRET_KEY": "k", "GALLERY_SSE_SECONDS": 1, "TIMELAPSE_TMPDIR": str(tmp)})
    yield gallery
    jobs = services(gallery).peek(TimelapseJobs)
    if jobs is not None:
        jobs.wait(20)
    services(gallery).redis.close()


@pytest.fixture
def client(app):
    test_client = app.test_client()
    with test_client.session_transaction() as session:
        session["csrf"] = CSRF
    return test_client


def _template(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


class Checker:
    """Validates answers against the document and remembers which operations were seen."""

    def __init__(self, doc: dict[str, Any], app) -> None:
        self.doc = doc
        self.app = app
        self.seen: set[tuple[str, str]] = set()
        self.codes: set[tuple[str, str, int]] = set()

    def operation(self, method: str, url: str) -> tuple[str, dict[str, Any]]:
        adapter = self.app.url_map.bind("localhost")
        rule, _ = adapter.match(url.split("?")[0], method=method, return_rule=True)
        path = _template(rule.rule)
        return path, self.doc["paths"][path][method.lower()]

    def check(self, response, method: str, url: str) -> None:
        path, op = self.operation(method, url)
        status = str(response.status_code)
        assert status in op["responses"], f"{method} {path} answered {status}, not documented"
        documented = op["responses"][status]
        self.seen.add((path, method))
        self.codes.add((path, method, response.status_code))
        content = documented.get("content")
        if not content:
            return
        assert response.mimetype in content, (method, path, response.mimetype, list(content))
        schema = content[response.mimetype].get("schema")
        if response.mimetype == "application/json" and schema:
            root = {"components": self.doc["components"], "allOf": [schema]}
            OAS31Validator(root).validate(response.get_json())


def test_every_route_answers_as_documented(app, client, r) -> None:
    ensure_index(r)
    ids = [store_image(r, camera="cam", timestamp=T0 + i, lux=30.0 + 40 * i) for i in range(6)]
    save_heartbeat(r, CameraStatus(camera="cam", host="pi", started_at=T0, triggers="interval"), 60)
    doc = client.get("/api/openapi.json").get_json()
    check = Checker(doc, app)
    csrf = {"X-CSRF-Token": CSRF}

    def call(method: str, url: str, **kwargs: Any):
        response = client.open(url, method=method, **kwargs)
        check.check(response, method, url)
        return response

    first = call("GET", "/api/images?limit=2")
    call("GET", f"/api/images?limit=2&cursor={first.get_json()['next_cursor']}&camera=cam")
    call("GET", "/api/images?limit=0")
    call("GET", f"/api/images/{ids[0]}")
    call("GET", "/api/images/cam:1-ab12")
    call("GET", f"/api/images/{ids[0]}/image?download=1")
    call("GET", f"/api/images/{ids[0]}/thumbnail")
    gone = store_thumbnail_only(r, camera="cam", timestamp=T0 - 100)
    call("GET", f"/api/images/{gone}")
    call("GET", f"/api/images/{gone}/image")  # 410: only the thumbnail is left
    call("GET", f"/api/images/{gone}/thumbnail?download=1")
    call("GET", "/api/images?full_size=0")
    call("GET", "/api/images?full_size=maybe")
    call("GET", f"/api/images/{ids[0]}/thumbnail?w=240")
    call("GET", f"/api/images/{ids[0]}/thumbnail?w=7")
    call("GET", f"/api/images/{ids[2]}/neighbors?sort=brightest")
    call("GET", f"/api/images/{ids[2]}/neighbors?sort=sideways")
    call("POST", f"/api/images/{ids[1]}/keep", headers=csrf)
    call("POST", f"/api/images/{ids[1]}/keep")
    call("POST", f"/api/images/{ids[1]}/expire", json={"expires_at": time.time() + 60}, headers=csrf)
    call("POST", f"/api/images/{ids[1]}/expire", json={"expires_at": "soon"}, headers=csrf)
    call("DELETE", f"/api/images/{ids[5]}", headers=csrf)
    call("DELETE", f"/api/images/{ids[5]}", headers=csrf)
    call("GET", "/api/stats")
    call("GET", "/api/retention")
    call("POST", "/api/retention/budgets", json={"total": "64mb", "cameras": {"cam": "8mb"}}, headers=csrf)
    call("POST", "/api/retention/budgets", json={"total": "lots"}, headers=csrf)
    call("GET", "/api/notify")
    call("GET", "/api/cameras")
    call("GET", "/api/facets")
    call("GET", "/api/chart?buckets=10")
    call("GET", "/api/chart?buckets=1")
    call("GET", "/api/events?lux_min=bright")
    events = call("GET", f"/api/events?since={first.get_json()['stream_id']}")
    call("GET", "/api/openapi.json")
    call("GET", "/healthz")
    r.hset("notify:status", mapping={"updated_at": f"{time.time() - 600:.3f}", "targets": "hook"})
    r.hset("notify:target:hook", mapping={"kind": "webhook", "state": "retrying", "last_error": "refused"})
    assert call("GET", "/healthz").get_json()["status"] == "degraded"
    assert call("GET", "/api/notify").get_json()["targets"][0]["last_error"] == "refused"
    call("GET", "/api/live")
    call("GET", "/api/live?watch=2")
    call("GET", "/api/live/cam")
    call("GET", "/api/live/nobody")
    call("POST", "/api/images/bulk/keep", json={"ids": ids[2:4]}, headers=csrf)
    call("POST", "/api/images/bulk/expire", json={"items": [{"id": ids[2], "expires_at": T0}]}, headers=csrf)
    call("POST", "/api/images/bulk/expire", json={"items": "soon"}, headers=csrf)
    call("POST", "/api/images/bulk/delete", json={"ids": [ids[4]]}, headers=csrf)
    call("POST", "/api/images/bulk/delete", json={"ids": 4}, headers=csrf)
    call("GET", "/api/archive/plan?camera=cam&part_mb=1")
    call("GET", "/api/archive/plan?part_mb=0")
    call("GET", f"/api/archive?ids={ids[0]},{ids[1]}")
    call("GET", "/api/archive?camera=cam&count=2")
    call("GET", "/api/archive?count=x")
    call("GET", "/api/timeline?camera=cam")
    call("GET", "/api/bursts?camera=cam")
    call("GET", "/api/bursts?gap=0")
    call("POST", "/api/bursts/review", json={"ids": [ids[0]]}, headers=csrf)
    call("POST", "/api/bursts/review", json={"ids": []}, headers=csrf)
    call("GET", "/api/timeline?until=later")

    # The event stream's pictures have the list item's documented shape.
    item_schema = {"components": doc["components"], "$ref": "#/components/schemas/ImageItem"}
    store_image(r, camera="cam", timestamp=T0 + 10)
    body = client.get(f"/api/events?since={first.get_json()['stream_id']}").get_data(as_text=True)
    data = [json.loads(line[6:]) for block in body.split("\n\n") if "event: image" in block
            for line in block.splitlines() if line.startswith("data: ")]
    assert data, events.get_data(as_text=True)
    for item in data:
        OAS31Validator(item_schema).validate(item)

    # Time-lapse: start, busy, follow, movie, cancel, and the errors.
    body = {"since": T0 - 10, "until": T0 + 20, "camera": "cam", "fps": 5, "size": "320x180"}
    started = call("POST", "/api/timelapse", json=body, headers=csrf)
    job = started.get_json()["job_id"]
    call("POST", "/api/timelapse", json=body, headers=csrf)  # 409: one at a time
    call("POST", "/api/timelapse", json={**body, "skip_dark": 3}, headers=csrf)
    call("GET", "/api/timelapse/current")
    assert wait_until(lambda: client.get(f"/api/timelapse/{job}").get_json()["status"] == "done", 60)
    call("GET", f"/api/timelapse/{job}")
    call("GET", f"/api/timelapse/{job}/movie.mp4")
    call("GET", f"/api/timelapse/{job}/movie.mp4", headers={"Range": "bytes=0-99"})
    call("GET", "/api/timelapse/0123456789abcdef/movie.mp4")
    call("POST", f"/api/timelapse/{job}/cancel", headers=csrf)
    call("DELETE", f"/api/timelapse/{job}", headers=csrf)
    call("GET", f"/api/timelapse/{job}")

    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    assert check.seen == documented, f"not exercised: {documented - check.seen}"
    statuses = {code for *_, code in check.codes}
    assert {200, 202, 206, 400, 403, 404, 409, 410} <= statuses


def test_login_and_redis_errors_answer_as_documented(redis_url, redis_factory) -> None:
    locked = create_app({"TESTING": True, "REDIS_URL": redis_url, "GALLERY_PASSWORD": "pw",
                         "SECRET_KEY": "k"})
    check = Checker(document(locked), locked)
    client = locked.test_client()
    for url in ("/api/images", "/api/stats", "/api/timelapse/current", "/api/live"):
        response = client.get(url)
        assert response.status_code == 401
        check.check(response, "GET", url)
    services(locked).redis.close()

    dead = redis_factory()
    dead.stop()
    down = create_app({"TESTING": True, "REDIS_URL": dead.url, "SECRET_KEY": "k", "REDIS_TIMEOUT": 0.5})
    client = down.test_client()
    for url in ("/api/images", "/api/stats", "/api/cameras", "/healthz"):
        response = client.get(url)
        assert response.status_code == 503, url
        check.check(response, "GET", url)
    services(down).redis.close()
