"""Shared helpers for browser tests: headless Debian Chromium, a live gallery, demo pictures.

`python -m tests.browser docs/gallery.png` takes the README's screenshot: it starts its own
Redis on a free port, fills it with a day of realistic pictures from two cameras, serves
the gallery and photographs it, through the same functions the browser test uses.
"""

from __future__ import annotations

import io
import math
import random
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import redis
from flask import Flask
from PIL import Image, ImageDraw

from pi.contract import CameraStatus, ImageRecord, camera_key, image_id, save_image

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


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


class LiveServer:
    """The gallery served by waitress on a free port, in a background thread."""

    def __init__(self, app: Flask, threads: int = 16) -> None:
        from waitress.server import create_server

        self.server = create_server(app, host="127.0.0.1", port=0, threads=threads,
                                    outbuf_high_watermark=2 * 1024 * 1024,
                                    channel_request_lookahead=1)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="gallery-server")

    def start(self) -> LiveServer:
        """Start serving."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (open event streams are dropped)."""
        self.server.close()
        self.thread.join(5)


@contextmanager
def live_gallery(app: Flask) -> Iterator[LiveServer]:
    """Serve `app` on a free port for the duration of the block."""
    server = LiveServer(app).start()
    try:
        yield server
    finally:
        server.stop()


class ConsoleErrors:
    """Collects console errors, uncaught page errors and dialogs (alert() must never run)."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        self.errors.append(f"dialog: {dialog.type} {dialog.message}")
        dialog.dismiss()

    def assert_none(self) -> None:
        """Fail with every error seen, if any."""
        assert not self.errors, "\n".join(self.errors)


def screenshot(page, path: Path, viewport: dict | None = None, full_page: bool = False) -> Path:
    """Resize the page (optionally), let layout settle, and write a PNG."""
    if viewport:
        page.set_viewport_size(viewport)
        page.wait_for_timeout(400)
    page.screenshot(path=str(path), full_page=full_page)
    return path


def wait_for_thumbnails(page, at_least: int = 1, timeout: float = 15000) -> None:
    """Wait until at least `at_least` card thumbnails have loaded."""
    page.wait_for_function(
        "n => Array.from(document.querySelectorAll('.image-card img'))"
        ".filter(i => i.complete && i.naturalWidth > 0).length >= n", arg=at_least, timeout=timeout)


# --- Demo pictures --------------------------------------------------------------------------------

CAMERAS = {"garden": (0.35, 0.55, 0.25), "driveway": (0.42, 0.42, 0.44)}


def _clock(ts: float, utc_offset: float | None) -> time.struct_time:
    """Return the wall-clock time at `ts`: local, or at `utc_offset` seconds from UTC."""
    return time.localtime(ts) if utc_offset is None else time.gmtime(ts + utc_offset)


def daylight(ts: float, utc_offset: float | None = None) -> float:
    """Return a plausible outdoor lux for a Unix time (solar day, clouds included)."""
    clock = _clock(ts, utc_offset)
    hour = clock.tm_hour + clock.tm_min / 60
    sun = math.sin(math.pi * (hour - 6) / 14) if 6 <= hour <= 20 else 0.0
    clouds = 0.75 + 0.25 * math.sin(ts / 1700.0) * math.cos(ts / 4100.0)
    return round(max(0.3, 1800.0 * sun ** 1.6 * clouds + (2.5 if sun == 0 else 0)), 1)


def scene(camera: str, ts: float, lux: float, width: int = 1280, height: int = 720,
          utc_offset: float | None = None) -> Image.Image:
    """Draw a simple outdoor scene whose light follows `lux` (sky, sun, hills, trees, house)."""
    rnd = random.Random(f"{camera}{int(ts // 60)}")
    light = min(1.0, (lux / 1500.0) ** 0.45)
    y = np.linspace(0.0, 1.0, height)[:, None]
    night, day = np.array([0.03, 0.04, 0.10]), np.array([0.38, 0.62, 0.93])
    horizon = np.array([0.95, 0.62, 0.40]) if 0.05 < light < 0.45 else np.array([0.80, 0.88, 0.97])
    top = night + (day - night) * light
    sky = top + (horizon * max(light, 0.15) - top) * (y ** 1.5)
    img = np.broadcast_to(sky[:, None, :], (height, width, 3)).copy()
    ground = np.array(CAMERAS.get(camera, (0.4, 0.5, 0.3))) * (0.15 + 0.85 * light)
    hills = (0.62 + 0.05 * np.sin(np.linspace(0, 7, width) + (0 if camera == "garden" else 2))
             + 0.03 * np.sin(np.linspace(0, 23, width)))
    mask = np.linspace(0, 1, height)[:, None] > hills[None, :]
    darker_far = np.broadcast_to(np.linspace(0.85, 1.15, height)[:, None], (height, width))
    img[mask] = ground * darker_far[mask][:, None]
    noise = np.random.default_rng(int(ts)).normal(0, 0.015 + 0.04 * (1 - light), (height, width, 1))
    pil = Image.fromarray((np.clip(img + noise, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    clock = _clock(ts, utc_offset)
    hour = clock.tm_hour + clock.tm_min / 60
    if 6 <= hour <= 20:  # the sun crosses the sky
        sx, sy = width * (hour - 6) / 14, height * (0.55 - 0.42 * math.sin(math.pi * (hour - 6) / 14))
        draw.ellipse([sx - 28, sy - 28, sx + 28, sy + 28], fill=(255, 236, 170))
    else:  # stars and a moon
        for _ in range(60):
            x, yy = rnd.uniform(0, width), rnd.uniform(0, height * 0.5)
            draw.point((x, yy), fill=(230, 230, 255))
        draw.ellipse([width * 0.8, 60, width * 0.8 + 36, 96], fill=(235, 235, 210))
    shade = int(20 + 60 * light)
    if camera == "garden":
        for x in (160, 260, 980, 1120):
            draw.rectangle([x - 8, 420, x + 8, 520], fill=(shade + 20, shade, shade - 10))
            draw.ellipse([x - 60, 300, x + 60, 450], fill=(shade - 10, shade + 40, shade - 5))
    else:
        draw.rectangle([520, 330, 860, 520], fill=(shade + 50, shade + 30, shade + 20))
        draw.polygon([(500, 340), (690, 230), (880, 340)], fill=(shade + 10, shade - 5, shade - 10))
        window = (250, 210, 120) if light < 0.3 else (shade + 90, shade + 100, shade + 120)
        draw.rectangle([570, 380, 640, 440], fill=window)
        draw.rectangle([730, 420, 790, 520], fill=(shade, shade - 10, shade - 15))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", clock)
    draw.text((16, height - 28), f"{camera}  {stamp}", fill=(255, 255, 255))
    return pil


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def store_scene(client: redis.Redis, camera: str, ts: float, *, trigger: str = "interval",
                ttl: float = 86400, extra: dict[str, str] | None = None,
                lux: float | None = None, utc_offset: float | None = None) -> str:
    """Store one demo picture the way the capture daemon does; return its id.

    The light follows the time of day here, or at `utc_offset` seconds from UTC.
    """
    lux = daylight(ts, utc_offset) if lux is None else lux
    img = scene(camera, ts, lux, utc_offset=utc_offset)
    thumb = img.resize((480, 270), Image.Resampling.BILINEAR)
    light = min(1.0, lux / 1500.0)
    record = ImageRecord(
        timestamp=ts, image_data=_jpeg(img, 85), lux=lux, camera=camera, trigger=trigger,
        width=img.width, height=img.height, exposure_time=int(33000 - 32000 * light),
        analogue_gain=round(8.0 - 7.0 * light, 2), colour_temperature=int(3200 + 2600 * light),
        lens_position=1.0, thumbnail=_jpeg(thumb, 75), extra=extra or {},
    )
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
    client.hset(camera_key("garden"), mapping=beat.to_hash())
    client.expire(camera_key("garden"), 600)
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
    with live_gallery(app) as server, launch_browser() as browser:
        context = browser.new_context(viewport=viewport or {"width": 1440, "height": 1000},
                                      timezone_id=f"Etc/GMT{-hours:+d}", locale="en-GB")
        page = context.new_page()
        page.goto(server.url + "/")
        wait_for_thumbnails(page, 12)
        page.wait_for_selector("#chart .chart-line")
        page.wait_for_selector(".live-state.is-live")
        page.wait_for_timeout(500)
        out.parent.mkdir(parents=True, exist_ok=True)
        screenshot(page, out)
    client.close()
    return out


def main(argv: list[str] | None = None) -> int:
    """Write the README screenshot to the path given (default docs/gallery.png)."""
    from server.embedded_redis import EmbeddedRedis, free_port

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "docs/gallery.png")
    with tempfile.TemporaryDirectory() as data, \
            EmbeddedRedis(data_dir=data, port=free_port(), maxmemory="256mb", appendonly=False) as srv:
        readme_screenshot(srv.url, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
