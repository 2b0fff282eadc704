"""The Flask web gallery. `create_app()` is the application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create and configure the gallery app."""
    app = Flask(__name__)
    if test_config:
        app.config.update(test_config)

    from . import live_views, timelapse_views

    app.register_blueprint(timelapse_views.bp)
    app.register_blueprint(live_views.bp)
    return app
