"""The Pi camera's server side, one folder per wing:

- `search/`    the query kit: filters and sorts declared once, FT query text, keyset paging, counting
- `core/`      the web app's base: settings, services, errors, security, OpenAPI, `pi-gallery`
- `gallery/`   the gallery: JSON API, page, images, events, stats, chart
- `timelapse/` time-lapse engine, background jobs, routes, CLI
- `live/`      the live view: hub and MJPEG routes
- `tooling/`   the embedded Redis launcher (not gallery code)

Importing `server` imports no Flask: Flask-free processes (`python -m server.<worker>`) live
beside the web wings. `create_app()` is the gallery's application factory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create and configure the gallery app (see `server.core.app.create_app`)."""
    from .core.app import create_app as factory

    return factory(test_config)
