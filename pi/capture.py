"""Capture daemon entry point: `pi-capture` (or `python -m pi.capture`, or `capture.py`).

Reads the settings (flags, environment, .env), opens the camera, and runs the capture
loop until SIGTERM or Ctrl-C, which finish the store in flight, close the camera and
exit 0. `--once` takes one picture, stores it and exits. Problems a user can fix end
the program with one clear paragraph on stderr, never a traceback.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence

try:
    from pi.cameras import CameraError, CameraUnsupported, make_camera
    from pi.contract import SearchModuleMissing
    from pi.daemon import CaptureDaemon, DaemonStartError
    from pi.redis_connection import connect, redact_url
    from pi.settings import Settings, SettingsError, load_settings
    from pi.spool import Spool
    from pi.store import RedisCredentialsRefused
except ModuleNotFoundError as missing:  # a Python without the project installed
    _PACKAGES = {"redis": "redis", "dotenv": "python-dotenv", "PIL": "pillow", "numpy": "numpy",
                 "pi": "the pi package itself"}
    _NAME = _PACKAGES.get((missing.name or "").split(".")[0], missing.name)
    sys.exit(f"error: this Python ({sys.executable}) lacks {_NAME}. Fix: run the daemon with the "
             "project's venv (.venv/bin/pi-capture), or install what the Pi needs from the "
             "repository root: pip install -e '.[pi]' (see pi/README.md).")

logger = logging.getLogger("pi.capture")

#: Exit codes: 0 fine, 1 a run-time problem (message printed), 2 bad settings.
EXIT_OK, EXIT_FAILED, EXIT_SETTINGS = 0, 1, 2
#: Seconds a store may take on the wire (a 4608x2592 JPEG is a few MB: well under a second on
#: a LAN). A hung Redis costs one capture this long; then pictures go straight to the spool.
SOCKET_TIMEOUT = 5.0
#: After SIGTERM the loop gets this long to finish (an autofocus cycle or capture in progress is
#: cut short at once; a camera stuck in the kernel may not let go). It is inside the unit's
#: TimeoutStopSec=10, so systemd never has to SIGKILL: closing the camera after it is bounded too.
STOP_DEADLINE = 8.0


def configure_logging(level: str) -> None:
    """Log to stderr, one line per event (journald adds its own timestamps too)."""
    logging.basicConfig(level=getattr(logging, level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        logging.getLogger("PIL").setLevel(logging.INFO)


def run_until_signalled(daemon: CaptureDaemon) -> None:
    """Run the loop in a worker thread; SIGTERM/SIGINT ask it to stop, a second one forces it.

    The main thread only waits, so the signal handler never interrupts code holding a lock.
    """
    errors: list[BaseException] = []

    def work() -> None:
        try:
            daemon.run()
        except BaseException as exc:  # handed to the main thread, which reports it
            errors.append(exc)

    signals_seen = 0
    stop_asked: list[float] = []

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal signals_seen
        signals_seen += 1
        stop_asked.append(time.monotonic())
        if signals_seen > 1:
            os._exit(EXIT_FAILED)
        logger.info("%s received: finishing the picture in progress and stopping",
                    signal.Signals(signum).name)
        daemon.request_stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    worker = threading.Thread(target=work, name="capture-loop")
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.5)
            if stop_asked and worker.is_alive() and time.monotonic() - stop_asked[0] > STOP_DEADLINE:
                logger.error("The capture loop did not stop within %g s (the camera is stuck?); "
                             "exiting anyway", STOP_DEADLINE)
                logging.shutdown()
                os._exit(EXIT_FAILED)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if errors:
        raise errors[0]


def run(settings: Settings) -> int:
    """Open everything the settings name and run the daemon (or one picture)."""
    where = redact_url(settings.redis_url)
    try:
        spool = Spool(settings.spool_dir, int(settings.spool_max_mb * 1_000_000))
    except OSError as exc:
        print(f"error: SPOOL_DIR={settings.spool_dir} can't be used ({exc.strerror or exc}). Fix: "
              "point SPOOL_DIR at a folder this user may write.", file=sys.stderr)
        return EXIT_SETTINGS  # a bad setting: the unit does not restart it
    camera = make_camera(settings)
    client = connect(settings.redis_url, retries=1, socket_timeout=SOCKET_TIMEOUT)
    daemon = CaptureDaemon(settings, camera, client, where=where, spool=spool)
    try:
        with camera:
            if not settings.once:
                run_until_signalled(daemon)
                return EXIT_OK
            if daemon.run_once():
                return EXIT_OK
            if daemon.failures:
                print("error: the camera took no picture (see the log above).", file=sys.stderr)
            else:
                print(f"error: Redis at {where} is unavailable, so the picture was spooled to "
                      f"{spool.directory}; it will be stored when the daemon runs and Redis "
                      "answers. Fix: start Redis or correct REDIS_URL.", file=sys.stderr)
            return EXIT_FAILED
    except CameraUnsupported as exc:  # restarting won't help: exit 2, which the unit doesn't restart
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    except (CameraError, SearchModuleMissing, RedisCredentialsRefused, DaemonStartError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        client.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the settings and run; return the exit code."""
    try:
        settings = load_settings(argv)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    configure_logging(settings.log_level)
    if settings.backend_was_guessed:
        logger.warning("picamera2 cannot be imported, so this is the SIMULATED camera. On a "
                       "Raspberry Pi: `sudo apt install python3-picamera2` and make the venv with "
                       "--system-site-packages (pi/README.md); set CAMERA_BACKEND to choose.")
    try:
        return run(settings)
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:  # a bug: one line for the user, the traceback at debug level
        logger.debug("Unexpected error", exc_info=True)
        print(f"error: unexpected {type(exc).__name__}: {exc}. Run with LOG_LEVEL=DEBUG for "
              "details, and please report it.", file=sys.stderr)
        return EXIT_FAILED


def _entry_point() -> None:
    """The `pi-capture` console script."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
