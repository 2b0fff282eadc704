"""The time-lapse API's request and answers, declared once with marshmallow (core/openapi.py)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from server.core.openapi import Error

from .engine import DEFAULT_FPS, FPS_MAX, FPS_MIN


class StartBody(ma.Schema):
    """What to make. Any other key is refused with a 400 naming it (a misspelt option must not
    be ignored), so the accepted keys are exactly these fields."""

    since = fields.Raw(metadata={"type": ["number", "string"], "description": (
        "Unix seconds, ISO 8601, now, today, yesterday or relative (-1h); default: 24 hours "
        "before `until`.")})
    until = fields.Raw(metadata={"type": ["number", "string"], "description": "As `since`; default: now."})
    camera = fields.String(allow_none=True, metadata={"description": "One camera; null for all."})
    fps = fields.Integer(metadata={"minimum": FPS_MIN, "maximum": FPS_MAX, "default": DEFAULT_FPS})
    size = fields.String(metadata={"pattern": "^[0-9]+x[0-9]+$", "default": "1280x720"})
    width = fields.Integer(metadata={"description": "Output width in pixels, with `height`; "
                                                    "instead of `size`."})
    height = fields.Integer(metadata={"description": "Output height in pixels, with `width`."})
    burn_in = fields.Boolean(metadata={"description": "Write capture time and lux into frames."})
    min_lux = fields.Float(allow_none=True, metadata={"description": "Skip frames darker than this."})


class JobError(ma.Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)


class JobState(ma.Schema):
    """A job's state: status (running, saving, done, failed), progress, counts, result links."""

    job_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["running", "saving", "done", "failed"]})
    done = fields.Integer()
    total = fields.Integer()
    frames = fields.Integer()
    skipped_expired = fields.Integer()
    skipped_unreadable = fields.Integer()
    skipped_dark = fields.Integer()
    movie_bytes = fields.Integer()
    created_at = fields.Float()
    updated_at = fields.Float()
    finished_at = fields.Float()
    eta_seconds = fields.Float()
    duration_seconds = fields.Float()
    percent = fields.Float()
    params = fields.Dict(metadata={"description": "The request, as the job runs it."})
    error = fields.Nested(JobError)
    expires_in = fields.Integer(metadata={"description": "Seconds the movie is kept (done/failed)."})
    status_url = fields.String()
    movie_url = fields.String()
    download_url = fields.String()
    archive_frames = fields.Integer(metadata={
        "description": "Frames read from the archive of originals (full size gone from Redis)."})
    movie_archived = fields.Boolean(metadata={
        "description": "The movie is stored in the archive of originals, not in Redis."})


class CurrentJob(ma.Schema):
    job = fields.Nested(JobState, required=True, allow_none=True)


class Cancelled(ma.Schema):
    job_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["cancelled"]})


class Busy(Error):
    """Another job runs; `job_id` names it, so the page can show that one instead."""

    job_id = fields.String(required=True)
