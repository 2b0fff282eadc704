"""Shared helpers for browser tests: headless Debian Chromium, a live gallery, demo pictures.

`python -m tests.browser docs/gallery.png` takes the README's screenshot: it starts its own
Redis on a free port, fills it with a day of realistic pictures from two cameras, serves
the gallery and photographs it, through the same functions the browser test uses.
"""

from __future__ import annotations

import random
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from flask import Flask
from waitress import create_server, wasyncore

from pi.cameras.simulated import SimulatedCamera
from pi.contract import CameraStatus, image_id, preview_channel, save_heartbeat, save_image
from pi.metadata import record_from_capture
from pi.preview import PreviewPublisher
from server.serve import socket_options, waitress_options
from tests.conftest import CHROMIUM, chromium_available

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

#: `pytestmark = BROWSER_TESTS` in a module of browser tests: marked, and skipped without Chromium.
BROWSER_TESTS = [
    pytest.mark.browser,
    pytest.mark.skipif(not chromium_available(), reason=f"{CHROMIUM} is not installed"),
]


# --- Browser and server ------------------------------------------------------------------------


@contextmanager
def launch_browser() -> Iterator:
    """Yield a headless Chromium (Debian's, never a downloaded one)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class ServerThread:
    """The gallery served by waitress on a free port, from a background thread.

    Served as `python -m server serve` does: server.serve's waitress options and socket
    options, with `threads` worker threads (default the app's GALLERY_THREADS). Use it as a
    context manager, or call start() and stop().
    """

    def __init__(self, app: Flask, threads: int | None = None) -> None:
        threads = threads or int(app.config.get("GALLERY_THREADS") or 64)
        self.server = create_server(app, host="127.0.0.1", port=0, **waitress_options(threads))
        self.server.adj.socket_options = socket_options()  # not a create_server keyword
        self.port = self.server.effective_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gallery-server", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            wasyncore.loop(timeout=0.1, map=self.server._map, count=1)

    def start(self) -> ServerThread:
        """Start serving."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: the worker threads are given 5 s, then open connections are closed."""
        self._stop.set()
        self._thread.join(5)
        self.server.task_dispatcher.shutdown(timeout=5)
        wasyncore.close_all(self.server._map)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ConsoleErrors:
    """Collects console errors, uncaught page errors and dialogs (alert() must never run).

    With `failed_requests_ok`, the console's "Failed to load resource" lines (an HTTP error
    status the test itself judges) are not counted; script errors always are.
    """

    def __init__(self, page, failed_requests_ok: bool = False) -> None:
        self.errors: list[str] = []
        self.failed_requests_ok = failed_requests_ok
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("dialog", self._dialog)

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        if self.failed_requests_ok and msg.text.startswith("Failed to load resource"):
            return
        self.errors.append(f"console: {msg.text}")

    def _dialog(self, dialog) -> None:
        self.errors.append(f"dialog: {dialog.type} {dialog.message}")
        dialog.dismiss()

    def assert_none(self) -> None:
        """Fail with every error seen, if any."""
        assert not self.errors, "\n".join(self.errors)


def page_query(page) -> dict[str, str]:
    """Return the page URL's query parameters (first value of each)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def screenshot(page, path: Path, viewport: dict | None = None, full_page: bool = False) -> Path:
    """Resize the page (optionally), let layout settle, and write a PNG."""
    if viewport:
        page.set_viewport_size(viewport)
        page.wait_for_timeout(400)
    page.screenshot(path=str(path), full_page=full_page)
    return path


def in_first_screen(page, selector: str) -> dict[str, int]:
    """Count the elements matching `selector` a user sees without scrolling.

    Returns {"whole": n, "partly": m}: wholly inside the viewport, and at least partly in
    it. Counts, not pixel offsets, so a wider font moves nothing here that a user would not
    notice too.
    """
    return page.evaluate(
        """sel => {
            const h = window.innerHeight, w = window.innerWidth;
            let whole = 0, partly = 0;
            for (const el of document.querySelectorAll(sel)) {
                const r = el.getBoundingClientRect();
                if (r.width === 0 || r.height === 0) continue;
                if (r.bottom > 0 && r.top < h && r.right > 0 && r.left < w) partly++;
                if (r.top >= 0 && r.bottom <= h && r.left >= 0 && r.right <= w) whole++;
            }
            return {whole, partly};
        }""", selector)


def layout_relation(page, first: str, second: str) -> str:
    """Tell how two elements sit: "same row" (their heights overlap), "above" or "below"."""
    return page.evaluate(
        """([a, b]) => {
            const r1 = document.querySelector(a).getBoundingClientRect();
            const r2 = document.querySelector(b).getBoundingClientRect();
            if (r1.bottom <= r2.top) return "above";
            if (r1.top >= r2.bottom) return "below";
            return "same row";
        }""", [first, second])


def wait_for_thumbnails(page, at_least: int = 1, timeout: float = 15000) -> None:
    """Wait until at least `at_least` card thumbnails have loaded."""
    page.wait_for_function(
        "n => Array.from(document.querySelectorAll('.image-card img'))"
        ".filter(i => i.complete && i.naturalWidth > 0).length >= n", arg=at_least, timeout=timeout)


# --- Demo pictures --------------------------------------------------------------------------------

def store_scene(client: redis.Redis, camera: str, ts: float, *, trigger: str = "interval",
                ttl: float = 86400, extra: dict[str, str] | None = None,
                lux: float | None = None, utc_offset: float | None = None) -> str:
    """Store one picture from the daemon's simulated camera, taken at `ts`; return its id.

    The scene shows the local time of day at `ts`, or the time at `utc_offset` seconds from
    UTC. The record is made and stored by the daemon's own code.
    """
    shift = 0.0 if utc_offset is None else utc_offset - time.localtime(ts).tm_gmtoff
    camera_obj = SimulatedCamera(resolution=(1280, 720), label=camera, clock=lambda: ts + shift)
    record = record_from_capture(camera_obj.capture(), camera, trigger, ts)
    if lux is not None:
        record.lux = lux
    record.extra.update(extra or {})
    new_id = image_id(camera, ts)
    save_image(client, record, ttl, new_id)
    return new_id


def seed_demo_gallery(client: redis.Redis, count: int = 36, step: float = 40 * 60,
                      now: float | None = None, utc_offset: float | None = None) -> list[str]:
    """Fill Redis with `count` pictures from two cameras, one every `step` seconds back from now.

    The garden camera also gets a live heartbeat, so one camera shows online. The light
    follows the local time of day, or that at `utc_offset` seconds from UTC.
    """
    now = time.time() if now is None else now
    ids = []
    triggers = ["interval"] * 5 + ["motion", "sensor"]
    rnd = random.Random(7)
    for i in range(count):
        camera = "garden" if i % 3 else "driveway"
        ts = now - 90 - i * step + rnd.uniform(-300, 300)
        ids.append(store_scene(client, camera, ts, trigger=rnd.choice(triggers),
                               ttl=86400 * 2 - i * 1800, utc_offset=utc_offset))
    beat = CameraStatus(camera="garden", host="pi-garden", started_at=now - 86400,
                        last_capture=now - 90, last_id=ids[1], triggers="interval,motion")
    save_heartbeat(client, beat, 600)
    return ids


def readme_screenshot(redis_url: str, out: Path, viewport: dict | None = None) -> Path:
    """Fill the (empty) Redis at `redis_url` with demo pictures and photograph the gallery."""
    from pi.redis_connection import connect
    from server import create_app

    client = connect(redis_url)
    # Photograph it where it is mid-afternoon now, so the newest pictures are in daylight.
    hours = round(15.5 - time.gmtime().tm_hour - time.gmtime().tm_min / 60)
    hours = (hours + 12) % 24 - 12
    seed_demo_gallery(client, count=40, step=35 * 60, utc_offset=hours * 3600)
    app = create_app({"REDIS_URL": redis_url, "GALLERY_PASSWORD": None})
    # The garden camera's live preview, published by the daemon's own publisher.
    stop = threading.Event()
    shift = hours * 3600 - time.localtime().tm_gmtoff
    live_camera = SimulatedCamera(resolution=(1280, 720), label="garden",
                                  clock=lambda: time.time() + shift)
    publisher = PreviewPublisher(client, preview_channel("garden"), live_camera.preview,
                                 fps=2, max_bytes=500_000, stop=stop)
    publisher.start()
    try:
        with ServerThread(app) as server, launch_browser() as browser:
            context = browser.new_context(viewport=viewport or {"width": 1440, "height": 900},
                                          timezone_id=f"Etc/GMT{-hours:+d}", locale="en-GB")
            page = context.new_page()
            page.goto(server.url + "/")
            wait_for_thumbnails(page, 24)  # pictures first; the overview is one click away
            page.wait_for_timeout(1500)
            out.parent.mkdir(parents=True, exist_ok=True)
            screenshot(page, out)
    finally:
        stop.set()
        publisher.join(5)
    client.close()
    return out


def main(argv: list[str] | None = None) -> int:
    """Write the README screenshot to the path given (default docs/gallery.png)."""
    from server.tooling.embedded_redis import EmbeddedRedis, free_port

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "docs/gallery.png")
    with tempfile.TemporaryDirectory() as data, \
            EmbeddedRedis(data_dir=data, port=free_port(), maxmemory="256mb", appendonly=False) as srv:
        readme_screenshot(srv.url, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
