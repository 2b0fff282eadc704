"""Lets `flask run` inside server/ find the app factory, as in the reference project."""

from server import create_app

__all__ = ["create_app"]
