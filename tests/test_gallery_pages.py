"""The gallery page itself, its settings, and the serve command."""

from __future__ import annotations

import re

import pytest

from server import create_app, serve
from server.core.settings import MAX_PAGE_SIZE, from_env


def test_page_carries_csrf_config_and_the_other_panels(client) -> None:
    response = client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', html)
    assert 'data-page-size="24"' in html and 'data-root="/"' in html
    # One entry module; it imports the others (the time-lapse and live panels too).
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert re.fullmatch(r'<script type="module" src="/static/v/[0-9a-f]{12}/js/main.js">', scripts[0])
    assert len(scripts) == 1
    # The filters and the time-lapse come before the grid; the live tiles fold away with the
    # overview (also before the grid, so it opens where the user looks).
    assert html.index('id="filters"') < html.index('id="timelapse-slot"') < html.index('id="grid"')
    assert html.index('id="live-slot"') < html.index('id="grid"')
    assert re.search(r'/static/v/[0-9a-f]{12}/vendor/bulma-gallery.min.css', html)
    assert "http://" not in html and "https://" not in html  # no CDN


def test_static_assets_are_served(client) -> None:
    for name in ("js/main.js", "gallery.css", "live.css", "favicon.svg", "vendor/bulma-gallery.min.css",
                 "vendor/photoswipe/photoswipe.esm.min.js"):
        assert client.get(f"/static/{name}").status_code == 200, name
    # Browsers run a module only when it is served as JavaScript (nosniff is on).
    assert client.get("/static/js/main.js").mimetype in ("text/javascript", "application/javascript")


def test_versioned_static_files_are_compressed_and_cached_for_good(client, app) -> None:
    version = app.config["ASSET_VERSION"]
    for name, mime in (("js/main.js", "text/javascript"), ("vendor/bulma-gallery.min.css", "text/css")):
        url = f"/static/v/{version}/{name}"
        plain = client.get(url)
        assert plain.status_code == 200 and plain.mimetype == mime
        assert "immutable" in plain.headers["Cache-Control"]
        assert plain.headers["X-Content-Type-Options"] == "nosniff"
        for encoding in ("br", "gzip"):
            packed = client.get(url, headers={"Accept-Encoding": encoding})
            assert packed.headers["Content-Encoding"] == encoding
            assert len(packed.data) < len(plain.data) / 2
            assert "Accept-Encoding" in packed.headers["Vary"]
    # A different file content is a different version: nothing stale is ever served.
    assert client.get("/static/v/000000000000/js/main.js").status_code == 404


def test_web_app_manifest_lets_a_phone_install_the_gallery(client) -> None:
    manifest = client.get("/manifest.webmanifest")
    assert manifest.status_code == 200 and manifest.mimetype == "application/manifest+json"
    body = manifest.json
    assert body["display"] == "standalone" and body["start_url"] == "/"
    sizes = {icon["sizes"] for icon in body["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in body["icons"]:
        assert client.get(icon["src"]).status_code == 200, icon["src"]
    assert 'rel="manifest"' in client.get("/").get_data(as_text=True)


def test_settings_from_the_environment() -> None:
    config = from_env({"REDIS_URL": "redis://cache:6380", "GALLERY_PASSWORD": "pw",
                       "GALLERY_PORT": "8080", "GALLERY_THREADS": "16", "GALLERY_PAGE_SIZE": "48"})
    assert config["REDIS_URL"] == "redis://cache:6380" and config["GALLERY_PASSWORD"] == "pw"
    assert (config["GALLERY_PORT"], config["GALLERY_THREADS"], config["GALLERY_PAGE_SIZE"]) == (8080, 16, 48)
    defaults = from_env({})
    assert defaults["REDIS_URL"] == "redis://localhost:6379"
    assert defaults["GALLERY_PASSWORD"] is None and defaults["SECRET_KEY"] is None
    assert (defaults["GALLERY_HOST"], defaults["GALLERY_PORT"]) == ("127.0.0.1", 5000)
    assert defaults["GALLERY_THREADS"] >= 32


def test_page_size_setting_is_used(redis_url: str) -> None:
    app = create_app({"TESTING": True, "REDIS_URL": redis_url, "GALLERY_PAGE_SIZE": 7,
                      "GALLERY_PASSWORD": None})
    assert app.test_client().get("/api/images").json["limit"] == 7
    assert 'data-page-size="7"' in app.test_client().get("/").get_data(as_text=True)
    assert app.test_client().get(f"/api/images?limit={MAX_PAGE_SIZE + 1}").status_code == 400


def test_secret_key_is_random_per_start_when_unset(redis_url: str) -> None:
    one = create_app({"TESTING": True, "REDIS_URL": redis_url, "SECRET_KEY": None})
    two = create_app({"TESTING": True, "REDIS_URL": redis_url, "SECRET_KEY": None})
    assert len(one.config["SECRET_KEY"]) >= 32 and one.config["SECRET_KEY"] != two.config["SECRET_KEY"]


def test_serve_flags_override_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("GALLERY_PORT", "5055")
    parser = serve.build_parser(from_env())
    args = parser.parse_args([])
    assert (args.host, args.port, args.threads, args.debug) == ("127.0.0.1", 5055, 64, False)
    args = parser.parse_args(["--port", "9000", "--threads", "8", "--debug"])
    assert (args.port, args.threads, args.debug) == (9000, 8, True)


def test_serve_refuses_bad_settings(monkeypatch, capsys) -> None:
    monkeypatch.setenv("GALLERY_THREADS", "lots")
    assert serve.main([]) == 2
    assert "GALLERY_THREADS" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["server.app"])
def test_flask_run_finds_the_factory(module: str) -> None:
    import importlib

    assert importlib.import_module(module).create_app is create_app
