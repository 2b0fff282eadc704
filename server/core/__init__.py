"""What every web wing stands on: settings, services (Redis), errors, security, OpenAPI, serving.

Core imports no wing; wings (gallery, timelapse, live) import core and the search kit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from .settings import GallerySettings


def init_app(app: Flask, settings: GallerySettings) -> None:
    """Create the services and install error pages, login/CSRF checks and security headers."""
    from . import assets, errors, jsonsafe, openapi, security, services

    app.json = jsonsafe.SafeJSONProvider(app)  # no Infinity/NaN out, no deep nesting in
    services.init_app(app, settings)
    openapi.init_app(app)  # before errors: the gallery's error handlers must win
    errors.init_app(app)
    security.init_app(app)
    assets.init_app(app)
