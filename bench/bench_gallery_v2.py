"""Gallery v2 benchmark (issue 12): what a user's browser pays, against today's gallery and
the reference, measured in one run.

Two galleries are served side by side from the same Redis, each as its own
`python -m server serve` process:

- **baseline**: the gallery as it was before gallery v2 (git commit BENCH_BASELINE, default
  the one named below), extracted with `git archive` into a temporary folder;
- **candidate**: this working tree.

A third page is the reference's (simonprickett/redis-pi-camera): its first page lists the
newest 9 pictures and shows each at full size, Bulma from a CDN (counted here compressed, as
a CDN sends it). The bench serves an equivalent page written for it from its description.

Figures (each printed as a ratio in the same run):

1. First-screen bytes, cold Chromium at 1440x900, every byte on the wire (HTML, CSS, JS,
   JSON, thumbnails), with real photographs (scikit-image's sample photos, upscaled to
   4608x2592 with sensor noise; synthetic scenes if scikit-image is not installed).
   Target: reference / candidate >= 25.
2. Whole thumbnails in the first screen at 1440x900 and 390x844. Target >= 12 and >= 6.
3. Background bytes of an idle open tab, two simulated cameras capturing and previewing,
   the live view scrolled away: measured over BENCH_IDLE_SECONDS (default 150 s) and
   extrapolated to an hour (it is a steady state: the same requests repeat). Target <= 5 MB/h.
4. Idle frame time with 1,000 cards loaded / with 24. Target <= 2.
5. A zip of 500 pictures: the gallery's peak RSS while streaming it / its idle RSS.
   Target <= 1.5 (candidate only: the baseline has no zip download).

Run: .venv/bin/python bench/bench_gallery_v2.py [first-screen] [idle] [frames] [zip]
(all by default; about 10 minutes). Needs Debian's Chromium.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_gallery import scene  # noqa: E402
from pi.contract import INDEX_NAME, ImageRecord, ensure_index, image_id, save_image  # noqa: E402
from pi.redis_connection import connect  # noqa: E402
from pi.thumbnails import make_thumbnail  # noqa: E402

try:  # the wings layout, then the flat one
    from server.tooling.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
except ImportError:  # pragma: no cover - before the wings merge
    from server.embedded_redis import EmbeddedRedis, free_port  # noqa: E402

#: Today's gallery (main before gallery v2). Override with BENCH_BASELINE=<commit>.
BASELINE_REF = os.environ.get("BENCH_BASELINE", "bc8cbd7")
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "150"))
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
CARD_IMG = ".image-card img"
#: Bulma's whole stylesheet, as the baseline and the reference's CDN link serve it.
BULMA_FULL = ROOT / "node_modules" / "bulma" / "css" / "bulma.min.css"
PHOTO_SIZE = (4608, 2592)
#: scikit-image's bundled sample photographs (colour, natural scenes), when installed.
SAMPLE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png",
                 "motorcycle_right.png", "rocket.jpg", "hubble_deep_field.jpg", "retina.jpg")


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


# --- Pictures --------------------------------------------------------------------------------


def sample_photos() -> tuple[list[Image.Image], str]:
    """Return real photographs (scikit-image's sample data, read without importing it)."""
    spec = importlib.util.find_spec("skimage")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" if spec else None
    if folder is None or not folder.is_dir():
        return [], "synthetic scenes (pip install scikit-image for real photographs)"
    photos = [Image.open(folder / name).convert("RGB") for name in SAMPLE_PHOTOS
              if (folder / name).exists()]
    return photos, f"{len(photos)} real photographs from scikit-image's sample data"


def synthetic(seed: int) -> Image.Image:
    return scene(np.random.default_rng(seed)).filter(ImageFilter.GaussianBlur(1))


def full_size_jpeg(source: Image.Image, seed: int, size: tuple[int, int] = PHOTO_SIZE) -> bytes:
    """Crop a photo to 16:9, enlarge it to `size` and add sensor noise, as a 12 MP JPEG."""
    w, h = source.size
    crop_h = min(h, int(w * 9 / 16))
    top = (h - crop_h) // 2
    img = source.crop((0, top, w, top + crop_h)).resize(size, Image.Resampling.LANCZOS)
    rnd = np.random.default_rng(seed)
    pixels = np.asarray(img, dtype=np.int16) + rnd.normal(0, 3, (size[1], size[0], 1)).astype(np.int16)
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=85)
    return out.getvalue()


def make_photos(count: int, size: tuple[int, int] = PHOTO_SIZE) -> tuple[list[tuple[bytes, bytes]], str]:
    """Return `count` (full-size JPEG, daemon thumbnail) pairs and what they were made from."""
    photos, what = sample_photos()
    out = []
    for i in range(count):
        source = photos[i % len(photos)] if photos else synthetic(i)
        if photos and i >= len(photos):
            source = source.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        jpeg = full_size_jpeg(source, i, size)
        out.append((jpeg, make_thumbnail(jpeg, (320, 320))))
    return out, what


def store_pictures(client, photos: list[tuple[bytes, bytes]], count: int, now: float,
                   step: float = 600.0, size: tuple[int, int] = PHOTO_SIZE) -> None:
    """Store `count` pictures as the capture daemon does (one hash, TTL, stream entry)."""
    rnd = random.Random(12)
    for i in range(count):
        jpeg, thumb = photos[i % len(photos)]
        camera = ("garden", "driveway")[i % 2]
        ts = now - 60 - i * step
        record = ImageRecord(timestamp=ts, image_data=jpeg, thumbnail=thumb, camera=camera,
                             trigger=rnd.choice(["interval"] * 5 + ["motion"]),
                             lux=round(rnd.uniform(0, 900), 1), width=size[0], height=size[1],
                             exposure_time=12000, analogue_gain=1.5)
        save_image(client, record, 7 * 86400, image_id(camera, ts))


def fresh(client) -> None:
    """Empty Redis and make the index again (both galleries would, on their next search)."""
    client.flushall()
    ensure_index(client, "bench")


def wait_indexed(client, count: int) -> None:
    deadline = time.monotonic() + 60
    while int(client.ft(INDEX_NAME).info()["num_docs"]) < count and time.monotonic() < deadline:
        time.sleep(0.05)


# --- The galleries and the reference page ------------------------------------------------------


def extract_baseline(dest: Path) -> Path:
    """Write today's gallery (pi/ and server/ at BASELINE_REF) into `dest`; return it."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE_REF, "pi", "server"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    # The asset that commit's set-up fetched: Bulma 1.0.4 whole (the npm package holds it).
    (dest / "server" / "static" / "vendor").mkdir(parents=True, exist_ok=True)
    shutil.copy(BULMA_FULL, dest / "server" / "static" / "vendor" / "bulma-1.0.4.min.css")
    return dest


class Gallery:
    """One gallery process, `python -m server serve`, run from `source` on a free port."""

    def __init__(self, name: str, source: Path, redis_url: str) -> None:
        self.name, self.source, self.redis_url = name, source, redis_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Gallery:
        env = {**os.environ, "REDIS_URL": self.redis_url, "GALLERY_PASSWORD": "",
               "SECRET_KEY": "bench", "GALLERY_HOST": "127.0.0.1", "GALLERY_PORT": str(self.port),
               "PYTHONPATH": str(self.source)}
        self.proc = subprocess.Popen([sys.executable, "-m", "server", "serve"], cwd=self.source,
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} gallery exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/api/images?limit=1", timeout=5):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} gallery did not answer")

    def __exit__(self, *exc: object) -> None:
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def rss_kb(self, field: str = "VmRSS") -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(field)

    def reset_peak(self) -> None:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")  # resets VmHWM


REFERENCE_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Redis Raspberry Pi Image Capture Demo</title><link rel="stylesheet" href="/cdn/bulma.min.css"></head>
<body><div class="container"><section class="hero has-background-danger-dark is-bold"><div class="hero-body">
<h1 class="title has-text-white has-text-centered">Redis Raspberry Pi Image Capture Demo</h1></div></section>
<div class="box"><div class="columns is-flex-wrap-wrap" id="imageArea"></div></div>
<footer class="footer"><p>Redis Raspberry Pi Image Capture Demo</p></footer></div>
<script src="/static/app.js" defer></script></body></html>"""

# The reference's first page, as its README and code describe it: fetch the newest nine, then
# one card each with the full-size picture in a 16:9 figure and the metadata listed under it.
REFERENCE_JS = """(async () => {
  const list = await (await fetch('/api/images')).json();
  const area = document.getElementById('imageArea');
  for (const item of list) {
    const card = document.createElement('div'); card.className = 'card m-4';
    const fig = document.createElement('figure'); fig.className = 'image is-16by9';
    const img = document.createElement('img');
    img.src = '/api/image/' + item.id; img.alt = 'Image ' + item.id;
    fig.append(img); card.append(fig);
    const meta = document.createElement('ul');
    for (const [k, v] of Object.entries(item)) {
      const li = document.createElement('li'); li.textContent = k + ': ' + v; meta.append(li);
    }
    card.append(meta); area.append(card);
  }
})();"""


@contextmanager
def reference_page(redis_url: str):
    """Serve the reference-equivalent first page (Flask + waitress in a thread); yield its URL."""
    import gzip

    from flask import Flask, Response
    from waitress import create_server

    client = connect(redis_url)
    bulma = BULMA_FULL.read_bytes()
    bulma_gz = gzip.compress(bulma, 9)
    app = Flask("reference")

    @app.get("/")
    def home():
        return Response(REFERENCE_HTML, mimetype="text/html")

    @app.get("/cdn/bulma.min.css")
    def bulma_css():  # a CDN sends it compressed
        return Response(bulma_gz, mimetype="text/css", headers={"Content-Encoding": "gzip"})

    @app.get("/static/app.js")
    def app_js():
        return Response(REFERENCE_JS, mimetype="text/javascript")

    @app.get("/api/images")
    def images():
        raw = client.execute_command("FT.SEARCH", INDEX_NAME, "*", "RETURN", 3, "timestamp",
                                     "mime_type", "lux", "SORTBY", "timestamp", "DESC", "LIMIT", 0, 9)
        out = []
        for key, fields in zip(raw[1::2], raw[2::2]):
            item = {"id": key.decode().removeprefix("image:")}
            item.update({k.decode(): v.decode() for k, v in zip(fields[0::2], fields[1::2])})
            out.append(item)
        return out

    @app.get("/api/image/<path:image_id>")
    def image(image_id: str):
        data, mime = client.hmget(f"image:{image_id}", "image_data", "mime_type")
        return Response(data, mimetype=(mime or b"image/jpeg").decode())

    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        client.close()


# --- Browser measurements ----------------------------------------------------------------------


class WireBytes:
    """Counts every byte a page receives (headers and bodies, as sent), through the DevTools protocol."""

    def __init__(self, page) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Network.enable")
        self.cdp.send("Network.setCacheDisabled", {"cacheDisabled": False})
        self.chunks: dict[str, int] = {}
        self.finished: dict[str, int] = {}
        self.urls: dict[str, str] = {}
        self.cdp.on("Network.requestWillBeSent",
                    lambda e: self.urls.setdefault(e["requestId"], e["request"]["url"]))
        self.cdp.on("Network.dataReceived", self._data)
        # Server-Sent Events arrive as messages, not as data chunks: count their text too.
        self.cdp.on("Network.eventSourceMessageReceived", self._event)
        self.cdp.on("Network.loadingFinished", self._finished)

    def _data(self, e) -> None:
        rid = e["requestId"]
        self.chunks[rid] = self.chunks.get(rid, 0) + int(e.get("encodedDataLength") or 0)

    def _event(self, e) -> None:
        rid = e["requestId"]
        size = len(e.get("data", "")) + len(e.get("eventName", "")) + len(e.get("eventId", "")) + 20
        self.chunks[rid] = self.chunks.get(rid, 0) + size

    def _finished(self, e) -> None:
        self.finished[e["requestId"]] = int(e.get("encodedDataLength") or 0)

    def total(self) -> int:
        ids = set(self.chunks) | set(self.finished)
        return sum(max(self.chunks.get(i, 0), self.finished.get(i, 0)) for i in ids)

    def by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in set(self.chunks) | set(self.finished):
            url = self.urls.get(i, "?").split("?")[0]
            last = url.rsplit("/", 1)[-1]
            kind = (last if last in ("thumbnail", "image") else "live" if "/live/" in url
                    else last.rsplit(".", 1)[-1] if "." in last else "page/api")
            out[kind] = out.get(kind, 0) + max(self.chunks.get(i, 0), self.finished.get(i, 0))
        return out


def settle(page, ms: int = 1500) -> None:
    with suppress(Exception):  # an open event stream can keep the network busy
        page.wait_for_load_state("networkidle", timeout=15000)
    page.wait_for_timeout(ms)


def first_screen_bytes(browser, url: str) -> tuple[int, dict[str, int]]:
    context = browser.new_context(viewport=DESKTOP)  # a new context: a cold cache
    page = context.new_page()
    wire = WireBytes(page)
    page.goto(url)
    settle(page, 2500)
    total, kinds = wire.total(), wire.by_kind()
    context.close()
    return total, kinds


def whole_thumbnails(browser, url: str, viewport: dict) -> int:
    from tests.browser import in_first_screen

    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(url)
    try:
        page.wait_for_selector(CARD_IMG, timeout=15000)
    except Exception:  # noqa: BLE001
        context.close()
        return 0
    settle(page)
    whole = in_first_screen(page, CARD_IMG)["whole"]
    context.close()
    return whole


def bench_first_screen(browser, redis_client, galleries: dict, redis_url: str) -> None:
    print("1-2. First screen with real photographs")
    fresh(redis_client)
    photos, what = make_photos(12)
    store_pictures(redis_client, photos, 48, time.time())
    wait_indexed(redis_client, 48)
    print(f"   pictures: 48 of {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}, {what}, "
          f"{statistics.mean(len(p[0]) for p in photos) / 1e6:.2f} MB each on average")
    with reference_page(redis_url) as ref_url:
        ref, ref_kinds = first_screen_bytes(browser, ref_url)
    print(f"   reference first page: {ref / 1e6:.2f} MB ({fmt_kinds(ref_kinds)})")
    results = {}
    for name, gallery in galleries.items():
        total, kinds = first_screen_bytes(browser, gallery.url + "/")
        results[name] = total
        print(f"   {name:9s} first screen: {total / 1e3:7.0f} KB, {ref / total:5.1f}x lighter than "
              f"the reference ({fmt_kinds(kinds)})")
    if "candidate" in results:
        ratio = ref / results["candidate"]
        print(f"   candidate vs reference {ratio:.1f}x (target >= 25: {verdict(ratio >= 25)}); "
              f"vs baseline {results.get('baseline', 0) / results['candidate']:.1f}x fewer bytes")
    for label, viewport, target in (("1440x900", DESKTOP, 12), ("390x844", PHONE, 6)):
        counts = {name: whole_thumbnails(browser, g.url + "/", viewport) for name, g in galleries.items()}
        text = ", ".join(f"{name} {n}" for name, n in counts.items())
        ok = counts.get("candidate", 0) >= target
        print(f"   whole thumbnails in the first screen at {label}: {text} "
              f"(target >= {target}: {verdict(ok)})")


def fmt_kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{k} {v / 1e3:.0f} KB" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))


@contextmanager
def cameras(redis_url: str, source: Path, spool: Path):
    """Run two simulated capture daemons as `make run` does (garden every 5 s, porch every 8 s)."""
    procs = []
    try:
        for name, interval in (("garden", 5), ("porch", 8)):
            env = {**os.environ, "REDIS_URL": redis_url, "CAMERA_NAME": name,
                   "CAMERA_BACKEND": "simulated", "IMAGE_RESOLUTION": "1920x1080",
                   "CAPTURE_TRIGGERS": "interval,motion", "SIMULATED_TIME_SPEEDUP": "48",
                   "IMAGE_CAPTURE_FREQUENCY": str(interval), "IMAGE_EXPIRY": "3600",
                   "SPOOL_DIR": str(spool / name), "PYTHONPATH": str(source)}
            procs.append(subprocess.Popen([sys.executable, "-m", "pi.capture"], cwd=source, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def idle_bytes(browser, url: str, seconds: float) -> tuple[float, dict[str, int]]:
    """Open the gallery, scroll the live view away, and count what arrives in `seconds`."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector(CARD_IMG, timeout=20000)
    settle(page)
    # Scroll until the live view is out of sight (the pictures come after it today).
    page.evaluate("""() => {
        const live = document.querySelector('#live-tiles, .live-strip, [data-live]');
        const below = live ? live.getBoundingClientRect().bottom + window.scrollY : 0;
        window.scrollTo(0, Math.max(below + 50, 1200));
    }""")
    page.wait_for_timeout(5000)
    wire = WireBytes(page)
    page.wait_for_timeout(seconds * 1000)
    total, kinds = wire.total(), wire.by_kind()
    context.close()
    return total * 3600 / seconds, kinds


def bench_idle(browser, redis_client, galleries: dict, redis_url: str) -> None:
    print(f"3. Background bytes of an idle tab, two cameras capturing, live view scrolled away "
          f"(measured over {IDLE_SECONDS:.0f} s each, extrapolated to one hour)")
    fresh(redis_client)
    photos, _ = make_photos(4, (1920, 1080))
    store_pictures(redis_client, photos, 100, time.time(), step=30, size=(1920, 1080))
    results = {}
    with tempfile.TemporaryDirectory() as spool, cameras(redis_url, ROOT, Path(spool)):
        time.sleep(10)
        for name, gallery in galleries.items():
            per_hour, kinds = idle_bytes(browser, gallery.url + "/", IDLE_SECONDS)
            results[name] = per_hour
            print(f"   {name:9s} {per_hour / 1e6:8.1f} MB/hour ({fmt_kinds(kinds)} in the window)")
    if "candidate" in results:
        c = results["candidate"]
        ratio = results.get("baseline", 0) / c if c else float("inf")
        print(f"   candidate {c / 1e6:.2f} MB/hour (target <= 5: {verdict(c <= 5e6)}); "
              f"{ratio:.0f}x less than the baseline")


FRAME_TIME_JS = """ms => new Promise(resolve => {
    const times = []; let last = performance.now(); const end = last + ms;
    function tick(now) { times.push(now - last); last = now;
        if (now < end) requestAnimationFrame(tick); else resolve(times); }
    requestAnimationFrame(tick);
})"""


def frame_time(page) -> float:
    page.wait_for_timeout(1000)
    times = page.evaluate(FRAME_TIME_JS, 3000)
    # The median: the machine's other work adds outliers that are not the page's doing.
    return statistics.median(times[1:]) if len(times) > 1 else float("nan")


def load_cards(page, n: int, timeout: float = 240) -> int:
    """Scroll until `n` pictures are loaded (the page's own count, else cards in the DOM)."""
    count_js = ("() => (window.gallery && window.gallery.loadedCount ? window.gallery.loadedCount()"
                " : document.querySelectorAll('.image-card').length)")
    deadline = time.monotonic() + timeout
    last, still = -1, 0
    while time.monotonic() < deadline:
        count = page.evaluate(count_js)
        if count >= n:
            return count
        still = still + 1 if count == last else 0
        if still > 40:
            return count
        last = count
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        page.wait_for_timeout(250)
    return page.evaluate(count_js)


def bench_frames(browser, redis_client, galleries: dict) -> None:
    print("4. Idle frame time with 1,000 cards loaded / with 24 (scrolled back to the top)")
    fresh(redis_client)
    photos, _ = make_photos(6, (1280, 720))
    store_pictures(redis_client, photos, 1000, time.time(), step=60, size=(1280, 720))
    wait_indexed(redis_client, 1000)
    for name, gallery in galleries.items():
        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        page.goto(gallery.url + "/")
        page.wait_for_selector(CARD_IMG, timeout=20000)
        settle(page)
        few = frame_time(page)
        loaded = load_cards(page, 1000)
        page.evaluate("window.scrollTo(0, 0)")
        settle(page)
        many = frame_time(page)
        nodes = page.evaluate("document.getElementsByTagName('*').length")
        anims = page.evaluate("document.getAnimations().length")
        context.close()
        print(f"   {name:9s} 24 cards {few:6.1f} ms/frame, {loaded} cards {many:6.1f} ms/frame: "
              f"ratio {many / few:.2f} (target <= 2: {verdict(many / few <= 2)}); "
              f"{nodes} DOM nodes, {anims} running animations")


def bench_zip(redis_client, galleries: dict) -> None:
    print("5. A zip of 500 pictures: peak RSS while streaming / idle RSS")
    fresh(redis_client)
    photos, _ = make_photos(8, (1920, 1080))
    store_pictures(redis_client, photos, 500, time.time(), step=60, size=(1920, 1080))
    wait_indexed(redis_client, 500)
    stored = sum(len(photos[i % len(photos)][0]) for i in range(500))
    gallery = galleries.get("candidate")
    if gallery is None:
        return
    plan_url = f"{gallery.url}/api/archive/plan?limit=500"
    try:
        with urllib.request.urlopen(plan_url, timeout=30) as response:
            plan = json.load(response)
    except OSError as exc:
        print(f"   candidate has no zip download yet ({exc}); baseline has none")
        return
    idle = gallery.rss_kb()
    gallery.reset_peak()
    got, started = 0, time.perf_counter()
    for part in plan["parts"]:
        with urllib.request.urlopen(gallery.url + part["url"], timeout=120) as response:
            while chunk := response.read(1 << 16):
                got += len(chunk)
    elapsed = time.perf_counter() - started
    peak = gallery.rss_kb("VmHWM")
    print(f"   {len(plan['parts'])} part(s), {got / 1e6:.0f} MB of zip for {stored / 1e6:.0f} MB of "
          f"pictures in {elapsed:.1f} s; idle RSS {idle / 1e3:.0f} MB, peak {peak / 1e3:.0f} MB: "
          f"ratio {peak / idle:.2f} (target <= 1.5: {verdict(peak / idle <= 1.5)}); baseline: no zip")


def main(argv: list[str]) -> int:
    parts = set(argv) or {"first-screen", "idle", "frames", "zip"}
    from tests.browser import launch_browser

    started = time.perf_counter()
    with ExitStack() as stack:
        data = stack.enter_context(tempfile.TemporaryDirectory())
        redis_srv = stack.enter_context(EmbeddedRedis(data_dir=data, port=free_port(), maxmemory="0",
                                                      appendonly=False))
        redis_client = connect(redis_srv.url, socket_timeout=60)
        baseline_src = extract_baseline(Path(stack.enter_context(tempfile.TemporaryDirectory())))
        galleries = {
            "baseline": stack.enter_context(Gallery("baseline", baseline_src, redis_srv.url)),
            "candidate": stack.enter_context(Gallery("candidate", ROOT, redis_srv.url)),
        }
        print(f"baseline: today's gallery at {BASELINE_REF}; candidate: this working tree")
        browser = stack.enter_context(launch_browser())
        if "first-screen" in parts:
            bench_first_screen(browser, redis_client, galleries, redis_srv.url)
        if "idle" in parts:
            bench_idle(browser, redis_client, galleries, redis_srv.url)
        if "frames" in parts:
            bench_frames(browser, redis_client, galleries)
        if "zip" in parts:
            bench_zip(redis_client, galleries)
        redis_client.close()
    print(f"(took {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
