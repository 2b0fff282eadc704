"""Small helpers shared by the tests (no tests here)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

from server.tooling.embedded_redis import EmbeddedRedis


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05,
               message: str | Callable[[], object] = "timed out waiting") -> Any:
    """Poll predicate() until it is truthy and return its value.

    It is called at once, then every `interval` seconds, and a last time at `timeout`
    seconds; if it is still falsy then, raise AssertionError with `message` (a string, or
    a callable called for it) and the last value.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            text = message() if callable(message) else message
            raise AssertionError(f"{text} (after {timeout:g} s, last value {value!r})")
        time.sleep(min(interval, remaining))


class FakeClock:
    """A clock for code that takes `clock=`: it reads `now`, which the test sets or advances."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def kill_server(server: EmbeddedRedis) -> None:
    """Kill a Redis the test started at once (SIGKILL), as a crash would."""
    if server.process is not None:
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        if server.process.stderr:
            server.process.stderr.close()
        server.process = None
