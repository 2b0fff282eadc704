"""Time-lapse routes (issue 5): placeholder blueprint."""

from flask import Blueprint

bp = Blueprint("timelapse", __name__)
