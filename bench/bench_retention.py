"""Benchmark tiered retention (issue 9): how many pictures a 256 MB Redis keeps browsable.

Two embedded Redis servers with `maxmemory 256mb` and `volatile-ttl`, filled with the same
12 MP pictures from the simulated camera (4608x2592, JPEG quality 90, about 2.7 MB: a real
scene's detail, not random bytes) at real store speed, until each is full and evicting:

- today: each picture one hash with one TTL (the store before issue 9: MULTI of HSET,
  PEXPIRE, XADD), JPEG thumbnail;
- tiered: the daemon's store (ImageStore, HISTORY_EXPIRY 30 days), WebP thumbnail, and a
  full-size budget for the camera of a quarter of maxmemory, trimmed oldest first.

It reports, per mode, the pictures browsable (thumbnail and metadata present) and the
pictures with their full size (target: tiered browsable >= 100 x today's), where the
bytes of a history picture go (thumbnail, hash fields, index), the store time per picture
tiered / today (the median of back-to-back pairs; target <= 1.2), and the bytes the
near-duplicate rule saves over a simulated day and night.

Run: `.venv/bin/python -m bench.bench_retention` (a few minutes; it reports, it doesn't fail).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pi import contract
from pi.cameras.simulated import SimulatedCamera
from pi.contract import STREAM_KEY, STREAM_MAXLEN, Budgets, image_id, image_key, stream_entry
from pi.metadata import record_from_capture
from pi.spool import Spool
from pi.store import ImageStore
from pi.thumbnails import history_thumbnail, make_thumbnail
from pi.triggers import NearDuplicateFilter
from server.tooling.embedded_redis import EmbeddedRedis, free_port

MAXMEMORY = 256 * 1024 * 1024
BUDGET = MAXMEMORY // 4
IMAGE_EXPIRY = 3600.0
HISTORY_EXPIRY = 30 * 86400.0
TODAY_EXPIRY = 30 * 86400.0  # long, so memory (not age) is what ends today's pictures too
BROWSABLE_TARGET = 100
STORE_TARGET = 1.2
DAY = time.mktime((2026, 6, 21, 0, 0, 0, 0, 0, -1))


def scene_captures(count: int) -> list:
    """Return 12 MP captures of the simulated scene at `count` times of day."""
    out = []
    for i in range(count):
        at = DAY + 6 * 3600 + i * (14 * 3600 / max(1, count - 1))  # from dawn to dusk
        cam = SimulatedCamera(resolution=(4608, 2592), jpeg_quality=90, clock=lambda at=at: at)
        out.append(cam.capture())
    return out


def detailed(thumbnail: bytes, seed: int) -> bytes:
    """Return the thumbnail with the fine detail of a real garden: 1/f texture and sensor noise.

    The simulated scene is smooth, so its thumbnails (3 KB as WebP) flatter the result; a
    real 320-pixel garden is about 20 KB as JPEG, which this gives (not white noise, which
    no photo looks like: natural images have a 1/f spectrum).
    """
    with Image.open(io.BytesIO(thumbnail)) as img:
        a = np.asarray(img.convert("RGB"), dtype=np.float32)
    rng = np.random.default_rng(seed)
    h, w = a.shape[:2]
    spectrum = np.fft.fft2(rng.normal(size=(h, w)))
    radius = np.sqrt(np.fft.fftfreq(h)[:, None] ** 2 + np.fft.fftfreq(w)[None, :] ** 2)
    radius[0, 0] = 1.0
    texture = np.real(np.fft.ifft2(spectrum / radius))
    texture = (texture - texture.mean()) / texture.std()
    out = np.clip(a + 25 * texture[..., None] + rng.normal(0, 6, a.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def today_store(client, record, new_id: str) -> None:
    """The store before issue 9: one MULTI of HSET, PEXPIRE and XADD."""
    pipe = client.pipeline(transaction=True)
    pipe.hset(image_key(new_id), mapping=record.to_hash())
    pipe.pexpire(image_key(new_id), int(TODAY_EXPIRY * 1000))
    pipe.xadd(STREAM_KEY, stream_entry(new_id, record), maxlen=STREAM_MAXLEN, approximate=True)
    pipe.execute()


def image_count(client) -> int:
    return sum(1 for _ in client.scan_iter(match="image:*", count=5000))


def full_count(client) -> int:
    pipe = client.pipeline(transaction=False)
    keys = list(client.scan_iter(match="image:*", count=5000))
    for key in keys:
        pipe.hexists(key, "image_data")
    return sum(1 for has in pipe.execute() if has)


def breakdown(client) -> dict[str, float]:
    """Return the average bytes of a history picture: thumbnail, hash, index, all included."""
    keys = [k for k in client.scan_iter(match="image:*", count=5000)]
    pipe = client.pipeline(transaction=False)
    for key in keys[:400]:
        pipe.hstrlen(key, "image_data")
        pipe.hstrlen(key, "thumbnail")
        pipe.memory_usage(key, samples=0)
    answers = pipe.execute()
    thumbs, hashes = [], []
    for image_len, thumb_len, usage in zip(answers[0::3], answers[1::3], answers[2::3]):
        if image_len == 0 and usage:
            thumbs.append(thumb_len)
            hashes.append(usage)
    info = client.ft(contract.INDEX_NAME).info()
    docs = float(info.get("num_docs") or 1)
    index = float(info.get("total_index_memory_sz_mb") or 0) * 1024 * 1024 / docs
    memory = client.info("memory")
    full_bytes = sum(client.hstrlen(image_key(m.decode()), "image_data")
                     for m in client.zrange(contract.full_set_key("garden"), 0, -1))
    history_all = (memory["used_memory"] - memory["used_memory_startup"] - full_bytes) / max(1, len(keys))
    return {"thumbnail": statistics.mean(thumbs) if thumbs else 0.0,
            "hash": statistics.mean(hashes) if hashes else 0.0,
            "fields": (statistics.mean(hashes) - statistics.mean(thumbs)) if hashes else 0.0,
            "index": index, "all_included": history_all, "samples": len(thumbs)}


def near_duplicate_day(interval: float, threshold: float, sizes: dict[int, int]) -> tuple[int, int, int, int]:
    """Run the near-duplicate rule over a simulated day; return (pictures, skipped, bytes, saved)."""
    nd = NearDuplicateFilter(threshold)
    now = [DAY]
    cam = SimulatedCamera(resolution=(4608, 2592), clock=lambda: now[0])
    pictures = skipped = total = saved = 0
    t = DAY
    while t < DAY + 86400:
        now[0] = t
        frame = cam.motion_frame()
        size = sizes[int((t - DAY) // 3600)]
        pictures += 1
        total += size
        if nd.matches(frame) is not None:
            skipped += 1
            saved += size
        else:
            nd.stored_full(frame, t, f"x:{int(t)}")
        t += interval
    return pictures, skipped, total, saved


def new_record(captures: list, i: int, thumbs: list[bytes], mime: str):
    """Return (id, record) of the i-th picture: a capture's bytes, stamped now."""
    ts = time.time()
    rec = record_from_capture(captures[i % len(captures)], "garden", "interval", ts)
    rec.thumbnail, rec.thumbnail_mime = thumbs[i % len(thumbs)], mime
    return image_id("garden", ts), rec


def tiered_store(client, tmp: Path, name: str) -> ImageStore:
    contract.ensure_index(client)
    contract.write_budgets(client, Budgets(cameras={"garden": BUDGET}))
    store = ImageStore(client, Spool(tmp / f"spool-{name}", 10**9), IMAGE_EXPIRY, "bench",
                       history_ttl=HISTORY_EXPIRY, camera="garden")
    assert store.connect() and store.tiered
    return store


def fill(store: ImageStore, captures: list, thumbs: list[bytes], first: int,
         limit: int) -> tuple[int, float]:
    """Store pictures until Redis has evicted for 1,000 more; return (stored, seconds)."""
    client = store.client
    start = time.perf_counter()
    evicting_since = None
    i = first
    while i < limit:
        i += 1
        store.store(*new_record(captures, i, thumbs, "image/webp"))
        if i % 2000 == 0:
            evicted = client.info("stats")["evicted_keys"]
            print(f"  {i} stored, {client.info('memory')['used_memory'] / 2**20:.0f} MiB used, "
                  f"{evicted} evicted", flush=True)
            if evicted and evicting_since is None:
                evicting_since = i
            if evicting_since is not None and i - evicting_since >= 1000:
                break
    return i, time.perf_counter() - start


def server(tmp: Path, name: str) -> EmbeddedRedis:
    return EmbeddedRedis(tmp / name, free_port(), maxmemory=str(MAXMEMORY), appendonly=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-pictures", type=int, default=60000, help="stop a fill after this many")
    parser.add_argument("--pairs", type=int, default=400, help="pictures stored in both modes, back to back")
    args = parser.parse_args()

    print("Making 12 MP pictures of the simulated scene ...", flush=True)
    captures = scene_captures(6)
    plain = [make_thumbnail(c.jpeg, (320, 320)) for c in captures]
    jpeg_thumbs = [detailed(t, n) for n, t in enumerate(plain)]
    start = time.perf_counter()
    webp_thumbs = [history_thumbnail(t)[0] for t in jpeg_thumbs]
    webp_ms = (time.perf_counter() - start) * 1000 / len(jpeg_thumbs)
    plain_webp = [history_thumbnail(t)[0] for t in plain]
    print(f"  full size {statistics.mean(len(c.jpeg) for c in captures) / 1e6:.2f} MB on average; "
          "thumbnails with a real garden's detail: JPEG "
          f"{statistics.mean(map(len, jpeg_thumbs)) / 1e3:.1f} KB, "
          f"WebP {statistics.mean(map(len, webp_thumbs)) / 1e3:.1f} KB ({webp_ms:.1f} ms to re-encode); "
          f"of the smooth simulated scene: WebP {statistics.mean(map(len, plain_webp)) / 1e3:.1f} KB")

    results = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with server(tmp, "today") as today_srv, server(tmp, "tiered") as tier_srv:
            today, tiered = today_srv.client(), tier_srv.client()
            contract.ensure_index(today)
            store = tiered_store(tiered, tmp, "tiered")
            today_ms, tiered_ms = [], []
            print(f"Storing {args.pairs} pictures in both, back to back ...", flush=True)
            for i in range(args.pairs):
                new_id, rec = new_record(captures, i, jpeg_thumbs, "image/jpeg")
                t0 = time.perf_counter()
                today_store(today, rec, new_id)
                t1 = time.perf_counter()
                new_id, rec = new_record(captures, i, webp_thumbs, "image/webp")
                t2 = time.perf_counter()
                store.store(new_id, rec)
                t3 = time.perf_counter()
                today_ms.append((t1 - t0) * 1000)
                tiered_ms.append((t3 - t2) * 1000)
            results["today"] = (image_count(today), full_count(today), today.info("stats")["evicted_keys"],
                                args.pairs, None)
            print("Filling the tiered Redis (detailed thumbnails) until it evicts ...", flush=True)
            stored, seconds = fill(store, captures, webp_thumbs, args.pairs, args.max_pictures)
            evicted = tiered.info("stats")["evicted_keys"]
            results["tiered"] = (image_count(tiered), full_count(tiered), evicted, stored, breakdown(tiered))
            today.close()
            tiered.close()
        with server(tmp, "smooth") as smooth_srv:
            smooth = smooth_srv.client()
            print("Filling another tiered Redis (the smooth scene's thumbnails) ...", flush=True)
            stored, _ = fill(tiered_store(smooth, tmp, "smooth"), captures, plain_webp, 0, args.max_pictures)
            results["tiered, smooth"] = (image_count(smooth), full_count(smooth),
                                         smooth.info("stats")["evicted_keys"], stored, breakdown(smooth))
            smooth.close()

    steady = slice(len(today_ms) // 4, None)  # both are full by then: evicting and trimming
    pairs = [t / b for t, b in zip(tiered_ms[steady], today_ms[steady])]
    ratio = statistics.median(pairs)
    today_browsable = results["today"][0]
    print()
    print(f"maxmemory {MAXMEMORY / 2**20:.0f} MiB; tiered full-size budget {BUDGET / 2**20:.0f} MiB "
          "(a quarter)")
    print(f"{'mode':<16} {'stored':>7} {'browsable':>10} {'full size':>10} {'evicted':>8} {'x today':>8}")
    for mode, (browsable, full, evicted, stored, _) in results.items():
        print(f"{mode:<16} {stored:>7} {browsable:>10} {full:>10} {evicted:>8} "
              f"{browsable / max(1, today_browsable):>7.0f}x")
    ratio_b = results["tiered"][0] / max(1, today_browsable)
    print(f"browsable tiered / today (detailed thumbnails): {ratio_b:.0f}x (target >= {BROWSABLE_TARGET}x): "
          f"{'OK' if ratio_b >= BROWSABLE_TARGET else 'MISSED'}")
    for mode in ("tiered", "tiered, smooth"):
        bd = results[mode][4]
        print(f"a history picture ({mode}, {bd['samples']:.0f} sampled): thumbnail "
              f"{bd['thumbnail'] / 1e3:.1f} KB "
              f"+ hash fields and overhead {bd['fields'] / 1e3:.1f} KB + index {bd['index'] / 1e3:.2f} KB; "
              f"all included (used_memory less Redis's own and the full sizes, per picture) "
              f"{bd['all_included'] / 1e3:.1f} KB")
    print(f"store per picture: today median {statistics.median(today_ms[steady]):.1f} ms, tiered "
          f"{statistics.median(tiered_ms[steady]):.1f} ms; tiered / today {ratio:.2f} (median of "
          f"{len(pairs)} back-to-back pairs; target <= {STORE_TARGET}): "
          f"{'OK' if ratio <= STORE_TARGET else 'MISSED'}; the WebP re-encode adds {webp_ms:.1f} ms "
          "in the daemon, before the store")

    print("Near-duplicates over a simulated 24 h (threshold 3) ...", flush=True)
    sizes = {}
    for hour in range(0, 24, 3):
        cam = SimulatedCamera(resolution=(4608, 2592), clock=lambda h=hour: DAY + h * 3600 + 1800)
        sizes.update({h: len(cam.capture().jpeg) for h in range(hour, hour + 3)})
    for interval in (60.0, 10.0):
        pictures, skipped, total, saved = near_duplicate_day(interval, 3.0, sizes)
        print(f"  one picture every {interval:g} s: {skipped} of {pictures} stored as history only; "
              f"{saved / 1e9:.2f} GB of {total / 1e9:.2f} GB full-size bytes saved ({saved / total:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
