"""The gallery's HTML page; the browser fills it through the JSON API."""

from __future__ import annotations

from flask import Blueprint, render_template

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
