"""Live view routes (issue 6): placeholder blueprint."""

from flask import Blueprint

bp = Blueprint("live", __name__)
