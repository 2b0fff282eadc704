"""The time-lapse wing: the engine (Flask-free), background jobs, the routes and the CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    """Register the time-lapse routes (the job runner is made on first use)."""
    from server.core import openapi

    from . import views

    openapi.register(app, [views.bp])
