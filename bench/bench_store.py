"""Benchmark the capture daemon's store path and thumbnails on simulated 4608x2592 frames.

Two ratios, each against a baseline measured in the same run on the same frames (the
median of the ratios of back-to-back pairs, which cancels most of a shared machine's noise;
the ratio of the medians is printed too):

1. Store: the daemon's per-image store (ImageStore.store: the record's hash, then one
   MULTI/EXEC of HSET + PEXPIRE + XADD) over a bare redis-py HSET of the same JPEG bytes.
   Target <= 1.2: atomicity and the stream entry should cost little over the write itself.
2. Thumbnail: Pillow's draft() reduced-size decode (pi.thumbnails.make_thumbnail) over a
   full decode and resize to the same box. Target <= 0.35.

It starts its own embedded Redis on a free port, prints its figures and exits 0 (it
reports; it doesn't fail CI). Run: `.venv/bin/python -m bench.bench_store [-n 12]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pi.cameras.simulated import SimulatedCamera
from pi.contract import image_id
from pi.metadata import record_from_capture
from pi.redis_connection import connect
from pi.spool import Spool
from pi.store import ImageStore
from pi.thumbnails import full_decode_thumbnail, make_thumbnail
from server.tooling.embedded_redis import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parent.parent
NOON = time.mktime((2026, 6, 21, 12, 0, 0, 0, 0, -1))  # a bright, detailed scene
STORE_TARGET = 1.2
THUMB_TARGET = 0.35
BOX = (320, 320)
ROUNDS = 3  # each frame is stored this many times (new keys), for steadier medians


def timed(fn, *args) -> float:
    """Return how long fn(*args) took, in milliseconds."""
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1000


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * len(ordered)))]


def report(name: str, ours: list[float], base: list[float], base_name: str, target: float) -> None:
    """Print both series and their ratio: the median of the per-pair ratios, each pair
    measured back to back, which cancels most of the noise of a shared machine."""
    paired = statistics.median(o / b for o, b in zip(ours, base))
    of_medians = statistics.median(ours) / statistics.median(base)
    verdict = "meets" if paired <= target else "MISSES"
    print(f"  {name:<40} median {statistics.median(ours):8.2f} ms   p90 {p90(ours):8.2f} ms")
    print(f"  {base_name:<40} median {statistics.median(base):8.2f} ms   p90 {p90(base):8.2f} ms")
    print(f"  ratio {paired:.2f} (median of {len(ours)} back-to-back pairs; ratio of the medians "
          f"{of_medians:.2f}), target <= {target}: {verdict} the target\n")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; always return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=12, help="frames to measure (default 12)")
    parser.add_argument("--resolution", default="4608x2592", help="frame size (default 4608x2592)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.resolution.lower().split("x"))

    clock = [NOON]
    camera = SimulatedCamera(resolution=(width, height), jpeg_quality=90, clock=lambda: clock[0])
    print(f"Generating {args.n + 2} simulated {width}x{height} frames ...", flush=True)
    frames = []
    for i in range(args.n + 2):
        clock[0] = NOON + 5 * i
        frames.append(camera.capture())
    sizes = [len(f.jpeg) for f in frames]
    print(f"  JPEG sizes: median {statistics.median(sizes) / 1e6:.2f} MB "
          f"(min {min(sizes) / 1e6:.2f}, max {max(sizes) / 1e6:.2f})\n")

    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(data_dir=Path(tmp) / "redis", port=free_port(), maxmemory="0")
        with server:
            client = connect(server.url)
            store = ImageStore(client, Spool(Path(tmp) / "spool", 10**9), 3600, server.url)
            store.connect()
            ours: list[float] = []
            bare: list[float] = []
            for i in range(ROUNDS * len(frames)):
                capture = frames[i % len(frames)]
                ts = NOON + 5 * i
                record = record_from_capture(capture, "bench", "interval", ts)
                new_id = image_id("bench", ts)
                ours_first = i % 2 == 0  # alternate the order
                if ours_first:
                    ours.append(timed(store.store, new_id, record))
                bare.append(timed(client.hset, f"bare:{i}", "image_data", capture.jpeg))
                if not ours_first:
                    ours.append(timed(store.store, new_id, record))
                client.delete(f"image:{new_id}", f"bare:{i}")  # keep Redis's memory steady
            assert store.stored == len(ours) and store.spooled == 0
            client.close()
    print(f"1. Store, per image ({len(ours) - 2} stores of each kind; the first 2 are warm-up)")
    report("daemon store (MULTI HSET+PEXPIRE+XADD)", ours[2:], bare[2:], "bare HSET of the same bytes",
           STORE_TARGET)

    draft = [timed(make_thumbnail, f.jpeg, BOX) for f in frames][2:]
    full = [timed(full_decode_thumbnail, f.jpeg, BOX) for f in frames][2:]
    thumb_sizes = [len(make_thumbnail(f.jpeg, BOX)) for f in frames]
    print(f"2. Thumbnail to a {BOX[0]} px box (max {max(thumb_sizes) / 1000:.1f} KB)")
    report("draft() reduced-size decode", draft, full, "full decode + resize", THUMB_TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
