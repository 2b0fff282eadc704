"""The stream budget: how many long-lived responses (event streams and live MJPEG) one
gallery process serves at once.

Each open stream holds one of waitress's worker threads for its whole life. Without a cap,
GALLERY_THREADS streams (64 by default) leave no thread for anything else, and every other
request waits. The budget (GALLERY_MAX_STREAMS; 0 means half the threads) is shared by both
kinds; past it a stream is refused at once with a 503 and Retry-After, and the browser retries
later, while the other half of the threads keeps answering the pages and the API.
"""

from __future__ import annotations

import threading

from .services import services

#: Seconds a refused stream is told to wait before asking again.
RETRY_AFTER = 10


class StreamBudget:
    """A counter of open streams with a ceiling; thread-safe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> int:
        """How many streams are open now."""
        return self._open

    def take(self) -> bool:
        """Take a place for a stream; False when the budget is spent."""
        with self._lock:
            if self._open >= self.limit:
                return False
            self._open += 1
            return True

    def give_back(self) -> None:
        """Return a place (call once per successful take())."""
        with self._lock:
            self._open = max(0, self._open - 1)


def stream_budget() -> StreamBudget:
    """Return this gallery process's stream budget (GALLERY_MAX_STREAMS)."""
    found = services()
    return found.one(StreamBudget, lambda: StreamBudget(found.settings.stream_budget))
