"""Redis stopped, missing its search module, or losing the index: a clear 503, then recovery."""

from __future__ import annotations

import pytest

from server import create_app
from server.tooling.embedded_redis import free_port
from tests.factories import store_image


def _app(url: str):
    return create_app({"TESTING": True, "REDIS_URL": url, "GALLERY_PASSWORD": None,
                       "SECRET_KEY": "k", "REDIS_TIMEOUT": 1.0})


def _assert_friendly_503(response, code: str, words: str) -> None:
    assert response.status_code == 503
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
    if response.mimetype == "application/json":
        assert response.json["error"]["code"] == code
        assert words in response.json["error"]["message"]
    else:
        assert response.mimetype == "text/html" and words in text
        assert "Try again" in text


def test_redis_stopped_mid_test_then_back_without_restart(redis_factory, caplog) -> None:
    srv = redis_factory()
    app = _app(srv.url)
    client = app.test_client()
    store_image(srv.client(), camera="cam", timestamp=1_700_000_000, thumbnail=False)
    assert client.get("/api/images").status_code == 200

    srv.stop()
    _assert_friendly_503(client.get("/api/images"), "redis_unavailable", "cannot reach Redis")
    _assert_friendly_503(client.get("/api/stats"), "redis_unavailable", "cannot reach Redis")
    _assert_friendly_503(client.get("/"), "redis_unavailable", "cannot reach Redis")
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json["redis"] is False
    assert "Redis" in health.json["message"]

    restarted = redis_factory(port=srv.port, data_dir=srv.data_dir)
    body = client.get("/api/images").json
    assert len(body["images"]) == 1
    assert client.get("/").status_code == 200
    assert client.get("/healthz").status_code == 200
    restarted.stop()
    assert "Traceback" not in caplog.text


def test_gallery_starts_with_redis_down_and_creates_the_index_later(redis_factory) -> None:
    port = free_port()
    app = _app(f"redis://127.0.0.1:{port}")
    client = app.test_client()
    _assert_friendly_503(client.get("/"), "redis_unavailable", "cannot reach Redis")
    srv = redis_factory(port=port)
    assert client.get("/").status_code == 200
    assert srv.client().execute_command("FT._LIST") == [b"idx:images"]


def test_redis_without_search_module_explains_the_fix(redis_factory) -> None:
    srv = redis_factory(with_search=False)
    client = _app(srv.url).test_client()
    _assert_friendly_503(client.get("/api/images"), "search_module_missing", "no search module")
    _assert_friendly_503(client.get("/"), "search_module_missing", "docker compose up -d")
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json["redis"] is True and health.json["search_module"] is False


def test_lost_index_is_recreated_on_the_next_request(client, r) -> None:
    pipe = r.pipeline(transaction=False)
    for i in range(3000):
        pipe.hset(f"image:cam:{1_700_000_000_000 + i}-0000",
                  mapping={"timestamp": str(1_700_000_000 + i / 1000), "lux": "1"})
    pipe.execute()
    r.execute_command("FT.DROPINDEX", "idx:images")
    body = client.get("/api/images?limit=3").json
    # The new index takes in every stored hash before the answer.
    assert body["count"]["total"] == 3000
    assert [i["id"] for i in body["images"]][0] == "cam:1700000002999-0000"


def test_unknown_pages_are_friendly_404s(client) -> None:
    page = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "Traceback" not in page.get_data(as_text=True)
    assert "Back to the gallery" in page.get_data(as_text=True)
    api = client.get("/api/nothing")
    assert api.status_code == 404 and api.json["error"]["code"] == "not_found"


def test_an_unexpected_error_is_a_500_without_traceback(app, client, monkeypatch) -> None:
    from server.gallery import stats

    def boom() -> dict:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(stats, "stats", boom)
    monkeypatch.setattr("server.gallery.api.stats", boom)
    response = client.get("/api/stats")
    assert response.status_code == 500
    assert "secret internals" not in response.get_data(as_text=True)
    assert response.json["error"]["code"] == "internal_error"


@pytest.mark.parametrize("status", [405])
def test_wrong_method_is_json_for_the_api(client, status: int) -> None:
    response = client.put("/api/images", headers=client.csrf_headers)
    assert response.status_code == status and response.json["error"]["code"] == "method_not_allowed"
