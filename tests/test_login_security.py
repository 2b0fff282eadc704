"""Login done properly: failed guesses are rate limited with backoff (per client and for
everyone), failures can't flood the log, the cookie is SameSite=Lax (Secure behind HTTPS),
sessions end server-side at logout and on a password change, and a gallery listening beyond
loopback has a password unless the user opts out."""

from __future__ import annotations

import logging
import re
import subprocess
import sys

import pytest

from server import create_app

PASSWORD = "correct horse battery staple"


def make_app(redis_url: str, **config):
    settings = {"TESTING": True, "REDIS_URL": redis_url, "GALLERY_PASSWORD": PASSWORD,
                "SECRET_KEY": "k", **config}
    return create_app(settings)


@pytest.fixture
def locked(redis_url: str):
    return make_app(redis_url)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the form"
    return match.group(1)


def login(client, password: str = PASSWORD, next_url: str = "", addr: str = "192.0.2.1"):
    environ = {"REMOTE_ADDR": addr}
    form = client.get("/login", environ_base=environ)
    if form.status_code == 429:  # backed off: even the form says to wait
        return form
    token = csrf_from(form.get_data(as_text=True))
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"password": password, "csrf_token": token}, environ_base=environ)


# --- M2: rate limit with backoff ------------------------------------------------------------


def test_failed_logins_from_one_client_are_slowed_with_a_429_and_retry_after(locked) -> None:
    client = locked.test_client()
    answers = [login(client, f"guess {i}").status_code for i in range(12)]
    assert 429 in answers, answers
    first_refused = answers.index(429)
    assert 3 <= first_refused <= 10, answers  # a typo or two never locks the owner out
    refused = login(client, "another guess")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    page = refused.get_data(as_text=True)
    assert "Too many" in page and 'name="password"' in page  # the login form, saying to wait
    # While limited, even the right password waits: guessing can't go on meanwhile.
    assert login(client).status_code == 429


def test_the_limit_of_one_client_leaves_another_client_alone(locked) -> None:
    attacker, owner = locked.test_client(), locked.test_client()
    for i in range(12):
        login(attacker, f"guess {i}", addr="198.51.100.7")
    assert login(attacker, addr="198.51.100.7").status_code == 429
    answer = login(owner, addr="192.0.2.44")
    assert answer.status_code == 302, answer.status_code
    assert owner.get("/api/images").status_code == 200


def test_many_clients_guessing_together_hit_the_global_limit(locked) -> None:
    statuses = []
    for i in range(400):
        client = locked.test_client()
        statuses.append(login(client, f"guess {i}", addr=f"10.{i // 250}.{i % 250}.1").status_code)
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429, f"{len(statuses)} guesses from different addresses, none limited"


def test_right_logins_are_never_counted_as_failures(locked) -> None:
    for _ in range(15):
        client = locked.test_client()
        assert login(client).status_code == 302


def test_a_flood_of_failed_logins_logs_a_few_lines_not_one_per_guess(locked, caplog) -> None:
    caplog.set_level(logging.INFO)
    for i in range(60):
        login(locked.test_client(), f"guess {i}", addr=f"10.9.{i}.1")
    lines = [rec for rec in caplog.records if "login" in rec.getMessage().lower()]
    assert 1 <= len(lines) <= 5, [rec.getMessage() for rec in lines]
    assert PASSWORD not in caplog.text and "guess 1" not in caplog.text


# --- M3: the cookie ---------------------------------------------------------------------


def cookie_of(response) -> str:
    cookies = [v for k, v in response.headers.items() if k.lower() == "set-cookie"]
    assert cookies, "no cookie was set"
    return cookies[-1]


def test_the_session_cookie_is_samesite_lax_and_httponly(locked) -> None:
    cookie = cookie_of(login(locked.test_client()))
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie
    assert "Secure" not in cookie  # plain http on a LAN: a Secure cookie would never come back


def test_behind_https_the_cookie_is_secure(redis_url) -> None:
    app = make_app(redis_url, GALLERY_SECURE_COOKIE=True)
    cookie = cookie_of(login(app.test_client()))
    assert "Secure" in cookie and "SameSite=Lax" in cookie


def test_behind_a_trusted_proxy_the_client_address_and_scheme_come_from_it(redis_url) -> None:
    app = make_app(redis_url, GALLERY_TRUSTED_PROXIES=1)
    attacker, owner = app.test_client(), app.test_client()
    proxied = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    for i in range(12):
        token = csrf_from(attacker.get("/login").get_data(as_text=True))
        attacker.post("/login", data={"password": f"g{i}", "csrf_token": token}, headers=proxied)
    token = csrf_from(owner.get("/login").get_data(as_text=True))
    answer = owner.post("/login", data={"password": PASSWORD, "csrf_token": token},
                        headers={"X-Forwarded-For": "203.0.113.10", "X-Forwarded-Proto": "https"})
    assert answer.status_code == 302  # same proxy address, but another client


# --- M4: revocable sessions ---------------------------------------------------------------


def test_a_copied_cookie_is_dead_after_logout(locked) -> None:
    client = locked.test_client()
    assert login(client).status_code == 302
    cookie = client.get_cookie("session").value
    thief = locked.test_client()
    thief.set_cookie("session", cookie)
    assert thief.get("/api/images").status_code == 200
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert thief.get("/api/images").status_code == 401


def test_logout_on_one_device_leaves_the_other_logged_in(locked) -> None:
    phone, laptop = locked.test_client(), locked.test_client()
    login(phone)
    login(laptop)
    page = phone.get("/").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    phone.post("/logout", data={"csrf_token": token})
    assert phone.get("/api/images").status_code == 401
    assert laptop.get("/api/images").status_code == 200


def test_a_password_change_ends_every_session_with_the_same_secret_key(redis_url) -> None:
    before = make_app(redis_url)
    client = before.test_client()
    login(client)
    cookie = client.get_cookie("session").value
    after = make_app(redis_url, GALLERY_PASSWORD="a new password")
    other = after.test_client()
    other.set_cookie("session", cookie)
    assert other.get("/api/images").status_code == 401


# --- Low: next with CR/LF --------------------------------------------------------------


@pytest.mark.parametrize("target", ["/%0aX", "/%0d%0aSet-Cookie:%20x=1", "/\x00", "/%09x"])
def test_a_next_with_control_characters_goes_to_the_gallery(locked, target) -> None:
    answer = login(locked.test_client(), next_url=target)
    assert answer.status_code == 302
    assert "\n" not in answer.headers["Location"] and "\r" not in answer.headers["Location"]


# --- H2, server side: no open gallery beyond loopback --------------------------------------


def serve(env: dict, *args: str) -> subprocess.CompletedProcess:
    import os
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GALLERY_", "REDIS_"))}
    environ.update(env)
    return subprocess.run([sys.executable, "-m", "server", "serve", *args], env=environ,
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20"])
def test_listening_beyond_loopback_without_a_password_refuses_to_start(host, redis_url) -> None:
    done = serve({"GALLERY_HOST": host, "REDIS_URL": redis_url, "GALLERY_PORT": "1"})
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "GALLERY_PASSWORD" in lines[0] and "GALLERY_ALLOW_NO_LOGIN" in lines[0]
    assert "Traceback" not in done.stderr


def test_a_trusted_network_may_opt_out_of_the_login_by_name(redis_url) -> None:
    from server.core.settings import SettingsError, from_env

    app = create_app({"TESTING": True, "REDIS_URL": redis_url, "GALLERY_HOST": "0.0.0.0",
                      "GALLERY_PASSWORD": None, "GALLERY_ALLOW_NO_LOGIN": True})
    assert app.test_client().get("/api/images").status_code == 200
    assert from_env({"GALLERY_ALLOW_NO_LOGIN": "yes"})["GALLERY_ALLOW_NO_LOGIN"] is True
    with pytest.raises(SettingsError, match="GALLERY_ALLOW_NO_LOGIN"):
        from_env({"GALLERY_ALLOW_NO_LOGIN": "maybe"})
    with pytest.raises(SettingsError, match="GALLERY_PASSWORD"):
        create_app({"TESTING": True, "REDIS_URL": redis_url, "GALLERY_HOST": "0.0.0.0",
                    "GALLERY_PASSWORD": None})


def test_static_files_are_public_as_the_readme_says_and_pictures_are_not(locked) -> None:
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    start = readme.index("**What is public.**")
    public = readme[start:readme.index("\n- ", start)]
    assert "`/healthz`" in public and "`/static/`" in public and "login page" in public
    client = locked.test_client()
    assert client.get("/static/gallery.css").status_code == 200
    assert client.get("/healthz").status_code in (200, 503)
    for url in ("/api/images", "/api/stats", "/api/images/x:1/image"):
        assert client.get(url).status_code == 401, url
