"""Run the capture daemon (pi.capture.main) on a real picamera2 release over the stand-ins.

    python -m tests.picamera2_host.run_daemon VERSION [capture.py flags...]

Environment: PICAMERA2_KNOBS, JSON of libcamera stand-in knobs set at start (e.g.
{"af_scan_frames": 100000}); PICAMERA2_WEDGE_AFTER, seconds after which the camera hangs
and its stop() never returns (a camera wedged in the kernel).
"""

from __future__ import annotations

import json
import os
import sys
import threading

from tests.picamera2_host import load


def main() -> int:
    host = load(sys.argv[1])
    host.knobs.__dict__.update(json.loads(os.environ.get("PICAMERA2_KNOBS") or "{}"))
    wedge_after = os.environ.get("PICAMERA2_WEDGE_AFTER")
    if wedge_after:
        def wedge() -> None:
            host.knobs.hang = True
            host.knobs.stop_hangs = True
        threading.Timer(float(wedge_after), wedge).start()
    from pi.capture import main as capture_main
    return capture_main(["--camera-backend", "picamera2", *sys.argv[2:]])


if __name__ == "__main__":
    sys.exit(main())
