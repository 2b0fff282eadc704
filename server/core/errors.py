"""Errors as users see them: JSON for the API, a friendly page otherwise, never a traceback."""

from __future__ import annotations

import logging
import time

import redis
from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from pi.contract import SearchModuleMissing, search_module_missing_message
from server.search import BadParameter, SearchIncomplete

from .services import redis_where

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with a status, a short code and a one-sentence message naming the fix."""

    def __init__(self, status: int, code: str, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.parameter = parameter


def bad_parameter(parameter: str, message: str) -> BadParameter:
    """Return the 400 error for a query or body parameter the gallery cannot use."""
    return BadParameter(parameter, message)


def image_not_found(image_id: str) -> ApiError:
    """Return the 404 error for an id that is malformed, unknown, expired or deleted."""
    return ApiError(404, "image_not_found",
                    "No image has this id: it may have expired or been deleted. "
                    "Fix: go back to the gallery and pick another image.")


TITLES = {400: "Bad request", 401: "Login required", 403: "Not allowed", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 410: "Gone", 413: "Too large", 429: "Too many tries",
          500: "Something went wrong",
          502: "Redis refused the request", 503: "The gallery cannot reach its images",
          507: "Redis is full"}

#: The status of each Redis problem `describe_redis_error` names; any other is a 503.
REDIS_ERROR_STATUS = {"redis_out_of_memory": 507, "redis_error": 502}


def wants_json() -> bool:
    """Tell whether the current request should get a JSON error rather than a page."""
    if request.path.startswith("/api/") or request.path == "/healthz":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, code: str, message: str, parameter: str | None = None) -> Response:
    """Return the error as `{"error": {...}}` JSON or as the friendly error page."""
    if wants_json():
        body: dict[str, str] = {"code": code, "message": message}
        if parameter:
            body["parameter"] = parameter
        response = jsonify(error=body)
    else:
        response = Response(render_template("error.html", status=status, code=code, message=message,
                                            title=TITLES.get(status, "Error")), mimetype="text/html")
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


def describe_redis_error(exc: Exception) -> tuple[str, str] | None:
    """Return (code, message) for a Redis failure users can fix, or None for a real bug."""
    where = redis_where()
    if isinstance(exc, SearchModuleMissing):
        return "search_module_missing", str(exc)
    if isinstance(exc, redis.exceptions.AuthenticationError | redis.exceptions.AuthorizationError):
        return "redis_auth", (
            f"Redis at {where} refused the gallery's credentials. "
            "Fix: put the right user and password in REDIS_URL and restart the gallery."
        )
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return "redis_unavailable", (
            f"The gallery cannot reach Redis at {where}: it is stopped, restarting or unreachable. "
            "Fix: start it (`make run` starts the embedded one, or `docker compose up -d`) or "
            "correct REDIS_URL; the gallery reconnects by itself, so just reload this page."
        )
    if isinstance(exc, SearchIncomplete):
        return "search_incomplete", (
            "Redis returned an incomplete page because the search timed out. Fix: retry, narrow "
            "the filter, or start the search module with ON_TIMEOUT FAIL and a larger TIMEOUT."
        )
    if is_out_of_memory(exc):
        return "redis_out_of_memory", (
            f"Redis at {where} is full: it reached its maxmemory and refuses to store anything "
            "more. Fix: raise maxmemory (`redis-cli CONFIG SET maxmemory 1gb`, or REDIS_MAXMEMORY), "
            "set maxmemory-policy to volatile-ttl so the oldest pictures make room "
            "(`redis-cli CONFIG SET maxmemory-policy volatile-ttl`), or delete pictures you no "
            "longer need."
        )
    if isinstance(exc, redis.ResponseError):
        text = str(exc).lower()
        if "unknown command" in text and "ft." in text:
            return "search_module_missing", search_module_missing_message(where)
        if "timeout" in text:
            return "search_timeout", (
                "The search took longer than Redis allows. Fix: narrow the filter (a shorter time "
                "range or one camera), or raise GALLERY_SEARCH_TIMEOUT_MS."
            )
        if "loading" in text:
            return "redis_loading", (
                f"Redis at {where} is still loading its data. Fix: wait a few seconds and reload."
            )
        return "redis_error", (
            f"Redis at {where} refused the gallery's request ({_first_line(exc)}). Fix: check the "
            "Redis log and that it is Redis Stack 7.2 or newer, then reload; report it if it "
            "happens again."
        )
    return None


def is_out_of_memory(exc: BaseException) -> bool:
    """Tell whether Redis refused a write because it reached maxmemory (also inside MULTI/EXEC)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while isinstance(current, redis.ResponseError) and id(current) not in seen:
        seen.add(id(current))
        text = str(current).lower()
        if isinstance(current, redis.OutOfMemoryError) or text.startswith("oom") \
                or "used memory > 'maxmemory'" in text:
            return True
        current = current.__cause__ or current.__context__  # EXECABORT raised while handling an OOM
    return False


def _retry_after(exc: HTTPException) -> int:
    """Return the seconds a rate-limited client should wait (Flask-Limiter's window)."""
    limit = getattr(exc, "limit", None)
    try:
        reset = getattr(limit, "reset_at", None) if limit is not None else None
        return max(1, int(reset - time.time())) if reset else 60
    except (TypeError, ValueError):
        return 60


def _first_line(exc: Exception, limit: int = 160) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= limit else text[:limit] + "..."


def init_app(app: Flask) -> None:
    """Register the error handlers on the app."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.parameter)

    @app.errorhandler(BadParameter)
    def _bad_parameter(exc: BadParameter) -> Response:
        return error_response(400, "bad_parameter", exc.message, exc.parameter)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        messages = {
            404: "There is nothing at this address. Fix: check the link, or start from the gallery.",
            405: f"This address does not accept {request.method}. Fix: use the gallery's buttons.",
        }
        if status == 429:
            wait = _retry_after(exc)
            messages[429] = (f"Too many failed logins from this address. Fix: wait {wait} s, then "
                             "try again with the right password.")
        elif status == 413:
            messages[413] = ("This request is too large for the gallery (it takes at most 1 MB). "
                             "Fix: send less.")
        message = messages.get(status, f"{exc.name}. Fix: go back to the gallery and try again.")
        if status == 429 and request.endpoint == "auth.login" and not wants_json():
            # The login form again, saying how long to wait, so there is nowhere else to go.
            response = Response(render_template("login.html", error=message,
                                                next=request.args.get("next", "")),
                                mimetype="text/html")
            response.status_code = 429
        else:
            response = error_response(status, exc.name.lower().replace(" ", "_"), message)
        for name, value in exc.get_headers():  # Allow on a 405, Retry-After on a 429
            if name.lower() in ("allow", "retry-after"):
                response.headers[name] = value
        if status == 429 and "Retry-After" not in response.headers:
            response.headers["Retry-After"] = str(_retry_after(exc))
        return response

    @app.errorhandler(RecursionError)
    def _too_deep(exc: RecursionError) -> Response:
        # JSON nested thousands deep: Python's parser gives up (webargs reads bodies with it).
        return error_response(400, "bad_request", "This request's JSON is nested too deeply. "
                                                  "Fix: send the flat JSON object the API documents.")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        described = describe_redis_error(exc)
        if described is not None:
            code, message = described
            if code == "redis_error":
                # Not something a setting fixes: keep what a developer needs to find it.
                logger.error("Redis refused a command on %s %s: %s", request.method, request.path,
                             _first_line(exc, 500), exc_info=exc)
            else:
                logger.warning("%s %s: %s (%s: %s)", request.method, request.path, code,
                               type(exc).__name__, _first_line(exc))
            return error_response(REDIS_ERROR_STATUS.get(code, 503), code, message)
        logger.error("Unexpected error on %s %s", request.method, request.path, exc_info=exc)
        return error_response(500, "internal_error",
                              "The gallery hit an unexpected problem; it has been logged. "
                              "Fix: reload the page, and report it if it happens again.")
