"""Gallery benchmark: listing latency as the store grows, deep pages, and first-screen bytes.

Starts its own Redis with the search module on a free port and prints three figures,
each as a ratio against a baseline measured in the same run:

1. The list API's median latency with 1,000, 10,000 and 100,000 small image hashes, as a
   ratio to the 1,000 case (target: at most 1.5 at 100,000), plain and with a lux range;
   the reference's query (FT.SEARCH "*" SORTBY timestamp DESC LIMIT 0 9) alongside.
2. The median latency of page 100 against page 1 (target: at most 1.5).
3. The bytes a browser downloads for the first screen of the grid with 4608x2592 photos,
   against the same photos served full-size as the reference does (target: 20x fewer).

Run: .venv/bin/python -m bench.bench_gallery   (about a minute)
"""

from __future__ import annotations

import io
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pi.contract import INDEX_NAME, ImageRecord, image_id, image_key
from pi.redis_connection import connect
from server import create_app
from server.tooling.embedded_redis import EmbeddedRedis, free_port

SIZES = (1_000, 10_000, 100_000)
RUNS = 200
PAGE = 24
T0 = 1_700_000_000.0
CAMERAS = ("garden", "driveway")
#: The page's ES modules (main.js imports every one of them).
STATIC_JS = Path(__file__).resolve().parent.parent / "server" / "static" / "js"


def fill(client, start: int, stop: int) -> None:
    """Add small image hashes `start`..`stop-1`, one every 30 s, as the daemon writes them."""
    rnd = random.Random(start)
    pipe = client.pipeline(transaction=False)
    for i in range(start, stop):
        ts = T0 + i * 30 + rnd.randrange(1000) / 1000
        camera = CAMERAS[i % 2]
        record = ImageRecord(timestamp=ts, image_data=b"\xff\xd8" + bytes(200),
                             lux=round(rnd.uniform(0, 1000), 1), camera=camera, trigger="interval",
                             width=4608, height=2592, exposure_time=10000, analogue_gain=1.5,
                             thumbnail=b"\xff\xd8" + bytes(100))
        pipe.hset(image_key(image_id(camera, ts)), mapping=record.to_hash())
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()


def median_ms(fn, runs: int = RUNS) -> float:
    """Return the median wall time of `fn()` in milliseconds, after a warm-up."""
    for _ in range(10):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def get_ok(client, url: str):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:300])
    return response


def verdict(value: float, target: float, lower_is_better: bool = True) -> str:
    ok = value <= target if lower_is_better else value >= target
    return "OK" if ok else "MISSED"


def bench_listing(client, redis_client) -> None:
    print("1. List API median latency as the store grows (ratio to 1,000 images)")
    reference = ["FT.SEARCH", INDEX_NAME, "*", "SORTBY", "timestamp", "DESC", "LIMIT", "0", "9"]
    rows = []
    filled = 0
    for size in SIZES:
        fill(redis_client, filled, size)
        filled = size
        while int(redis_client.ft(INDEX_NAME).info()["num_docs"]) < size:
            time.sleep(0.05)
        plain = median_ms(lambda: get_ok(client, f"/api/images?limit={PAGE}"))
        lux = median_ms(lambda: get_ok(client, f"/api/images?limit={PAGE}&lux_min=100&lux_max=300"))
        ref = median_ms(lambda: redis_client.execute_command(*reference))
        rows.append((size, plain, lux, ref))
    base = rows[0]
    print(f"   {'images':>8} {'list ms':>8} {'ratio':>6} {'lux ms':>8} {'ratio':>6} "
          f"{'reference ms':>13} {'ratio':>6}")
    for size, plain, lux, ref in rows:
        print(f"   {size:>8,} {plain:8.2f} {plain / base[1]:6.2f} {lux:8.2f} {lux / base[2]:6.2f} "
              f"{ref:13.2f} {ref / base[3]:6.1f}")
    last = rows[-1]
    print(f"   at 100,000: list {last[1] / base[1]:.2f}x, lux-filtered {last[2] / base[2]:.2f}x "
          f"(target <= 1.5: {verdict(max(last[1] / base[1], last[2] / base[2]), 1.5)}); "
          f"the reference query {last[3] / base[3]:.0f}x")


def bench_deep_page(client) -> None:
    print("2. Page 100 against page 1 (100,000 images, 24 per page)")
    for label, query in (("plain", ""), ("lux 100-300", "&lux_min=100&lux_max=300")):
        cursor = None
        for _ in range(99):
            url = f"/api/images?limit={PAGE}{query}" + (f"&cursor={cursor}" if cursor else "")
            body = get_ok(client, url).json
            cursor = body["next_cursor"]
        first = median_ms(lambda q=query: get_ok(client, f"/api/images?limit={PAGE}{q}"))
        deep = median_ms(lambda q=query, c=cursor: get_ok(client, f"/api/images?limit={PAGE}{q}&cursor={c}"))
        print(f"   {label:12s} page 1 {first:6.2f} ms, page 100 {deep:6.2f} ms: "
              f"ratio {deep / first:.2f} (target <= 1.5: {verdict(deep / first, 1.5)})")


def scene(rnd: np.random.Generator) -> Image.Image:
    """Return a small 576x324 landscape: a sky gradient and soft shapes, drawn with `rnd`."""
    small = Image.new("RGB", (576, 324))
    draw = ImageDraw.Draw(small)
    for y in range(324):
        t = y / 324
        draw.line([(0, y), (576, y)], fill=(int(90 + 80 * t), int(140 + 60 * t), int(220 - 60 * t)))
    for _ in range(40):
        x, y, r = rnd.integers(0, 576), rnd.integers(120, 324), rnd.integers(8, 60)
        shade = tuple(int(v) for v in rnd.integers(30, 160, 3))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=shade)
    return small


def photo(seed: int, width: int = 4608, height: int = 2592) -> bytes:
    """Return a photo-like 4608x2592 JPEG: a scene with soft detail and sensor noise."""
    rnd = np.random.default_rng(seed)
    small = scene(rnd)
    big = small.resize((width, height), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(2))
    pixels = np.asarray(big, dtype=np.int16)
    pixels = pixels + rnd.normal(0, 6, (height, width, 1)).astype(np.int16)
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=85)
    return out.getvalue()


def bench_first_screen(client, redis_client) -> None:
    print(f"3. Bytes for the first screen of the grid ({PAGE} cards), 4608x2592 photos")
    redis_client.flushall()  # the gallery recreates the index on its next search
    photos = [photo(seed) for seed in range(8)]
    pipe = redis_client.pipeline(transaction=False)
    for i in range(PAGE):
        # As the reference wrote them: 4 fields, no thumbnail; the gallery makes it on demand.
        pipe.hset(f"image:{int(T0) + i}", mapping={"image_data": photos[i % len(photos)],
                                                  "timestamp": int(T0) + i,
                                                  "mime_type": "image/jpeg", "lux": 100 + i})
    pipe.execute()
    listing = get_ok(client, f"/api/images?limit={PAGE}")
    images = listing.json["images"]
    assert len(images) == PAGE
    thumbs = sum(len(get_ok(client, item["thumbnail_url"]).data) for item in images)
    full = sum(len(get_ok(client, item["image_url"]).data) for item in images)
    ours = thumbs + len(listing.data)
    page = get_ok(client, "/")
    assets = len(page.data) + sum(len(get_ok(client, f"/static/{name}").data) for name in (
        "vendor/bulma-gallery.min.css", "gallery.css", "live.css", "favicon.svg",
        *(f"js/{p.name}" for p in sorted(STATIC_JS.glob("*.js")))))
    print(f"   full-size photos, as the reference serves them: {full / 1e6:8.2f} MB "
          f"({full / PAGE / 1e6:.2f} MB each)")
    print(f"   gallery: {PAGE} thumbnails {thumbs / 1e3:.0f} KB + listing JSON "
          f"{len(listing.data) / 1e3:.1f} KB = {ours / 1e3:.0f} KB")
    print(f"   ratio {full / ours:.0f}x fewer bytes (target >= 20: {verdict(full / ours, 20, False)})")
    print(f"   first visit also loads the page and its assets once ({assets / 1e3:.0f} KB, cached "
          f"after): {full / (ours + assets):.0f}x fewer including them")


def main() -> int:
    with tempfile.TemporaryDirectory() as data, EmbeddedRedis(
            data_dir=data, port=free_port(), maxmemory="0", appendonly=False) as server:
        redis_client = connect(server.url, socket_timeout=30)
        app = create_app({"REDIS_URL": server.url, "GALLERY_PASSWORD": None, "SECRET_KEY": "bench"})
        client = app.test_client()
        started = time.perf_counter()
        bench_listing(client, redis_client)
        bench_deep_page(client)
        bench_first_screen(client, redis_client)
        print(f"(took {time.perf_counter() - started:.0f} s)")
        redis_client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
