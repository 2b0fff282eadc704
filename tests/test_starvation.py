"""No starvation: event streams share a capped stream budget with the live video (a clear 503
with a retry hint past it), idle connections can't stop the server accepting, and big bodies
are refused before anything reads them. Served by waitress as in production."""

from __future__ import annotations

import http.client
import json
import socket
import time
from contextlib import ExitStack, closing

import pytest

from pi.contract import ensure_index
from tests.factories import store_image


@pytest.fixture
def small_gallery(redis_url, tmp_path):
    """The gallery under waitress with 8 threads, a stream budget of 3 and 30 s event streams."""
    from server import create_app
    from tests.browser import ServerThread

    app = create_app({"REDIS_URL": redis_url, "GALLERY_PASSWORD": None, "SECRET_KEY": "s",
                      "GALLERY_SSE_SECONDS": 30, "GALLERY_THREADS": 8, "GALLERY_MAX_STREAMS": 3,
                      "TIMELAPSE_TMPDIR": str(tmp_path)})
    with ServerThread(app, threads=8) as server:
        yield server


def open_stream(port: int, path: str = "/api/events") -> tuple[socket.socket, bytes]:
    """Open an event stream with a raw socket; return it and the head of its answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return sock, head


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, dict, bytes, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read(), time.monotonic() - started
    finally:
        conn.close()


def test_event_streams_past_the_budget_get_a_503_with_a_retry_hint(small_gallery, r) -> None:
    ensure_index(r)
    store_image(r)
    with ExitStack() as stack:
        for _ in range(3):
            sock, head = open_stream(small_gallery.port)
            stack.enter_context(closing(sock))
            assert head.startswith(b"HTTP/1.1 200"), head
        sock, head = open_stream(small_gallery.port)
        stack.enter_context(closing(sock))
        assert head.startswith(b"HTTP/1.1 503"), head
        assert b"Retry-After:" in head
        status, _, body, seconds = get(small_gallery.port, "/api/images")
        assert status == 200 and seconds < 2, (status, seconds)
        assert json.loads(body)["images"]
    # Closed streams give their places back.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sock, head = open_stream(small_gallery.port)
        sock.close()
        if head.startswith(b"HTTP/1.1 200"):
            break
        time.sleep(0.3)
    assert head.startswith(b"HTTP/1.1 200"), head


def test_the_503_names_the_limit_and_the_setting(small_gallery) -> None:
    with ExitStack() as stack:
        for _ in range(3):
            stack.enter_context(closing(open_stream(small_gallery.port)[0]))
        status, headers, body, _ = get(small_gallery.port, "/api/events")
    assert status == 503
    message = json.loads(body)["error"]["message"]
    assert "GALLERY_MAX_STREAMS" in message and "3" in message
    assert int(headers["Retry-After"]) >= 1


def test_idle_connections_do_not_stop_the_server_accepting(small_gallery, r) -> None:
    ensure_index(r)
    store_image(r)
    with ExitStack() as stack:
        for _ in range(140):
            sock = socket.create_connection(("127.0.0.1", small_gallery.port), timeout=5)
            stack.enter_context(closing(sock))
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished: a slowloris
        status, _, _, seconds = get(small_gallery.port, "/api/images")
        assert status == 200 and seconds < 2, (status, seconds)


def test_a_huge_body_is_refused_before_it_is_read(small_gallery) -> None:
    with closing(socket.create_connection(("127.0.0.1", small_gallery.port), timeout=5)) as sock:
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
                     b"\r\nContent-Length: 200000000\r\n\r\npassword=x&")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_big_form_to_the_app_is_a_413(client) -> None:
    response = client.post("/login", data={"password": "x" * 2_000_000, "csrf_token": "t"})
    assert response.status_code == 413
