"""Benchmark the time-lapse engine: 4608x2592 JPEGs in, 1280x720 H.264 out.

Reports frames encoded per second and the peak memory (RSS) of a child process making a
100-frame and a 1,000-frame movie, and the ratio of the two peaks: memory must not grow
with the length of the movie (target: ratio < 1.5). A child that only imports and
connects gives the baseline, and a short decode comparison shows what `draft()` saves.

It starts its own embedded Redis on a free port and removes it at the end. Run with
`.venv/bin/python -m bench.bench_timelapse` (about a minute or two on two cores).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pi.contract import ImageRecord, ensure_index, image_id, save_image
from pi.redis_connection import connect
from server.timelapse.engine import TimelapseOptions, make_timelapse, render_frame
from server.tooling.embedded_redis import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parent.parent
INPUT = (4608, 2592)
OUTPUT = (1280, 720)
T0 = 1_750_000_000.0
STEP = 10.0  # seconds between captures
PAYLOADS = 4
RATIO_TARGET = 1.5
RESULTS = ROOT / "bench" / "results"


def synthetic_jpeg(seed: int) -> bytes:
    """Return a smooth full-resolution picture: large in pixels, modest in bytes."""
    w, h = INPUT
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    red = 128 + 100 * np.sin(x / 700 + seed) * np.cos(y / 500)
    green = 128 + 100 * np.sin(y / 400 + 2 * seed)
    blue = 128 + 90 * np.cos((x + y) / 900 + seed)
    pixels = np.stack([red, green, blue], -1).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def fill(url: str, count: int, payloads: list[bytes]) -> None:
    """Store `count` images, cycling through a few distinct JPEG payloads."""
    client = connect(url)
    ensure_index(client)
    for i in range(count):
        ts = T0 + i * STEP
        record = ImageRecord(timestamp=ts, image_data=payloads[i % len(payloads)], lux=100.0 + i,
                             camera="bench", width=INPUT[0], height=INPUT[1])
        save_image(client, record, ttl=3600, image_id_=image_id("bench", ts))
    client.close()


def child(url: str, frames: int, out: str) -> int:
    """Make one movie of the first `frames` images; print what it took as JSON."""
    client = connect(url)
    client.ping()
    result = {"frames": 0, "seconds": 0.0}
    if frames:
        options = TimelapseOptions(since=T0, until=T0 + (frames - 1) * STEP, camera="bench",
                                   fps=24, width=OUTPUT[0], height=OUTPUT[1])
        started = time.perf_counter()
        made = make_timelapse(client, options, out, max_frames=frames)
        result = {"frames": made.frames, "seconds": time.perf_counter() - started,
                  "bytes": os.path.getsize(out)}
    result["peak_rss"] = peak_rss()
    print(json.dumps(result))
    return 0


def peak_rss() -> int:
    """Return this process's peak resident memory in bytes (VmHWM).

    Not ru_maxrss: Linux carries the parent's peak into a child across vfork and exec.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status (this benchmark needs Linux)")


def run_child(url: str, frames: int, out: Path) -> tuple[dict, int]:
    """Run a child and return its report and its peak RSS in bytes."""
    proc = subprocess.run([sys.executable, __file__, "--child", url, str(frames), str(out)],
                          stdout=subprocess.PIPE, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"error: the {frames}-frame child failed with exit code {proc.returncode}")
    report = json.loads(proc.stdout)
    return report, report["peak_rss"]


def decode_comparison(payload: bytes, rounds: int = 6) -> tuple[float, float]:
    """Return seconds per frame for draft() decoding and for a full decode, both scaled."""
    started = time.perf_counter()
    for _ in range(rounds):
        render_frame(payload, *OUTPUT)
    draft = (time.perf_counter() - started) / rounds
    started = time.perf_counter()
    for _ in range(rounds):
        with Image.open(io.BytesIO(payload)) as img:
            img.convert("RGB").resize(OUTPUT, Image.Resampling.BILINEAR)
    return draft, (time.perf_counter() - started) / rounds


def mb(n: float) -> str:
    return f"{n / 2**20:.0f} MB"


def main() -> int:
    """Run the benchmark and print its figures; exit 1 if memory grows with length."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs=2, default=(100, 1000),
                        metavar=("SHORT", "LONG"))
    parser.add_argument("--child", nargs=3, metavar=("URL", "FRAMES", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, frames, out = args.child
        return child(url, int(frames), out)

    short, long = args.frames
    payloads = [synthetic_jpeg(seed) for seed in range(PAYLOADS)]
    avg = sum(map(len, payloads)) / len(payloads)
    print(f"time-lapse benchmark: {long} JPEGs of {INPUT[0]}x{INPUT[1]} "
          f"(~{avg / 1024:.0f} KB each) -> {OUTPUT[0]}x{OUTPUT[1]} H.264 at 24 fps", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-timelapse-") as tmp:
        server = EmbeddedRedis(data_dir=Path(tmp) / "redis", port=free_port(), maxmemory="0",
                               appendonly=False)
        with server:
            started = time.perf_counter()
            fill(server.url, long, payloads)
            print(f"  stored {long} images in {time.perf_counter() - started:.1f} s", flush=True)
            _, base_rss = run_child(server.url, 0, Path(tmp) / "none.mp4")
            short_report, short_rss = run_child(server.url, short, Path(tmp) / "short.mp4")
            long_report, long_rss = run_child(server.url, long, Path(tmp) / "long.mp4")
    draft, full = decode_comparison(payloads[0])

    fps = long_report["frames"] / long_report["seconds"]
    ratio = long_rss / short_rss
    print(f"  encode speed:           {fps:.1f} frames/s ({long_report['frames']} frames in "
          f"{long_report['seconds']:.1f} s; {short} frames: "
          f"{short_report['frames'] / short_report['seconds']:.1f} frames/s)")
    print(f"  peak RSS, imports only: {mb(base_rss)}")
    for frames, rss in ((short, short_rss), (long, long_rss)):
        print(f"  peak RSS, {frames:>5} frames: {mb(rss)} (+{mb(rss - base_rss)} over baseline)")
    verdict = "OK" if ratio < RATIO_TARGET else "FAIL: memory grows with the number of frames"
    print(f"  peak ratio {long}/{short}:  {ratio:.2f} (target < {RATIO_TARGET}) {verdict}")
    print(f"  decode+scale per frame: {draft * 1000:.0f} ms with draft() vs {full * 1000:.0f} ms "
          f"full decode ({full / draft:.1f}x faster)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "timelapse.json").write_text(json.dumps({
        "fps": fps, "base_rss": base_rss, "short_rss": short_rss, "long_rss": long_rss,
        "ratio": ratio, "short": short, "long": long, "draft_ms": draft * 1000,
        "full_ms": full * 1000, "movie_bytes": long_report.get("bytes"),
    }, indent=2))
    return 0 if ratio < RATIO_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
