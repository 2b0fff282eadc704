"""The application factory, the one place that knows every wing: settings once, core
services, then one `init_app` per wing. (`flask run` inside server/ finds it here too.)"""

from __future__ import annotations

from typing import Any

from flask import Flask

from server.core import settings


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create and configure the gallery app (settings from the environment, then `test_config`)."""
    from server import core, gallery, live, timelapse

    # "server": templates/ and static/ live in the server package, shared by every wing.
    app = Flask("server")
    config = settings.from_env()
    if test_config:
        config.update(test_config)
    config, typed = settings.finalize(config)
    app.config.from_mapping(config)

    core.init_app(app, typed)
    gallery.init_app(app)
    timelapse.init_app(app)
    live.init_app(app)
    return app
