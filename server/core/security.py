"""Safe by default: optional login, CSRF tokens for state changes, and security headers.

Everything is enforced in one `before_request`, so every blueprint (the time-lapse and live
views too) is covered without doing anything.
"""

from __future__ import annotations

import hmac
import logging
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
from werkzeug.wrappers import Response as BaseResponse

from .errors import error_response
from .services import services

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


def _guard() -> BaseResponse | None:
    if login_enabled() and request.endpoint not in PUBLIC_ENDPOINTS and not session.get("user"):
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
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
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
        expected = services().settings.password or ""
        if hmac.compare_digest(password.encode(), expected.encode()):
            session.clear()
            session["user"] = True
            session.permanent = True
            csrf_token()
            logger.info("Login from %s", request.remote_addr)
            return redirect(_safe_next(request.args.get("next")))
        logger.warning("Failed login from %s", request.remote_addr)
        error = "That password is not right. Try again."
    return render_template("login.html", error=error, next=request.args.get("next", ""))


@bp.post("/logout")
def logout() -> BaseResponse:
    """Forget the login."""
    session.clear()
    return redirect(url_for("auth.login") if login_enabled() else url_for("pages.index"))


def init_app(app: Flask) -> None:
    """Install the login and CSRF checks, the security headers and the login routes."""
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.before_request(_guard)
    app.after_request(_headers)
    app.context_processor(lambda: {"csrf_token": csrf_token, "login_enabled": login_enabled()})
    app.register_blueprint(bp)
