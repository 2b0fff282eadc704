"""Benchmark the archiver: does it keep up, does its memory stay flat, how fast are archived reads.

Three measurements, each with a baseline from the same run:

1. Throughput vs capture rate: 4 simulated cameras store a 12 MP-sized JPEG (4608x2592)
   every second each, for --seconds; the archiver (`python -m server.archive run`, its own
   process, folder backend) copies them. Printed: archived per second ÷ captured per second
   (>= 1 keeps up), and the backlog (`archive:status` pending + undelivered) sampled every
   second: its maximum and its value when capture stops. Bounded = it does not grow with time.
2. Peak RSS of the archiver process (VmHWM) draining --pending pictures that were waiting
   when it started ÷ draining 10. Target <= 1.5: it holds one picture at a time, whatever
   the backlog. Also its flat-out rate (folder, and S3 on loopback) ÷ the capture rate of (1).
3. Reading one original (whole, 12 MP-sized) from the archive ÷ HGET image_data from Redis,
   p50 of back-to-back pairs: folder backend, and S3 on loopback (moto's standalone server,
   when installed: the `dev` extra).

It starts its own embedded Redis (and moto) on free ports, prints its figures and exits 0.
Run: `.venv/bin/python -m bench.bench_archive [--seconds 30] [--pending 1000]`.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pi import contract
from pi.cameras.simulated import SimulatedCamera
from pi.metadata import record_from_capture
from pi.redis_connection import connect
from server.archive.backends import FileBackend, S3Backend
from server.tooling.embedded_redis import EmbeddedRedis, free_port

NOON = time.mktime((2026, 6, 21, 12, 0, 0, 0, 0, -1))
CAMERAS = ("garden", "porch", "drive", "door")
RSS_TARGET = 1.5


def make_frames(resolution: tuple[int, int]) -> list:
    clock = [NOON]
    camera = SimulatedCamera(resolution=resolution, jpeg_quality=90, clock=lambda: clock[0])
    frames = []
    for i in range(len(CAMERAS)):
        clock[0] = NOON + 37 * i
        frames.append(camera.capture())
    return frames


def store(client, frame, camera: str, ts: float) -> str:
    record = record_from_capture(frame, camera, "interval", ts)
    new_id = contract.image_id(camera, ts)
    contract.save_image(client, record, 3600, new_id)
    return new_id


def start_archiver(redis_url: str, folder: Path | str, consumer: str, **extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    archive_url = folder.as_uri() if isinstance(folder, Path) else folder
    env.update({"REDIS_URL": redis_url, "ARCHIVE_URL": archive_url, "ARCHIVE_CONSUMER": consumer,
                "ARCHIVE_STATUS_INTERVAL": "0.5", "ARCHIVE_MIN_FREE_GB": "0", "LOG_LEVEL": "WARNING"})
    env.update(extra)
    root = Path(__file__).resolve().parent.parent
    return subprocess.Popen([sys.executable, "-m", "server.archive", "run"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def backlog(client) -> int:
    """Pictures stored and not yet archived: pending in the group plus not yet delivered."""
    pending = client.xpending(contract.STREAM_KEY, contract.ARCHIVE_GROUP)["pending"]
    for group in client.xinfo_groups(contract.STREAM_KEY):
        if group["name"] in (contract.ARCHIVE_GROUP, contract.ARCHIVE_GROUP.encode()):
            return pending + int(group.get("lag") or 0)
    return pending


def archived_count(client) -> int:
    status = contract.read_archive_status(client)
    return status.archived if status else 0


def throughput(client, url: str, frames, tmp: Path, seconds: float) -> float:
    print(f"1. Throughput: {len(CAMERAS)} cameras x 1 picture/s for {seconds:.0f} s, "
          f"{statistics.median(len(f.jpeg) for f in frames) / 1e6:.2f} MB each, folder backend")
    archiver = start_archiver(url, tmp / "archive-1", "bench-throughput")
    while contract.read_archive_status(client) is None:
        time.sleep(0.1)
    stop_capture = threading.Event()
    stored = [0]

    def camera_loop(i: int, name: str) -> None:
        n = 0
        start = time.monotonic() + i * 0.25
        while not stop_capture.wait(max(0.0, start + n - time.monotonic())):
            store(client, frames[i], name, time.time())
            n += 1
            stored[0] += 1

    threads = [threading.Thread(target=camera_loop, args=(i, n)) for i, n in enumerate(CAMERAS)]
    begin = time.monotonic()
    for t in threads:
        t.start()
    samples = []
    while time.monotonic() - begin < seconds:
        time.sleep(1.0)
        samples.append(backlog(client))
    stop_capture.set()
    for t in threads:
        t.join()
    captured_for = time.monotonic() - begin
    at_stop = backlog(client)
    deadline = begin + seconds * 4
    while (backlog(client) > 0 or archived_count(client) < stored[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    drained_after = time.monotonic() - begin - captured_for
    done = archived_count(client)
    stop(archiver)
    capture_rate = stored[0] / captured_for
    half = len(samples) // 2
    first, second = statistics.mean(samples[:half] or [0]), statistics.mean(samples[half:] or [0])
    print(f"  captured {stored[0]} ({capture_rate:.2f}/s); all {done} archived {drained_after:.1f} s after "
          "capture stopped")
    print(f"  backlog sampled each second: max {max(samples)}, mean {first:.1f} in the first half and "
          f"{second:.1f} in the second, {at_stop} when capture stopped: "
          f"{'bounded' if second <= first + len(CAMERAS) else 'GROWING'}\n")
    client.flushall()
    return capture_rate


def rss(client, url: str, frames, tmp: Path, pending: int, capture_rate: float) -> None:
    print(f"2. Archiver peak RSS draining a backlog (pictures stored while it was stopped, "
          f"{statistics.median(len(f.jpeg) for f in frames) / 1e6:.2f} MB each)")
    results: dict[int, float] = {}
    drain_rate: dict[int, float] = {}
    for n in (10, pending):
        client.flushall()
        contract.ensure_index(client)
        # The group exists (the archiver ran before), so everything stored now is pending for it.
        client.xgroup_create(contract.STREAM_KEY, contract.ARCHIVE_GROUP, id="$", mkstream=True)
        for i in range(n):
            store(client, frames[i % len(frames)], CAMERAS[i % len(CAMERAS)], time.time())
        archiver = start_archiver(url, tmp / f"archive-rss-{n}", f"bench-rss-{n}")
        begin = time.monotonic()
        peak = 0.0
        while archived_count(client) < n and archiver.poll() is None and time.monotonic() - begin < 1800:
            peak = max(peak, peak_rss_mb(archiver.pid))
            time.sleep(0.2)
        took = time.monotonic() - begin
        peak = max(peak, peak_rss_mb(archiver.pid))
        stop(archiver)
        results[n] = peak
        drain_rate[n] = n / took
        print(f"  {n:5d} waiting: peak RSS {peak:7.1f} MB, drained in {took:6.1f} s ({n / took:.1f}/s)")
        client.flushall()
    ratio = results[pending] / results[10]
    print(f"  ratio {pending} ÷ 10: {ratio:.2f}, target <= {RSS_TARGET}: "
          f"{'meets' if ratio <= RSS_TARGET else 'MISSES'} the target")
    flat_out = drain_rate[pending]
    print(f"  archiving flat out to a folder ({flat_out:.1f}/s) ÷ the 4 cameras' capture rate "
          f"({capture_rate:.1f}/s): {flat_out / capture_rate:.2f} (>= 1: it keeps up)")
    moto_bin = Path(sys.executable).with_name("moto_server")
    if not moto_bin.exists():
        print("  (moto_server not installed: S3 skipped; pip install -e '.[dev]')\n")
        return
    n = min(pending, 200)
    port = free_port()
    moto = subprocess.Popen([str(moto_bin), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client.flushall()
        contract.ensure_index(client)
        client.xgroup_create(contract.STREAM_KEY, contract.ARCHIVE_GROUP, id="$", mkstream=True)
        for i in range(n):
            store(client, frames[i % len(frames)], CAMERAS[i % len(CAMERAS)], time.time())
        time.sleep(1.0)  # moto_server is up
        endpoint = f"http://127.0.0.1:{port}"
        archiver = start_archiver(url, "s3://bench/originals", "bench-s3", ARCHIVE_S3_ENDPOINT=endpoint,
                                  ARCHIVE_S3_CREATE_BUCKET="1", AWS_ACCESS_KEY_ID="bench",
                                  AWS_SECRET_ACCESS_KEY="bench-secret")
        begin = time.monotonic()
        while archived_count(client) < n and archiver.poll() is None and time.monotonic() - begin < 1800:
            time.sleep(0.2)
        took = time.monotonic() - begin
        stop(archiver)
        print(f"  archiving flat out to S3 on loopback (moto, {n} pictures: {n / took:.1f}/s) ÷ the capture "
              f"rate: {n / took / capture_rate:.2f}\n")
    finally:
        moto.terminate()
        moto.wait(10)
        client.flushall()


def latency(client, frames, tmp: Path, rounds: int) -> None:
    jpeg = frames[0].jpeg
    print(f"3. Reading one original ({len(jpeg) / 1e6:.2f} MB) whole, p50 of {rounds} back-to-back pairs")
    client.hset("image:bench:1-abcd", mapping={"image_data": jpeg, "timestamp": "1"})
    backends = [("folder", FileBackend(tmp / "archive-read"))]
    moto = None
    moto_bin = Path(sys.executable).with_name("moto_server")
    if moto_bin.exists():
        port = free_port()
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench-secret")
        moto = subprocess.Popen([str(moto_bin), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        s3 = S3Backend("bench", endpoint=f"http://127.0.0.1:{port}", create_bucket=True)
        for _ in range(100):
            try:
                s3.check()
                break
            except Exception:
                time.sleep(0.1)
        backends.append(("S3 on loopback (moto)", s3))
    else:
        print("  (moto_server not installed: S3 skipped; pip install -e '.[dev]')")
    try:
        for name, backend in backends:
            backend.check()
            backend.put("bench/2026/06/21/12-00-00.000-abcd.jpg", jpeg, "image/jpeg")
            ours, base = [], []
            for i in range(rounds):
                def from_archive(backend=backend) -> float:
                    start = time.perf_counter()
                    with backend.open("bench/2026/06/21/12-00-00.000-abcd.jpg") as obj:
                        data = b"".join(obj.iter_chunks())
                    assert len(data) == len(jpeg)
                    return (time.perf_counter() - start) * 1000

                def from_redis() -> float:
                    start = time.perf_counter()
                    data = client.hget("image:bench:1-abcd", "image_data")
                    assert len(data) == len(jpeg)
                    return (time.perf_counter() - start) * 1000

                if i % 2:
                    ours.append(from_archive())
                    base.append(from_redis())
                else:
                    base.append(from_redis())
                    ours.append(from_archive())
            ours, base = ours[2:], base[2:]
            paired = statistics.median(o / b for o, b in zip(ours, base))
            print(f"  {name:<24} p50 {statistics.median(ours):7.2f} ms   Redis HGET p50 "
                  f"{statistics.median(base):7.2f} ms   ratio {paired:.2f}")
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait(10)
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="capture time for (1) (default 30)")
    parser.add_argument("--pending", type=int, default=1000, help="backlog for (2) (default 1000)")
    parser.add_argument("--rounds", type=int, default=30, help="read pairs for (3) (default 30)")
    parser.add_argument("--resolution", default="4608x2592", help="frame size (default 4608x2592)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.resolution.lower().split("x"))
    print(f"Generating {len(CAMERAS)} simulated {width}x{height} frames ...", flush=True)
    frames = make_frames((width, height))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = EmbeddedRedis(data_dir=tmp / "redis", port=free_port(), maxmemory="0")
        with server:
            client = connect(server.url, socket_timeout=30)
            contract.ensure_index(client)
            capture_rate = throughput(client, server.url, frames, tmp, args.seconds)
            rss(client, server.url, frames, tmp, args.pending, capture_rate)
            latency(client, frames, tmp, args.rounds)
            client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
