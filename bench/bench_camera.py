"""Benchmark what the picamera2 backend asks of a small Pi: camera memory and frame rate.

Runs the REAL picamera2 package (the newest release pinned in tests/picamera2-versions.txt)
over the libcamera stand-in of tests/picamera2_host, with a Camera Module 3 at its full
4608x2592 resolution, and measures in one run:

1. CMA bytes: what picamera2's DmaAllocator allocates from the DMA heap (the CMA pool a
   Zero 2 W or Pi 3 has 64-256 MB of) for the still configuration, with a BGR888 main
   stream (the baseline) and with YUV420; the ratio YUV420 / BGR888.
2. Frames per second while idle, uncapped (CAMERA_IDLE_FPS=0: the baseline; the stand-in
   runs at the imx708 full-resolution mode's 14.35 fps) and capped (CAMERA_IDLE_FPS=5),
   with the DMA buffer syncs per second picamera2 issues (one per buffer per frame), and
   this process's CPU time per second; the ratios capped / uncapped.
3. JPEG encode time of one full-resolution picture from each main format (simplejpeg from
   the mapped buffer); the ratio YUV420 / BGR888.

The stand-in's frame timing is the sensor's, so (2) shows that the cap reaches the camera
through picamera2 and what it saves per frame, not a Pi's absolute CPU figures.
Run: `.venv/bin/python bench/bench_camera.py` (about 30 s).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pi.cameras.picamera2_camera import Picamera2Camera  # noqa: E402
from tests.picamera2_host import load, pinned_versions  # noqa: E402

FULL_RES_FPS = 14.35  # imx708 4608x2592 mode
WINDOW = 4.0


def open_camera(host, main_format: str, idle_fps: float) -> tuple[Picamera2Camera, int, list[int]]:
    host.libcamera.reset()
    host.knobs.frame_interval = 1 / FULL_RES_FPS
    camera = Picamera2Camera(resolution=None, main_format=main_format, idle_fps=idle_fps,
                             autofocus=False, timeout=10)
    camera.open()
    return camera, host.stats.cma_bytes, list(host.stats.cma_buffers)


def idle_rates(host, camera: Picamera2Camera) -> tuple[float, float, float]:
    camera.capture()  # settle, and leave the camera idle (capped again) after a picture
    time.sleep(1.0)
    frames, syncs, cpu = host.stats.frames, host.stats.syncs, time.process_time()
    time.sleep(WINDOW)
    return ((host.stats.frames - frames) / WINDOW, (host.stats.syncs - syncs) / WINDOW,
            (time.process_time() - cpu) / WINDOW)


def encode_ms(camera: Picamera2Camera, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        camera.capture()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> int:
    version = [p.version for p in pinned_versions() if p.expect == "works"][-1]
    host = load(version)
    print(f"picamera2 {version} (real) over the libcamera stand-in, imx708 at 4608x2592\n")

    cma, ms = {}, {}
    for fmt in ("BGR888", "YUV420"):
        camera, cma[fmt], buffers = open_camera(host, fmt, idle_fps=0)
        ms[fmt] = encode_ms(camera)
        camera.close()
        print(f"CMA {fmt:6}: {cma[fmt] / 1e6:6.1f} MB in {len(buffers)} buffers "
              f"({', '.join(f'{b / 1e6:.1f}' for b in sorted(buffers, reverse=True))} MB); "
              f"picture in {ms[fmt]:.0f} ms")
    print(f"  ratio YUV420 / BGR888: CMA {cma['YUV420'] / cma['BGR888']:.2f}, "
          f"picture time {ms['YUV420'] / ms['BGR888']:.2f}\n")

    rates = {}
    for label, idle_fps in (("uncapped", 0.0), ("capped 5", 5.0)):
        camera, _, _ = open_camera(host, "YUV420", idle_fps=idle_fps)
        rates[label] = idle_rates(host, camera)
        camera.close()
        fps, syncs, cpu = rates[label]
        print(f"idle {label:8}: {fps:5.2f} frames/s, {syncs:5.1f} DMA syncs/s, "
              f"{cpu * 100:5.1f} % CPU of one core (this PC)")
    (fps0, syncs0, cpu0), (fps1, syncs1, cpu1) = rates["uncapped"], rates["capped 5"]
    print(f"  ratio capped / uncapped: frames {fps1 / fps0:.2f}, syncs {syncs1 / syncs0:.2f}, "
          f"CPU {cpu1 / cpu0:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
