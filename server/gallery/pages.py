"""The gallery's HTML page; the browser fills it through the JSON API."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, url_for

from server.core.services import get_redis, services
from server.search import SORT_OPTIONS

from . import index as search_index

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    """Render the gallery, or the friendly 503 page when Redis or its index is unavailable."""
    get_redis().ping()
    search_index.ensure_ready()
    return render_template("index.html", page_size=services().settings.page_size, sorts=SORT_OPTIONS)


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    """The web app manifest: a phone can install the gallery and open it full screen."""
    from server.core.assets import asset_path

    response = jsonify({
        "name": "Pi Camera Gallery",
        "short_name": "Pi Camera",
        "description": "Pictures from your Raspberry Pi cameras, stored in Redis.",
        "start_url": url_for("pages.index"),
        "scope": url_for("pages.index"),
        "display": "standalone",
        "background_color": "#0e1014",
        "theme_color": "#0e1014",
        "icons": [
            {"src": asset_path("favicon.svg"), "sizes": "any", "type": "image/svg+xml"},
            {"src": asset_path("icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": asset_path("icon-512.png"), "sizes": "512x512", "type": "image/png"},
        ],
    })
    response.mimetype = "application/manifest+json"
    response.headers["Cache-Control"] = "no-cache"
    return response
