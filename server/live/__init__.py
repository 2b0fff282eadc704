"""The live-view wing: the hub (one Redis subscriber per process) and the MJPEG routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .hub import Frame, LiveHub, TooManyViewers, Viewer

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["Frame", "LiveHub", "TooManyViewers", "Viewer", "get_hub", "init_app"]


def init_app(app: Flask) -> None:
    """Register the live routes (the hub starts with the first viewer)."""
    from server.core import openapi

    from . import views

    openapi.register(app, [views.bp])


def get_hub(app: Flask | None = None) -> LiveHub:
    """Return the app's hub, made from the app's settings on first use."""
    from server.core.services import services

    found = services(app)
    return found.one(LiveHub, lambda: LiveHub.from_settings(found.settings))
