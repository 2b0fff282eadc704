"""Cancelling a time-lapse in the dialog shows one toast, "Time-lapse cancelled.", and not
also "cancelled elsewhere" from a poll that saw the job vanish while the cancel ran."""

from __future__ import annotations

import time

import pytest

from pi.contract import ensure_index
from server.timelapse import engine
from tests.browser import BROWSER_TESTS
from tests.factories import store_image

pytestmark = BROWSER_TESTS

FRAMES = 40
#: How long the frame in hand when the cancel comes takes to finish: longer than the page's
#: 1 s poll interval, so polls are sure to run while the server's DELETE waits for it.
LAST_FRAME_SECONDS = 2.5

# Records every toast the page shows, even those already gone when the test looks.
RECORD_TOASTS = """() => {
  window.__toasts = [];
  new MutationObserver((changes) => {
    for (const change of changes) {
      for (const node of change.addedNodes) {
        if (node.nodeType === 1) window.__toasts.push(node.textContent.trim());
      }
    }
  }).observe(document.getElementById("toasts"), { childList: true });
}"""


@pytest.fixture
def slow_after_cancel(r, monkeypatch):
    """Frames take 0.3 s; from the fourth, each waits until the job's state is deleted (the
    cancel), then takes LAST_FRAME_SECONDS more, as a large frame being encoded would."""
    real = engine.render_frame
    calls = []

    def slow(*args, **kwargs):
        calls.append(1)
        if len(calls) <= 3:
            time.sleep(0.3)
        else:
            deadline = time.monotonic() + 30
            while r.keys("timelapse:*") and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(LAST_FRAME_SECONDS)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "render_frame", slow)


def test_cancel_shows_only_time_lapse_cancelled(r, gallery, page, slow_after_cancel,
                                                artifacts_dir):
    ensure_index(r)
    now = time.time()
    for i in range(FRAMES):
        store_image(r, camera="garden", timestamp=now - 1200 + i * 20)

    page.goto(gallery.url + "/")
    page.evaluate(RECORD_TOASTS)
    page.click("#tl-open")
    page.wait_for_selector("#tl-modal.is-active")
    page.click("#tl-start")
    # Mid-run: some frames done, most to go.
    page.wait_for_function(
        "() => { const b = document.getElementById('tl-bar');"
        " return b.offsetParent !== null && b.value > 0 && b.value < b.max; }", timeout=15000)
    assert r.hget(next(iter(r.keys("timelapse:*"))), "status") == b"running"

    page.click("#tl-cancel")
    page.wait_for_selector("#tl-form:not(.is-hidden)", timeout=15000)
    page.wait_for_timeout(2000)  # room for any late poll to report something

    toasts = page.evaluate("window.__toasts")
    page.screenshot(path=str(artifacts_dir / "timelapse-cancelled.png"))
    assert toasts == ["Time-lapse cancelled."]
    assert page.is_hidden("#tl-chip")
    assert page.evaluate("localStorage.getItem('gallery.timelapse.job')") is None
    assert r.keys("timelapse:*") == []
