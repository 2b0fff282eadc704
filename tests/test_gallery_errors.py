"""Redis refusing a command: full (maxmemory with noeviction) or any other error reply. The
user gets a clear JSON error or page naming the fix; never a 500 or a traceback."""

from __future__ import annotations

import logging
import time

import pytest
import redis

from pi.contract import image_key
from server import create_app
from tests.factories import store_image, store_reference_image

CSRF = "test-csrf"


def _client(url: str):
    app = create_app({"TESTING": True, "REDIS_URL": url, "GALLERY_PASSWORD": None,
                      "SECRET_KEY": "k", "REDIS_TIMEOUT": 2.0})
    client = app.test_client()
    with client.session_transaction() as session:
        session["csrf"] = CSRF
    client.csrf_headers = {"X-CSRF-Token": CSRF}
    return client


def _fill(server) -> redis.Redis:
    """Make the server full as QA did: 10 MB maxmemory, noeviction, more than that stored."""
    admin = server.client()
    admin.set("filler", b"x" * 12_000_000)
    admin.config_set("maxmemory-policy", "noeviction")  # first, or the images are evicted
    admin.config_set("maxmemory", "10mb")
    with pytest.raises(redis.OutOfMemoryError):
        admin.set("probe", "1")
    return admin


def _assert_full(response, caplog) -> None:
    assert response.status_code == 507
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
    if response.mimetype == "application/json":
        assert response.json["error"]["code"] == "redis_out_of_memory"
        message = response.json["error"]["message"]
    else:
        assert response.mimetype == "text/html"
        assert "Redis is full" in text
        message = text
    for fix in ("maxmemory", "volatile-ttl", "delete pictures"):
        assert fix in message
    assert "Traceback" not in caplog.text
    assert not [rec for rec in caplog.records if rec.exc_info]


def test_a_write_to_a_full_redis_is_a_507_naming_the_fix(redis_factory, caplog) -> None:
    server = redis_factory(appendonly=False)
    writer = server.client()
    for i in range(3):
        store_image(writer, camera="cam", timestamp=time.time() - 60 * (i + 1))
    client = _client(server.url)
    assert client.get("/api/images").status_code == 200  # index made while there is room
    _fill(server)
    caplog.set_level(logging.INFO)

    # The time-lapse job's MULTI/EXEC: redis-py reports the HSET's OOM from inside it.
    started = client.post("/api/timelapse", json={"since": 0, "until": time.time()},
                          headers=client.csrf_headers)
    _assert_full(started, caplog)
    # Reading still works, and says nothing is wrong.
    assert client.get("/api/images").status_code == 200


def test_the_page_of_a_gallery_starting_on_a_full_redis_names_the_fix(redis_factory,
                                                                      caplog) -> None:
    server = redis_factory(appendonly=False)
    _fill(server)  # no index yet, and no room to create it
    caplog.set_level(logging.INFO)
    page = _client(server.url).get("/", headers={"Accept": "text/html"})
    _assert_full(page, caplog)


def test_a_reference_thumbnail_is_served_even_when_redis_is_too_full_to_cache_it(
        redis_factory, caplog) -> None:
    server = redis_factory(appendonly=False)
    writer = server.client()
    old = store_reference_image(writer, 1_700_000_000, 80)
    client = _client(server.url)
    _fill(server)
    caplog.set_level(logging.INFO)
    response = client.get(f"/api/images/{old}/thumbnail")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert not writer.hexists(image_key(old), "thumbnail")
    assert "not cached" in caplog.text and "Traceback" not in caplog.text


def test_any_other_redis_error_reply_is_a_clear_502(client, r, caplog) -> None:
    # A key of another type under image: is a 404 (tests/test_hostile_redis.py); an error
    # reply the gallery can't explain, here an ACL that forbids HKEYS, is a 502.
    r.hset(image_key("cam:1700000000000-abcd"), mapping={"timestamp": "1700000000"})
    r.execute_command("ACL", "SETUSER", "default", "-hkeys")
    try:
        response = client.get("/api/images/cam:1700000000000-abcd")
        page = client.get("/api/images/cam:1700000000000-abcd", headers={"Accept": "text/html"})
    finally:
        r.execute_command("ACL", "SETUSER", "default", "+hkeys")
    assert response.status_code == 502
    assert response.json["error"]["code"] == "redis_error"
    assert "HKEYS" in response.json["error"]["message"]  # the refused command, named
    assert "Fix:" in response.json["error"]["message"]
    assert page.status_code == 502 and "Traceback" not in page.get_data(as_text=True)


def test_an_exec_abort_caused_by_an_oom_counts_as_full() -> None:
    from server.core.errors import is_out_of_memory

    try:
        try:
            raise redis.OutOfMemoryError("command not allowed when used memory > 'maxmemory'.")
        except redis.OutOfMemoryError:
            raise redis.exceptions.ExecAbortError(
                "Transaction discarded because of previous errors.") from None
    except redis.exceptions.ExecAbortError as exc:
        abort = exc
    assert abort.__context__ is not None and is_out_of_memory(abort)
    wrapped = redis.exceptions.ExecAbortError("EXECABORT Transaction discarded")
    wrapped.__cause__ = redis.ResponseError("OOM command not allowed when used memory > 'maxmemory'.")
    assert is_out_of_memory(wrapped)
    assert not is_out_of_memory(redis.exceptions.ExecAbortError("EXECABORT Transaction discarded"))
    assert not is_out_of_memory(RuntimeError("used memory > 'maxmemory'"))


def test_an_oom_is_described_as_full(app) -> None:
    from server.core.errors import describe_redis_error

    with app.test_request_context("/api/images"):
        code, message = describe_redis_error(redis.OutOfMemoryError(
            "Command # 1 (HSET x a b) of pipeline caused error: command not allowed when used "
            "memory > 'maxmemory'."))
    assert code == "redis_out_of_memory" and "volatile-ttl" in message


def test_openapi_documents_the_redis_error_answers(client):
    doc = client.get("/api/openapi.json").get_json()
    for path, ops in doc["paths"].items():
        if path.startswith("/api/"):
            for op in ops.values():
                assert {"502", "507"} <= set(op["responses"]), path
