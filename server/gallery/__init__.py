"""The gallery wing: the page, the JSON API (list, detail, images, events, stats, chart)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    """Register the gallery's routes and create the search index if Redis is there."""
    from server.core import openapi

    from . import api, bulk, bursts, index, pages, retention

    app.register_blueprint(pages.bp)
    openapi.register(app, [api.bp, retention.bp, bulk.bp, bursts.bp])
    index.init_app(app)
