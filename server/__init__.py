"""The Pi camera's server side, one folder per wing:

- `search/`    the query kit: filters and sorts declared once, FT query text, keyset paging, counting
- `core/`      the web app's base: settings, services, errors, security, OpenAPI
- `gallery/`   the gallery: JSON API, page, images, events, stats, chart
- `timelapse/` time-lapse engine, background jobs, routes, CLI
- `live/`      the live view: hub and MJPEG routes
- `tooling/`   the embedded Redis launcher and the `make run` supervisor (not gallery code)
- `app.py`     `create_app`, the one module that knows every wing; `serve.py`: `pi-gallery`

Importing `server` imports no Flask: Flask-free processes (`python -m server.<worker>`) live
beside the web wings. `create_app()` is the gallery's application factory.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    """Give `server.create_app` (server/app.py) on first use, so `import server` loads no Flask."""
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
