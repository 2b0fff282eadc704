"""The gallery's side of tiered retention (issue 9) and of the notifier (issue 14).

- Tiers: which pictures still have their full size (`tier_of`), what a thumbnail-only
  picture offers instead (`point_at_thumbnail`), and the 410 its full size answers.
- `GET /api/retention`: the forecast per camera (`pi.retention.read_forecast`), its
  warnings, the time-lapse movies Redis holds, and the budgets; `POST
  /api/retention/budgets` replaces the budgets (`contract.write_budgets`), which every
  capture daemon re-reads within 10 s.
- `GET /api/notify`: the notifier's status and each target's (`notify:status`,
  `notify:target:<name>`), every value read as input; `notifier_health` for /healthz.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
import redis
from flask import Response, url_for
from marshmallow import fields

from pi import contract
from pi import retention as forecasting
from pi.contract import (
    BUDGET_CAMERA_PREFIX,
    BUDGET_DEFAULT,
    BUDGET_MIN_AGE,
    BUDGET_TOTAL,
    BUDGETS_KEY,
    CAMERA_NAME_RE,
    NOTIFY_STATUS_KEY,
    BudgetError,
    Budgets,
    ImageRecord,
)
from server.core.errors import ApiError, image_not_found
from server.core.openapi import Blueprint
from server.core.services import get_redis
from server.search import BadParameter

from . import index

bp = Blueprint("retention", __name__, description="Retention forecast, budgets, notifier status.")

TIER_STATES = ("full", "expired", "trimmed", "unchanged", "missing")

# --- Tiers -------------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def tier_of(fields_: Mapping[str, Any], has_image: bool | None = None, pttl_ms: int | None = None,
            now: float | None = None) -> dict[str, Any]:
    """Return a picture's tier as the API shows it.

    `has_image` is whether `image_data` exists (HSTRLEN); when unknown (listing rows), the
    indexed `full_until` decides: the full size is there until then. A picture without
    `full_until` (the reference's, whose key expires whole) counts as full.
    """
    now = time.time() if now is None else now
    if has_image is None:
        text = (_text(fields_.get(contract.F_FULL_UNTIL)) or "").strip().lower()
        until = math.inf if text in ("inf", "+inf") else _num(text, -math.inf, math.inf)
        has_image = until is None or until > now
    tier = contract.tier_from_fields(fields_, bool(has_image), pttl_ms, now)
    return {
        "state": tier.state,
        "full_until": _finite(tier.full_until),
        "full_kept": tier.full_until is not None and math.isinf(tier.full_until),
        "unchanged_since": _finite(tier.unchanged_since),
        "same_as": tier.same_as if tier.same_as and contract.is_valid_image_id(tier.same_as) else None,
    }


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def point_at_thumbnail(item: dict[str, Any], record: ImageRecord) -> None:
    """Make a thumbnail-only picture's `image_url` and download the thumbnail."""
    image_id = item["id"]
    mime = record.thumbnail_mime if record.thumbnail_mime in _EXT else contract.MIME_JPEG
    item["image_url"] = url_for("api.image_thumbnail", image_id=image_id)
    item["download_url"] = url_for("api.image_thumbnail", image_id=image_id, download=1)
    item["download_name"] = _name(record.camera, record.timestamp, _EXT[mime], thumbnail=True)


_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def _name(camera: str | None, timestamp: float, ext: str, thumbnail: bool = False) -> str:
    from .images import download_name  # one cleaning of the camera part (no CR/LF in a header)

    name = download_name(camera, timestamp, ext)
    return name.replace(f".{ext}", f"_thumbnail.{ext}") if thumbnail else name


def attach_name(response: Response, camera: Any, timestamp: Any, mime: str) -> None:
    """Add a download file name for a thumbnail, e.g. `garden_..._UTC_thumbnail.webp`."""
    ts = contract.parse_timestamp(_text(timestamp)) or 0.0
    name = _text(camera)
    name = name if name and CAMERA_NAME_RE.match(name) else None
    response.headers.set("Content-Disposition", "attachment",
                         filename=_name(name, ts, _EXT.get(mime, "bin"), thumbnail=True))


def full_size_gone(client: redis.Redis, image_id: str) -> ApiError:
    """Return the error for a picture without its full size: 410 naming why, or 404."""
    state = contract.full_size_state(client, image_id)
    if state is None:
        return image_not_found(image_id)
    when = ""
    if state.full_until is not None and math.isfinite(state.full_until):
        when = " at " + datetime.fromtimestamp(state.full_until, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    why = {
        "expired": f"its full size expired{when} (IMAGE_EXPIRY)",
        "trimmed": f"its full size was dropped{when} to keep its camera within its budget",
        "unchanged": "it was stored without its full size because nothing had changed since "
                     + (state.same_as or "the picture before"),
    }.get(state.state, "its full size is no longer in Redis")
    thumb = url_for("api.image_thumbnail", image_id=image_id)
    return ApiError(410, "full_size_gone",
                    f"Picture {image_id} has only its thumbnail: {why}. Fix: use the thumbnail "
                    f"({thumb}), or keep pictures you need in full size before they expire.")


# --- The forecast and the budgets ----------------------------------------------------------


def _seconds(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 1)


def budgets_json(budgets: Budgets, problems: list[str]) -> dict[str, Any]:
    """Return the budgets as the API shows them (bytes and seconds; null: none)."""
    return {"key": BUDGETS_KEY, "default": budgets.default, "total": budgets.total,
            "min_age": budgets.min_age, "cameras": dict(sorted(budgets.cameras.items())),
            "problems": problems}


def retention_report(client: redis.Redis) -> dict[str, Any]:
    """Return the forecast per camera, its warnings, the movies, and the budgets."""
    index.ensure_ready()
    result = forecasting.read_forecast(client)
    budgets, problems = contract.read_budgets(client)
    # The cameras that share `total`, as the daemons count them (online or holding full sizes).
    sharers = contract.budget_sharers(client) if budgets.total is not None else []
    cams = [{
        "camera": cam.camera,
        "describe": cam.describe(),
        "pictures_per_min": round(cam.pictures_per_min, 3),
        "bytes_per_min": round(cam.bytes_per_min),
        "full_reach_seconds": _seconds(cam.full_reach),
        "history_reach_seconds": _seconds(cam.history_reach),
        "full_limited_by": cam.full_limited_by,
        "history_limited_by": cam.history_limited_by,
        "budget": budgets.for_camera(cam.camera, sharers),
        "warnings": cam.warnings,
    } for cam in result.cameras]
    return {
        "cameras": cams,
        "memory_for_pictures": result.memory_for_pictures,
        "timelapse": {"count": result.timelapse_count, "bytes": result.timelapse_bytes},
        "warnings": result.warnings + [f"{BUDGETS_KEY}: {p}" for p in problems],
        "budgets": budgets_json(budgets, problems),
    }


def _size(value: Any, name: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadParameter(name, f"{name} must be a size such as 64mb, or empty for no budget.")
    try:
        return contract.parse_bytes(str(value), name)
    except BudgetError as exc:
        raise BadParameter(name, str(exc)) from None


def parse_budgets(body: Mapping[str, Any]) -> Budgets:
    """Return the budgets in a request body, or raise BadParameter naming the first bad field.

    Sizes are bytes or text with a unit (`64mb`); empty or null means no budget. `min_age`
    is seconds or text with a unit (`30m`, `2h`). `cameras` maps camera names to sizes.
    """
    if not isinstance(body, Mapping):
        raise BadParameter("body", 'Send a JSON object, e.g. {"total": "128mb", "min_age": "30m", '
                                   '"cameras": {"garden": "32mb"}}.')
    unknown = sorted(set(body) - {BUDGET_DEFAULT, BUDGET_TOTAL, BUDGET_MIN_AGE, "cameras"})
    if unknown:
        raise BadParameter(str(unknown[0]), f"{unknown[0]} is not a budget: use default, total, "
                                            "min_age or cameras.")
    out = Budgets(default=_size(body.get(BUDGET_DEFAULT), BUDGET_DEFAULT),
                  total=_size(body.get(BUDGET_TOTAL), BUDGET_TOTAL))
    age = body.get(BUDGET_MIN_AGE)
    if age is not None and not (isinstance(age, str) and not age.strip()):
        if isinstance(age, bool) or not isinstance(age, int | float | str):
            raise BadParameter(BUDGET_MIN_AGE, "min_age must be a duration such as 30m or 2h.")
        try:
            out.min_age = contract.parse_age(str(age), BUDGET_MIN_AGE)
        except BudgetError as exc:
            raise BadParameter(BUDGET_MIN_AGE, str(exc)) from None
    cameras = body.get("cameras") or {}
    if not isinstance(cameras, Mapping):
        raise BadParameter("cameras", 'cameras must be an object of camera name to size, e.g. '
                                      '{"garden": "32mb"}.')
    for camera, value in cameras.items():
        name = BUDGET_CAMERA_PREFIX + str(camera)
        if not CAMERA_NAME_RE.match(str(camera)):
            raise BadParameter(name, f"{str(camera)[:40]!r} is not a camera name: 1-32 letters, "
                                     "digits, - or _.")
        size = _size(value, name)
        if size is not None:
            out.cameras[str(camera)] = size
    try:
        out.validate()
    except BudgetError as exc:
        raise BadParameter(BUDGET_TOTAL if "add up" in str(exc) else "body", str(exc)) from None
    return out


# --- The notifier ------------------------------------------------------------------------

#: The notifier rewrites `notify:status` every NOTIFY_HEARTBEAT_CHECK seconds (5 by default,
#: written into the hash as `heartbeat`); three missed writes, and at least this long,
#: make it stale.
NOTIFY_STALE_MIN = 30.0
MAX_TARGETS = 50
_TARGET_TEXT = ("kind", "rule", "describe", "state", "last_event", "last_error")
_TARGET_TIMES = ("last_fired", "last_error_at", "retry_at")
_TARGET_COUNTS = ("sent", "failures", "rejected")


def _num(value: Any, low: float = 0.0, high: float = contract.TIMESTAMP_RANGE[1]) -> float | None:
    try:
        number = float(_text(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and low <= number <= high else None


def _clean(value: Any, limit: int = 300) -> str | None:
    text = _text(value)
    if text is None:
        return None
    text = "".join(ch for ch in text[:limit] if ch.isprintable())
    return text or None


def notifier_status(client: redis.Redis, now: float | None = None) -> dict[str, Any]:
    """Return the notifier's state and its targets' (from `notify:status`, `notify:target:*`)."""
    now = time.time() if now is None else now
    status = {_text(k): v for k, v in client.hgetall(NOTIFY_STATUS_KEY).items()}
    if not status:
        return {"state": "absent", "message": "No notifier has run against this Redis (it starts "
                "when a target such as MQTT_URL or NTFY_URL is set).", "updated_at": None,
                "started_at": None, "consumer": None, "pending": None, "lag": None, "targets": []}
    updated = _num(status.get("updated_at"))
    stopped = _num(status.get("stopped_at"))
    beat = _num(status.get("heartbeat"), 0.1, 86400) or 5.0
    stale_after = max(NOTIFY_STALE_MIN, 3 * beat)
    raw_names = (_text(status.get("targets")) or "")[:4000].split(",")
    names = [n for n in raw_names if CAMERA_NAME_RE.match(n)]
    targets = []
    if names:
        pipe = client.pipeline(transaction=False)
        for name in names[:MAX_TARGETS]:
            pipe.hgetall(contract.notify_target_key(name))
        for name, raw in zip(names, pipe.execute()):
            h = {_text(k): v for k, v in raw.items()}
            target: dict[str, Any] = {"name": name}
            target.update({k: _clean(h.get(k)) for k in _TARGET_TEXT})
            target.update({k: _num(h.get(k)) for k in _TARGET_TIMES})
            target.update({k: int(n) if (n := _num(h.get(k), 0, 2**53)) is not None else 0
                           for k in _TARGET_COUNTS})
            if target["state"] not in ("ok", "retrying"):
                target["state"] = None if not target["state"] else "unknown"
            targets.append(target)
    if stopped is not None and (updated is None or stopped >= updated):
        state, message = "stopped", "The notifier stopped (it was shut down); start it again."
    elif updated is None or now - updated > stale_after:
        ago = "never" if updated is None else f"{now - updated:.0f} s ago"
        state = "stale"
        message = (f"The notifier last reported {ago} (it writes every {beat:g} s): it is not "
                   "running or cannot reach Redis. Fix: check `docker compose logs notifier`, "
                   "or start it with `python -m server.notify`.")
    elif any(t["state"] == "retrying" for t in targets):
        failing = ", ".join(t["name"] for t in targets if t["state"] == "retrying")
        state = "retrying"
        message = (f"Target {failing} is failing and being retried; its notifications are late, "
                   "not lost. See its last error.")
    else:
        state, message = "ok", None
    return {
        "state": state, "message": message, "updated_at": updated,
        "started_at": _num(status.get("started_at")), "consumer": _clean(status.get("consumer"), 64),
        "pending": _int_or_none(status.get("pending")), "lag": _int_or_none(status.get("lag")),
        "targets": targets,
    }


def _int_or_none(value: Any) -> int | None:
    number = _num(value, 0, 2**53)
    return None if number is None else int(number)


def notifier_health(client: redis.Redis) -> dict[str, Any]:
    """Return the notifier's part of /healthz: its state, and the message when degraded."""
    report = notifier_status(client)
    out = {"state": report["state"],
           "retrying": [t["name"] for t in report["targets"] if t["state"] == "retrying"]}
    if report["message"] and report["state"] in ("stale", "retrying", "stopped"):
        out["message"] = report["message"]
    return out


# --- Routes and their schemas ------------------------------------------------------------


class CameraForecast(ma.Schema):
    camera = fields.String(required=True)
    describe = fields.String(required=True, metadata={
        "description": "e.g. 'garden: full size 47 min · history 12 days · 3.1 MB/min'"})
    pictures_per_min = fields.Float(required=True)
    bytes_per_min = fields.Integer(required=True)
    full_reach_seconds = fields.Float(required=True, allow_none=True, metadata={
        "description": "How far back full-size pictures reach; null: no limit or no pictures."})
    history_reach_seconds = fields.Float(required=True, allow_none=True)
    full_limited_by = fields.String(required=True, metadata={
        "enum": ["expiry", "budget", "memory", "min_age"]})
    history_limited_by = fields.String(required=True, metadata={"enum": ["expiry", "memory"]})
    budget = fields.Integer(required=True, allow_none=True, metadata={
        "description": "The camera's full-size budget in bytes now; null: none."})
    warnings = fields.List(fields.String(), required=True)


class BudgetsOut(ma.Schema):
    key = fields.String(required=True, metadata={"description": "The Redis hash they live in."})
    default = fields.Integer(required=True, allow_none=True)
    total = fields.Integer(required=True, allow_none=True)
    min_age = fields.Float(required=True)
    cameras = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    problems = fields.List(fields.String(), required=True, metadata={
        "description": "Fields of the hash that can't be used (written by hand), left out."})


class Movies(ma.Schema):
    count = fields.Integer(required=True)
    bytes = fields.Integer(required=True)


class RetentionReport(ma.Schema):
    """How far back each camera's full size and history reach, and the budgets."""

    cameras = fields.List(fields.Nested(CameraForecast), required=True)
    memory_for_pictures = fields.Integer(required=True, allow_none=True)
    timelapse = fields.Nested(Movies, required=True)
    warnings = fields.List(fields.String(), required=True)
    budgets = fields.Nested(BudgetsOut, required=True)


_SIZE_SCHEMA = {"type": ["string", "integer"], "description": "Bytes, or e.g. 64mb; empty: none."}


class BudgetsBody(ma.Schema):
    """The new budgets (they replace the old ones)."""

    class Meta:
        unknown = ma.INCLUDE

    default = fields.Raw(allow_none=True, metadata=_SIZE_SCHEMA)
    total = fields.Raw(allow_none=True, metadata=_SIZE_SCHEMA)
    min_age = fields.Raw(allow_none=True, metadata={"type": ["string", "number"],
                                   "description": "Seconds, or e.g. 30m, 2h; empty: 0."})
    cameras = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), allow_none=True,
                          metadata={
        "description": "Camera name to its own budget, e.g. {\"garden\": \"32mb\"}."})


class NotifyTarget(ma.Schema):
    name = fields.String(required=True)
    kind = fields.String(required=True, allow_none=True)
    rule = fields.String(required=True, allow_none=True)
    describe = fields.String(required=True, allow_none=True)
    state = fields.String(required=True, allow_none=True,
                          metadata={"enum": ["ok", "retrying", "unknown", None]})
    last_event = fields.String(required=True, allow_none=True)
    last_error = fields.String(required=True, allow_none=True)
    last_fired = fields.Float(required=True, allow_none=True)
    last_error_at = fields.Float(required=True, allow_none=True)
    retry_at = fields.Float(required=True, allow_none=True)
    sent = fields.Integer(required=True)
    failures = fields.Integer(required=True)
    rejected = fields.Integer(required=True)


class NotifyStatus(ma.Schema):
    """The notifier: running, stale, stopped or absent, and each target's last delivery."""

    state = fields.String(required=True, metadata={"enum": ["ok", "retrying", "stale", "stopped", "absent"]})
    message = fields.String(required=True, allow_none=True)
    updated_at = fields.Float(required=True, allow_none=True)
    started_at = fields.Float(required=True, allow_none=True)
    consumer = fields.String(required=True, allow_none=True)
    pending = fields.Integer(required=True, allow_none=True)
    lag = fields.Integer(required=True, allow_none=True)
    targets = fields.List(fields.Nested(NotifyTarget), required=True)


@bp.get("/api/retention")
@bp.response(200, RetentionReport)
def api_retention() -> dict[str, Any]:
    """The retention forecast per camera at its current rate, its warnings, and the budgets."""
    return retention_report(get_redis())


@bp.post("/api/retention/budgets")
@bp.arguments(BudgetsBody, location="json", as_kwargs=False)
@bp.response(200, RetentionReport)
@bp.errors(400)
def api_budgets(body: dict[str, Any]) -> dict[str, Any]:
    """Replace the full-size budgets (`retention:budgets`); daemons apply them within 10 s."""
    client = get_redis()
    contract.write_budgets(client, parse_budgets(body))
    return retention_report(client)


@bp.get("/api/notify")
@bp.response(200, NotifyStatus)
def api_notify() -> dict[str, Any]:
    """The notifier's status and each notification target's last delivery and error."""
    return notifier_status(get_redis())
