"""The gallery's HTML page; the browser fills it through the JSON API."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from . import search
from .redis_store import get_redis

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    """Render the gallery, or the friendly 503 page when Redis or its index is unavailable."""
    get_redis().ping()
    search.ensure_ready()
    return render_template("index.html", page_size=current_app.config["GALLERY_PAGE_SIZE"])
