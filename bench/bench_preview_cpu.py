"""Benchmark the capture daemon's CPU time with live previews off, unwatched, and watched.

Runs the real daemon (`python -m pi.capture`, simulated camera) three times against its
own embedded Redis and reads the process's user + system CPU time from /proc over the
same window each time, after start-up:

1. previews off (PREVIEW_FPS=0): the baseline;
2. previews on at 2 fps, nobody subscribed: must equal the baseline (ratio about 1.0),
   since the daemon then only asks PUBSUB NUMSUB twice a second and encodes nothing;
3. previews on, one subscriber: what watching costs, with the frames received.

By default the daemon takes a 4608x2592 picture every 5 s, as `make run` does, so the
figures are those of a working daemon; `--interval 3600` leaves pictures out of the
window and shows the previews' own cost (unwatched: only the PUBSUB NUMSUB checks).
It prints its figures and exits 0. Run: `.venv/bin/python -m bench.bench_preview_cpu`
(about 90 s).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pi.contract import camera_key, preview_channel
from server.tooling.embedded_redis import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parent.parent
CAMERA = "cpubench"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """Return a process's user + system CPU seconds (all threads) from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Viewer(threading.Thread):
    """One subscriber of the preview channel, counting frames and bytes."""

    def __init__(self, server: EmbeddedRedis) -> None:
        super().__init__(daemon=True)
        self.pubsub = server.client().pubsub()
        self.pubsub.subscribe(preview_channel(CAMERA))
        self.frames = 0
        self.bytes = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                self.frames += 1
                self.bytes += len(message["data"])
        self.pubsub.close()


def measure(server: EmbeddedRedis, tmp: Path, preview_fps: float, viewer: bool,
            window: float, interval: float) -> dict[str, float]:
    """Run the daemon; return its CPU seconds over `window` after start-up, and frames seen."""
    admin = server.client()
    admin.flushall()
    cmd = [sys.executable, "-m", "pi.capture", "--camera-backend", "simulated", "--camera-name",
           CAMERA, "--redis-url", server.url, "--interval", str(interval), "--expiry", "600",
           "--preview-fps", str(preview_fps), "--spool-dir", str(tmp / "spool"),
           "--env-file", "", "--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watcher = Viewer(server) if viewer else None
    try:
        deadline = time.monotonic() + 60
        while not (admin.exists(camera_key(CAMERA)) and admin.hget(camera_key(CAMERA), "last_id")):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the daemon did not start")
            time.sleep(0.1)
        if watcher:
            watcher.start()
        time.sleep(1.5)  # settle: start-up work and the first frames are not counted
        frames0 = watcher.frames if watcher else 0
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(window)
        cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
        frames = (watcher.frames - frames0) if watcher else 0
    finally:
        proc.terminate()
        proc.wait(10)
        if watcher:
            watcher.stop.set()
            watcher.join(2)
        admin.close()
    return {"cpu": cpu1 - cpu0, "seconds": t1 - t0, "frames": frames}


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements and print them; always return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured (default 20)")
    parser.add_argument("--interval", type=float, default=5.0,
                        help="seconds between pictures (default 5; 3600: none in the window)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        with EmbeddedRedis(data_dir=tmp / "redis", port=free_port(), maxmemory="0") as server:
            runs = {
                "previews off (PREVIEW_FPS=0)": measure(server, tmp, 0, False, args.window, args.interval),
                "previews on, 0 viewers": measure(server, tmp, 2, False, args.window, args.interval),
                "previews on, 1 viewer": measure(server, tmp, 2, True, args.window, args.interval),
            }
    print(f"Capture daemon CPU over {args.window:g} s (simulated camera, previews 2 fps, 640 px; "
          f"interval {args.interval:g} s; CPU clock tick {1000 / TICKS:.0f} ms)")
    for name, run in runs.items():
        frames = f"   {run['frames']:3d} frames received" if "1 viewer" in name else ""
        print(f"  {name:<30} {run['cpu'] * 1000:8.0f} ms CPU  "
              f"({100 * run['cpu'] / run['seconds']:5.2f} % of a core){frames}")
    off, idle, watched = runs.values()
    base = max(off["cpu"], 1 / TICKS)
    print(f"  ratio 0 viewers / off: {idle['cpu'] / base:.2f} (target: equal, 1.0; difference "
          f"{1000 * (idle['cpu'] - off['cpu']) / args.window:+.2f} ms of CPU per second, "
          f"{100 * (idle['cpu'] - off['cpu']) / args.window:+.3f} % of a core)")
    print(f"  ratio 1 viewer / off:  {watched['cpu'] / base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
