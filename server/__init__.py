"""The Flask web gallery. `create_app()` is the application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create and configure the gallery app (settings from the environment, then `test_config`)."""
    from . import api, errors, images, pages, redis_store, search, security, settings

    app = Flask(__name__)
    config = settings.from_env()
    if test_config:
        config.update(test_config)
    app.config.from_mapping(settings.finalize(config))

    redis_store.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    images.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)

    from . import live_views, timelapse_views

    app.register_blueprint(timelapse_views.bp)
    app.register_blueprint(live_views.bp)
    search.init_app(app)
    return app
