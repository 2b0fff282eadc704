"""Safe by default: optional login, CSRF tokens for state changes, and security headers.

Everything is enforced in one `before_request`, so every blueprint (the time-lapse and live
views too) is covered without doing anything. The login's rate limit and the revocable
sessions are in `login.py`; README, "Security", says what is public and how to run behind
HTTPS.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as BaseResponse

from . import login as login_guard
from .errors import error_response
from .services import get_redis, services

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Reachable without logging in.
PUBLIC_ENDPOINTS = frozenset({"static", "api.healthz", "auth.login"})

#: No inline script or event handlers; style attributes set by script are allowed.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


def csrf_token() -> str:
    """Return this session's CSRF token, making one on first use."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def login_enabled() -> bool:
    """Tell whether a password protects the gallery."""
    return bool(services().settings.password)


#: The largest request body: the API's JSON bodies and the login form are a few hundred
#: bytes. Waitress refuses bigger bodies before reading them (serve.py), Flask too.
MAX_BODY_BYTES = 1024 * 1024
#: Control characters never belong in a redirect target (CR/LF would split the header).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _logged_in() -> bool:
    settings = services().settings
    return login_guard.session_is_live(get_redis(), settings.secret_key, settings.password or "")


def _guard() -> BaseResponse | None:
    if isinstance(request.routing_exception, MethodNotAllowed):
        return None  # a 405 with its Allow header, whatever the login or CSRF state
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return error_response(413, "too_large",
                              f"This request's body is {request.content_length:,} bytes; the gallery "
                              f"takes at most {MAX_BODY_BYTES:,}. Fix: send less.")
    if login_enabled() and request.endpoint not in PUBLIC_ENDPOINTS and not _logged_in():
        if request.path.startswith("/api/") or request.method not in SAFE_METHODS:
            return error_response(401, "login_required",
                                  "This gallery needs a password. Fix: log in at /login first.")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
        expected = session.get("csrf") or ""
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            return error_response(403, "csrf_failed",
                                  "This request lacks the page's CSRF token, so it was refused. "
                                  "Fix: reload the gallery page and try again.")
    return None


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _safe_next(target: str | None) -> str:
    """Return a same-site path to go to after login; anything else goes to the gallery."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target \
            or _CONTROL.search(target):
        return url_for("pages.index")
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else url_for("pages.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | str:
    """Show the login form, or check the password."""
    if not login_enabled():
        return redirect(url_for("pages.index"))
    error = None
    if request.method == "POST":
        password = request.form.get("password", "")
        settings = services().settings
        expected = settings.password or ""
        if hmac.compare_digest(password.encode(), expected.encode()):
            login_guard.start_session(get_redis(), settings.secret_key, expected)
            csrf_token()
            logger.info("Login from %s", login_guard.client_address())
            return redirect(_safe_next(request.args.get("next")))
        login_guard.log_failure()
        error = "That password is not right. Try again."
    return render_template("login.html", error=error, next=request.args.get("next", ""))


@bp.post("/logout")
def logout() -> BaseResponse:
    """End the login, here and wherever the session's cookie was copied."""
    login_guard.end_session(get_redis())
    return redirect(url_for("auth.login") if login_enabled() else url_for("pages.index"))


def init_app(app: Flask) -> None:
    """Install the login and CSRF checks, the security headers and the login routes."""
    settings = services(app).settings
    # Assigned, not setdefault: Flask already defines these keys (SameSite as None).
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.secure_cookie,
                      PERMANENT_SESSION_LIFETIME=login_guard.SESSION_LIFETIME,
                      MAX_CONTENT_LENGTH=MAX_BODY_BYTES, MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES)
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n,  # type: ignore[method-assign]
                                x_prefix=n)
    app.before_request(_guard)
    app.after_request(_headers)
    app.context_processor(lambda: {"csrf_token": csrf_token, "login_enabled": login_enabled()})
    app.register_blueprint(bp)
    login_guard.protect_login(app, services(app).redis)
