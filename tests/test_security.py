"""Optional login, CSRF for state changes, security headers, and secrets kept out of logs."""

from __future__ import annotations

import logging
import re

import pytest

from server import create_app
from server.core.services import services
from server.tooling.embedded_redis import free_port
from tests.factories import store_image

PASSWORD = "correct horse battery staple"


@pytest.fixture
def locked(redis_url: str):
    app = create_app({"TESTING": True, "REDIS_URL": redis_url, "GALLERY_PASSWORD": PASSWORD,
                      "SECRET_KEY": "k"})
    yield app
    services(app).redis.close()


def _csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the form"
    return match.group(1)


def _login(client, password: str = PASSWORD, next_url: str = ""):
    token = _csrf_from(client.get("/login").get_data(as_text=True))
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"password": password, "csrf_token": token})


def test_login_is_off_without_a_password(client) -> None:
    assert client.get("/").status_code == 200
    assert client.get("/login").status_code == 302


def test_with_a_password_everything_but_healthz_and_static_needs_login(locked) -> None:
    client = locked.test_client()
    page = client.get("/?camera=x")
    assert page.status_code == 302 and "/login?next=" in page.headers["Location"]
    for path in ["/api/images", "/api/stats", "/api/openapi.json", "/api/images/a:1-ab12/image",
                 "/api/events"]:
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.json["error"]["code"] == "login_required"
    assert client.get("/healthz").status_code == 200
    assert client.get("/static/gallery.css").status_code == 200


def test_login_with_the_right_password_then_logout(locked) -> None:
    client = locked.test_client()
    wrong = _login(client, "guess")
    assert wrong.status_code == 200 and "not right" in wrong.get_data(as_text=True)
    assert client.get("/api/images").status_code == 401
    response = _login(client, next_url="/?camera=garden")
    assert response.status_code == 302 and response.headers["Location"] == "/?camera=garden"
    assert client.get("/api/images").status_code == 200
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/api/images").status_code == 401


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_login_never_redirects_off_site(locked, target: str) -> None:
    response = _login(locked.test_client(), next_url=target)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_login_form_needs_its_csrf_token(locked) -> None:
    client = locked.test_client()
    client.get("/login")
    assert client.post("/login", data={"password": PASSWORD}).status_code == 403


def test_state_changes_need_the_csrf_token_from_the_page(app, r) -> None:
    image_id = store_image(r, camera="cam", timestamp=1_700_000_000, thumbnail=False)
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    assert len(token) >= 32
    assert client.post(f"/api/images/{image_id}/keep").status_code == 403
    refused = client.post(f"/api/images/{image_id}/keep", headers={"X-CSRF-Token": "forged"})
    assert refused.status_code == 403 and refused.json["error"]["code"] == "csrf_failed"
    other = app.test_client()  # another browser: its own session, so the token is no use
    assert other.delete(f"/api/images/{image_id}", headers={"X-CSRF-Token": token}).status_code == 403
    assert r.ttl(f"image:{image_id}") > 0
    ok = client.post(f"/api/images/{image_id}/keep", headers={"X-CSRF-Token": token})
    assert ok.status_code == 200 and r.ttl(f"image:{image_id}") == -1


@pytest.mark.parametrize("path", ["/", "/api/images", "/static/js/main.js", "/healthz",
                                  "/nope", "/api/images/cam:1-ab12"])
def test_every_response_has_csp_and_nosniff(client, path: str) -> None:
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_page_has_no_inline_script_or_handlers(client) -> None:
    html = client.get("/").get_data(as_text=True)
    for tag in re.findall(r"<script[^>]*>", html):
        assert 'src="' in tag, tag
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert not re.search(r"<script[^>]*>\s*[^<\s]", html), "inline script body"


def test_secrets_never_reach_logs_or_pages(redis_url: str, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    app = create_app({"TESTING": True, "GALLERY_PASSWORD": PASSWORD, "SECRET_KEY": "sekrit-key-123",
                      "REDIS_URL": f"redis://user:redis-pass-456@127.0.0.1:{port}"})
    client = app.test_client()
    _login(client, "wrong guess 789")
    page = _login(client)  # sessions live in Redis: with Redis away, the login says so
    assert page.status_code == 503
    body = page.get_data(as_text=True) + client.get("/healthz").get_data(as_text=True)
    for secret in ("redis-pass-456", PASSWORD, "wrong guess 789", "sekrit-key-123"):
        assert secret not in caplog.text
        assert secret not in body
    assert "user:***@127.0.0.1" in body


def test_bad_settings_are_named_without_echoing_secrets() -> None:
    from server.core.settings import SettingsError, from_env

    with pytest.raises(SettingsError, match="GALLERY_PORT"):
        from_env({"GALLERY_PORT": "eighty"})
    with pytest.raises(SettingsError, match="GALLERY_THREADS"):
        from_env({"GALLERY_THREADS": "0"})
    with pytest.raises(SettingsError) as info:
        create_app({"REDIS_URL": "http://user:hunter2@host/"})
    assert "hunter2" not in str(info.value) and "REDIS_URL" in str(info.value)
