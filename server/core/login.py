"""Login protection: failed guesses are rate limited, sessions can be ended server-side,
and failures are logged in a way an attacker can't flood.

- **Rate limit** (Flask-Limiter, stored in the gallery's Redis so every gallery process shares
  it): only *failed* logins count. Per client address: 5 a minute and 30 an hour; a client
  refused 4 times within an hour is refused for the hour (Flask-Limiter's meta limit: the
  backoff). For everyone together: 100 failures a minute and 2000 an hour, which caps a guessing
  attack spread over many addresses. A refused login is a 429 with Retry-After; while refused,
  even the right password waits, so guessing can't go on meanwhile. Behind a reverse proxy set
  GALLERY_TRUSTED_PROXIES, or every client shares the proxy's address.
- **Revocable sessions**: a login stores a random session id in Redis (`gallery:session:<id>`,
  expiring with the cookie). The cookie carries the id and a keyed fingerprint of the password.
  Logout deletes the id, so a copied cookie dies with it; a new GALLERY_PASSWORD changes the
  fingerprint, so every older session ends even with the same SECRET_KEY.
- **Quiet log**: the first failure is logged, then at most one summary a minute ("N failed
  logins in the last 60 s, the last from ADDRESS"); never the password tried.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from datetime import timedelta
from typing import Any

import redis
from flask import Flask, request, session
from flask_limiter import Limiter, RequestLimit

from pi.contract import LOGIN_LIMITS_KEY_PREFIX, session_key

from .services import services

logger = logging.getLogger(__name__)

#: Failed logins allowed per client address, and for everyone together.
PER_CLIENT = "5 per minute;30 per hour"
#: Refused this often, a client waits for the hour: the backoff.
PER_CLIENT_BACKOFF = "4 per hour"
GLOBAL = "100 per minute;2000 per hour"
#: How long a session lasts (the cookie's and the Redis id's lifetime).
SESSION_LIFETIME = timedelta(days=31)
#: At most one summary line of failed logins per this many seconds.
LOG_EVERY = 60.0


def client_address() -> str:
    """Return the client's address (ProxyFix has already put the proxy's X-Forwarded-For there)."""
    return request.remote_addr or "unknown"


def _failed(response) -> bool:
    """A login POST that did not log in (a right password redirects)."""
    return response.status_code != 302


def protect_login(app: Flask, client: redis.Redis, endpoint: str = "auth.login") -> Limiter:
    """Rate limit failed logins of `app`'s login view, stored in `client`'s Redis."""
    limiter = Limiter(
        client_address, app=app, storage_uri="redis://",
        storage_options={"connection_pool": client.connection_pool},
        key_prefix=LOGIN_LIMITS_KEY_PREFIX, strategy="moving-window", headers_enabled=True,
        # Redis away: limit in memory meanwhile rather than refuse every login with a 500.
        swallow_errors=True, in_memory_fallback_enabled=True,
        on_breach=_log_refused)
    view: Any = app.view_functions[endpoint]
    view = limiter.shared_limit(GLOBAL, scope="login-all", key_func=lambda: "all", methods=["POST"],
                                deduct_when=_failed)(view)
    view = limiter.shared_limit(PER_CLIENT, scope="login-client", methods=["POST"],
                                deduct_when=_failed, meta_limits=[PER_CLIENT_BACKOFF])(view)
    app.view_functions[endpoint] = view
    return limiter


class QuietLog:
    """Log the first event, then at most one summary line per LOG_EVERY seconds."""

    def __init__(self, what: str, every: float = LOG_EVERY, clock=time.monotonic) -> None:
        self.what, self.every, self.clock = what, every, clock
        self._lock = threading.Lock()
        self._count = 0
        self._since = float("-inf")
        self._last_addr = ""

    def failed(self, addr: str) -> None:
        with self._lock:
            now = self.clock()
            self._count += 1
            self._last_addr = addr
            if now - self._since < self.every:
                return
            count, self._count, window = self._count, 0, now - self._since
            self._since = now
        if window == float("inf"):
            logger.warning("%s from %s (more are summed up, one line a minute at most)",
                           self.what, addr)
        else:
            logger.warning("%d x %s in the last %.0f s, the last from %s", count, self.what,
                           window, addr)


class LoginLog:
    """The app's two quiet logs: failed logins, and logins the rate limit refused."""

    def __init__(self) -> None:
        self.failed = QuietLog("Failed login")
        self.refused = QuietLog("Login refused by the rate limit")


def _log() -> LoginLog:
    return services().one(LoginLog, LoginLog)


def log_failure() -> None:
    """Note a failed login in the log, without flooding it."""
    _log().failed.failed(client_address())


def _log_refused(limit: RequestLimit) -> None:
    _log().refused.failed(client_address())


def fingerprint(secret_key: str, password: str) -> str:
    """Return a keyed digest of the password: changes when the password does, reveals nothing."""
    return hmac.new(secret_key.encode(), b"gallery-password\0" + password.encode(),
                    hashlib.sha256).hexdigest()[:32]


def start_session(client: redis.Redis, secret_key: str, password: str) -> None:
    """Log the current session in: a fresh id in Redis and in the cookie."""
    sid = secrets.token_urlsafe(24)
    client.set(session_key(sid), "1", ex=int(SESSION_LIFETIME.total_seconds()))
    session.clear()
    session["user"] = True
    session["sid"] = sid
    session["pw"] = fingerprint(secret_key, password)
    session.permanent = True


def session_is_live(client: redis.Redis, secret_key: str, password: str) -> bool:
    """Tell whether the current cookie belongs to a session that was not ended."""
    sid, pw = session.get("sid"), session.get("pw")
    if not session.get("user") or not isinstance(sid, str) or not isinstance(pw, str):
        return False
    if not hmac.compare_digest(pw, fingerprint(secret_key, password)):
        return False  # the password changed since this login
    return bool(client.exists(session_key(sid)))


def end_session(client: redis.Redis) -> None:
    """Log the current session out, here and wherever its cookie was copied."""
    sid = session.get("sid")
    if isinstance(sid, str):
        client.delete(session_key(sid))
    session.clear()
