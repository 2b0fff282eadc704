"""The Pi code works with the lowest versions the `pi` extra allows (Bookworm's Pillow 9.4).

The pins in scripts/min-versions-pi.txt are installed (once, pip --target) into
.cache/pi-min-versions and put first on the path of a subprocess that runs the Pi's own
picture paths: the picamera2 backend (real picamera2, newest pinned release), the
simulated and directory cameras, thumbnails and the record stored in Redis.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PINS = REPO / "scripts" / "min-versions-pi.txt"
TARGET = REPO / ".cache" / "pi-min-versions"

SMOKE = textwrap.dedent("""
    import io, sys, time
    import PIL
    from PIL import Image
    from tests.picamera2_host import load, pinned_versions
    from pi.cameras.picamera2_camera import Picamera2Camera
    from pi.cameras.simulated import SimulatedCamera
    from pi.cameras.directory import DirectoryCamera
    from pi.metadata import record_from_capture

    print("pillow", PIL.__version__)
    load([p.version for p in pinned_versions() if p.expect == "works"][-1])
    with Picamera2Camera(resolution=(1280, 720), autofocus=True, timeout=2) as cam:
        pic = cam.capture()
        preview = cam.preview()
    assert Image.open(io.BytesIO(pic.thumbnail)).size == (320, 180)
    assert Image.open(io.BytesIO(preview)).size == (640, 360)
    sim = SimulatedCamera(resolution=(640, 360), label="min").capture()
    folder = sys.argv[1]
    with open(folder + "/a.jpg", "wb") as fh:
        fh.write(sim.jpeg)
    with DirectoryCamera(folder) as directory:
        replayed = directory.capture()
        directory.preview()
        directory.motion_frame()
    for capture in (pic, sim, replayed):
        fields = record_from_capture(capture, "cam", "interval", time.time()).to_hash()
        assert fields["thumbnail"][:2] == b"\\xff\\xd8", fields.keys()
    print("ok")
""")


def pinned_target() -> Path:
    stamp = TARGET / ".pins"
    if not stamp.is_file() or stamp.read_text() != PINS.read_text():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--disable-pip-version-check", "--upgrade", "--target", str(TARGET),
                        "-r", str(PINS)], check=True)
        stamp.write_text(PINS.read_text())
    return TARGET


def test_the_pi_code_works_with_bookworms_pillow(tmp_path):
    target = pinned_target()
    result = subprocess.run([sys.executable, "-c", SMOKE, str(tmp_path)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": f"{target}{os.pathsep}{REPO}"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.split()
    assert lines[:2] == ["pillow", "9.4.0"] and lines[-1] == "ok"
