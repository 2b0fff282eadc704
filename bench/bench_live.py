"""Benchmark the live view: latency from publish to MJPEG client, Redis traffic, daemon CPU.

1. Capture-to-browser latency (median, p95): a publisher stamps each preview frame with
   its publish time (a JPEG comment) and an MJPEG client of the gallery (waitress, the
   options the tests use) notes when the part has arrived. Baseline in the same run: a
   plain Redis subscriber of the same channel, so the ratio shows what the gallery adds.
   Measured with 1 viewer and with 20 viewers.
2. Redis bytes per second per camera (INFO total_net_input/output_bytes), with 1 and with
   20 viewers: the gallery holds one subscription, so Redis output must not grow with them.
3. The capture daemon's CPU (a real `python -m pi.capture` with the simulated camera, and
   previews at 2 fps) with previews off, with 0 viewers and with 1 viewer.

It starts its own embedded Redis on a free port. Run with
`.venv/bin/python -m bench.bench_live` (about a minute and a half on two cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

from pi.cameras.simulated import SimulatedCamera as SceneCamera
from pi.contract import CameraStatus, camera_key, preview_channel, save_heartbeat
from pi.redis_connection import connect
from server import create_app, live
from server.tooling.embedded_redis import EmbeddedRedis, free_port
from tests.browser import ServerThread
from tests.live_support import MjpegClient, read_stamp, stamp

ROOT = Path(__file__).resolve().parent.parent
CAMERA = "benchcam"
NOON = time.mktime((2026, 6, 21, 12, 0, 0, 0, 0, -1))  # a bright, detailed scene


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def preview_frames(count: int = 6) -> list[bytes]:
    """Return real 640-pixel previews from the simulated camera, a few seconds apart."""
    clock = [NOON]
    scene = SceneCamera(preview_size=(640, 640), clock=lambda: clock[0])
    frames = []
    for i in range(count):
        clock[0] = NOON + 7 * i
        frames.append(scene.preview())
    return frames


class StampingPublisher(threading.Thread):
    """Publishes stamped frames at a fixed rate while the channel has subscribers."""

    def __init__(self, url: str, frames: list[bytes], fps: float) -> None:
        super().__init__(daemon=True)
        self.client = connect(url)
        self.frames = frames
        self.period = 1.0 / fps
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        next_at = time.monotonic()
        channel = preview_channel(CAMERA)
        while not self.stop.is_set():
            if self.client.pubsub_numsub(channel)[0][1]:
                frame = self.frames[self.sent % len(self.frames)]
                self.client.publish(channel, stamp(frame, f"seq={self.sent} t={time.time():.6f}"))
                self.sent += 1
            next_at += self.period
            self.stop.wait(max(0.0, next_at - time.monotonic()))


def direct_latencies(url: str, stop: threading.Event, out: list[float]) -> None:
    """Collect publish-to-receive latencies of a plain Redis subscriber (the baseline)."""
    client = redis.Redis.from_url(url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(preview_channel(CAMERA))
    while not stop.is_set():
        message = pubsub.get_message(timeout=0.2)
        if message and message["type"] == "message":
            got = read_stamp(message["data"])
            if got:
                out.append(time.time() - got[1])
    pubsub.close()
    client.close()


def gallery_latencies(base_url: str, stop: threading.Event, out: list[float]) -> None:
    """Collect publish-to-part-received latencies of one MJPEG client of the gallery."""
    with MjpegClient(base_url, f"/live/{CAMERA}.mjpg") as client:
        while not stop.is_set():
            _, data = client.read_part()
            got = read_stamp(data)
            if got:
                out.append(time.time() - got[1])


def net_bytes(client: redis.Redis) -> tuple[int, int]:
    """Return Redis's total network input and output bytes so far."""
    stats = client.info("stats")
    return int(stats["total_net_input_bytes"]), int(stats["total_net_output_bytes"])


def latency_run(url: str, base_url: str, frames: list[bytes], fps: float, seconds: float,
                viewers: int) -> dict[str, float]:
    """Run the publisher with `viewers` MJPEG clients and a direct subscriber; return figures."""
    admin = redis.Redis.from_url(url)
    publisher = StampingPublisher(url, frames, fps)
    stop = threading.Event()
    direct: list[float] = []
    per_viewer: list[list[float]] = [[] for _ in range(viewers)]
    threads = [threading.Thread(target=direct_latencies, args=(url, stop, direct), daemon=True)]
    threads += [threading.Thread(target=gallery_latencies, args=(base_url, stop, per_viewer[i]),
                                 daemon=True) for i in range(viewers)]
    for thread in threads:
        thread.start()
    publisher.start()
    time.sleep(1.5)  # subscriptions settle; the first frames are not measured
    direct.clear()
    for values in per_viewer:
        values.clear()
    sent0, (in0, out0), t0 = publisher.sent, net_bytes(admin), time.monotonic()
    time.sleep(seconds)
    sent1, (in1, out1), t1 = publisher.sent, net_bytes(admin), time.monotonic()
    publisher.stop.set()
    stop.set()
    publisher.join(5)
    for thread in threads:
        thread.join(5)
    gallery = [v for values in per_viewer for v in values]
    frame_bytes = statistics.mean(len(f) for f in frames)
    admin.close()
    publisher.client.close()
    return {
        "frames": sent1 - sent0,
        "frame_bytes": frame_bytes,
        "direct_p50": statistics.median(direct) * 1000,
        "direct_p95": percentile(direct, 95) * 1000,
        "gallery_p50": statistics.median(gallery) * 1000,
        "gallery_p95": percentile(gallery, 95) * 1000,
        "samples": len(gallery),
        "redis_in_bps": (in1 - in0) / (t1 - t0),
        "redis_out_bps": (out1 - out0) / (t1 - t0),
    }


def cpu_seconds(pid: int) -> float:
    """Return a process's user + system CPU seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def daemon_run(url: str, base_url: str, preview_fps: float, viewers: int,
               seconds: float) -> dict[str, float]:
    """Run the real capture daemon; return its CPU use and Redis traffic over `seconds`."""
    admin = redis.Redis.from_url(url)
    admin.delete(camera_key(CAMERA))
    with tempfile.TemporaryDirectory() as spool:
        cmd = [sys.executable, "-m", "pi.capture", "--camera-backend", "simulated",
               "--camera-name", CAMERA, "--redis-url", url, "--interval", "3600",
               "--resolution", "1280x720", "--preview-fps", str(preview_fps),
               "--spool-dir", spool, "--log-level", "WARNING"]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        clients: list[MjpegClient] = []
        readers: list[threading.Thread] = []
        stop = threading.Event()
        try:
            deadline = time.monotonic() + 20
            while not admin.exists(camera_key(CAMERA)):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the daemon did not start: {proc.stderr.read().decode()}")
                time.sleep(0.1)
            for _ in range(viewers):
                client = MjpegClient(base_url, f"/live/{CAMERA}.mjpg")
                clients.append(client)
                reader = threading.Thread(target=_drain, args=(client, stop), daemon=True)
                readers.append(reader)
                reader.start()
            time.sleep(3.0)  # the start-up picture is taken and stored; previews flowing
            cpu0, (in0, out0), t0 = cpu_seconds(proc.pid), net_bytes(admin), time.monotonic()
            time.sleep(seconds)
            cpu1, (in1, out1), t1 = cpu_seconds(proc.pid), net_bytes(admin), time.monotonic()
        finally:
            stop.set()
            proc.terminate()
            for client in clients:
                client.close()
            for reader in readers:
                reader.join(5)
            proc.wait(15)
            proc.stderr.close()
    admin.close()
    return {"cpu_percent": 100 * (cpu1 - cpu0) / (t1 - t0),
            "redis_in_bps": (in1 - in0) / (t1 - t0), "redis_out_bps": (out1 - out0) / (t1 - t0)}


def _drain(client: MjpegClient, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            client.read_part()
    except (OSError, EOFError, ValueError, AttributeError):
        return  # closed at the end of the run


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements and print figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each window")
    parser.add_argument("--fps", type=float, default=5.0, help="publish rate for latency")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as data_dir:
        server = EmbeddedRedis(data_dir=data_dir, port=free_port(), maxmemory="0",
                               appendonly=False)
        with server:
            app = create_app({"REDIS_URL": server.url, "SECRET_KEY": "bench"})
            with ServerThread(app) as web:
                try:
                    report(server.url, web.url, args)
                finally:
                    live.get_hub(app).stop()
    return 0


def report(url: str, base_url: str, args: argparse.Namespace) -> None:
    """Measure and print."""
    frames = preview_frames()
    admin = redis.Redis.from_url(url)
    save_heartbeat(admin, CameraStatus(camera=CAMERA, host="bench"), 3600)
    admin.close()
    print(f"Live view benchmark: {len(frames)} simulated 640-px previews, "
          f"{statistics.mean(map(len, frames)) / 1024:.1f} KiB each, {args.fps:g} fps, "
          f"{args.seconds:g} s windows\n")

    print("1. Publish-to-client latency (ms)          p50      p95   samples")
    one = latency_run(url, base_url, frames, args.fps, args.seconds, viewers=1)
    print(f"   direct Redis subscriber (baseline)  {one['direct_p50']:7.2f}  {one['direct_p95']:7.2f}")
    print(f"   gallery MJPEG, 1 viewer             {one['gallery_p50']:7.2f}  "
          f"{one['gallery_p95']:7.2f}  {one['samples']:7d}")
    many = latency_run(url, base_url, frames, args.fps, args.seconds, viewers=20)
    print(f"   gallery MJPEG, 20 viewers           {many['gallery_p50']:7.2f}  "
          f"{many['gallery_p95']:7.2f}  {many['samples']:7d}")
    print(f"   ratio gallery/direct p50: 1 viewer {one['gallery_p50'] / one['direct_p50']:.1f}x, "
          f"20 viewers {many['gallery_p50'] / many['direct_p50']:.1f}x "
          f"(+{one['gallery_p50'] - one['direct_p50']:.2f} ms and "
          f"+{many['gallery_p50'] - many['direct_p50']:.2f} ms)\n")

    print("2. Redis traffic for one camera (bytes/s)    in        out")
    print(f"   {args.fps:g} fps, 1 viewer                   {one['redis_in_bps']:9.0f}  "
          f"{one['redis_out_bps']:9.0f}")
    print(f"   {args.fps:g} fps, 20 viewers                 {many['redis_in_bps']:9.0f}  "
          f"{many['redis_out_bps']:9.0f}")
    print(f"   ratio out 20/1 viewers: {many['redis_out_bps'] / one['redis_out_bps']:.2f} "
          "(one subscription per gallery process; the bench's direct subscriber is one more)\n")

    print("3. Capture daemon (simulated camera, previews 2 fps, 640 px)   CPU %   Redis in B/s")
    off = daemon_run(url, base_url, 0, 0, args.seconds)
    idle = daemon_run(url, base_url, 2, 0, args.seconds)
    watched = daemon_run(url, base_url, 2, 1, args.seconds)
    print(f"   previews off                                              {off['cpu_percent']:6.2f}"
          f"   {off['redis_in_bps']:10.0f}")
    print(f"   previews on, 0 viewers                                    {idle['cpu_percent']:6.2f}"
          f"   {idle['redis_in_bps']:10.0f}")
    print(f"   previews on, 1 viewer                                     "
          f"{watched['cpu_percent']:6.2f}   {watched['redis_in_bps']:10.0f}")
    extra_idle = idle["cpu_percent"] - off["cpu_percent"]
    extra_watched = watched["cpu_percent"] - off["cpu_percent"]
    print(f"   previews' CPU over 'off': 0 viewers {extra_idle * 10:+.2f} ms/s, 1 viewer "
          f"{extra_watched * 10:+.2f} ms/s; ratio 0 viewers/1 viewer "
          f"{extra_idle / extra_watched if extra_watched > 0 else float('nan'):.3f} "
          f"(CPU is counted in {1000 / os.sysconf('SC_CLK_TCK'):.0f} ms ticks)")
    print(f"   Redis bytes/s per watched camera at the daemon's defaults: "
          f"{watched['redis_in_bps'] - idle['redis_in_bps']:.0f} in "
          f"(+ the same out per gallery process watching)")


if __name__ == "__main__":
    sys.exit(main())
