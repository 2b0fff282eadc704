"""`make run`: a Redis with the search module, capture daemons on simulated cameras, the gallery,
and the archiver (originals copied to redisdata/archive, or to ARCHIVE_URL).

Run as `python -m server.tooling.run_stack`. With REDIS_URL set, that Redis is used and
nothing is started for it; otherwise the embedded Redis runs on 127.0.0.1 with its data
in redisdata/. Ctrl-C stops all of it, the Redis last, so nothing captured is lost.
Settings (environment or .env):

  DEMO_CAMERAS       simulated cameras to run, name:seconds,...   (garden:5,porch:8)
  DEMO_IMAGE_EXPIRY  seconds each demo image lives                 (3600)
  GALLERY_PORT       the gallery's port                            (5000)
  REDIS_PORT         the embedded Redis's port                     (6379)
  REDIS_DATA_DIR     the embedded Redis's data folder              (redisdata/)
  REDIS_MAXMEMORY    the embedded Redis's memory budget            (256mb)

  MQTT_URL, WEBHOOK_URL, NTFY_URL or TELEGRAM_BOT_TOKEN also starts the notifier (README)

A camera that exits stops alone (the gallery shows it offline); the gallery or the Redis
stopping stops everything. The embedded Redis is reused only when it is this project's
(see `server.tooling.embedded_redis`).

Any capture setting (pi/env.example) set in the environment applies to the demo cameras;
otherwise they take 1920x1080 pictures on interval and motion triggers, in a simulated day
that lasts half an hour (SIMULATED_TIME_SPEEDUP=48), so the light chart has something to show.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import redis
from dotenv import load_dotenv

from pi.contract import CAMERA_NAME_RE, SearchModuleMissing, ensure_index
from pi.redis_connection import connect, redact_url
from server.core import settings as gallery_settings
from server.tooling import embedded_redis

ROOT = Path(__file__).resolve().parents[2]  # the repository
logger = logging.getLogger("run")

DEFAULT_CAMERAS = "garden:5,porch:8"
#: Demo capture settings, each overridable from the environment. 1920x1080 keeps a picture
#: near 0.5 MB. Two tiers, as pi/env.example ships them: the full size for DEMO_IMAGE_EXPIRY,
#: the thumbnail and metadata for 30 days (or until the 256 MB budget needs the room).
DEMO_CAPTURE_DEFAULTS = {
    "CAMERA_BACKEND": "simulated",
    "IMAGE_RESOLUTION": "1920x1080",
    "CAPTURE_TRIGGERS": "interval,motion",
    "SIMULATED_TIME_SPEEDUP": "48",
    "HISTORY_EXPIRY": "2592000",
}


#: Setting any of these starts the notifier (python -m server.notify) too.
NOTIFY_TARGET_VARS = ("MQTT_URL", "WEBHOOK_URL", "NTFY_URL", "TELEGRAM_BOT_TOKEN")


class SetupError(Exception):
    """A problem the user must fix; the message says how."""


@dataclass
class Child:
    """One supervised process whose output is prefixed with its name."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Start the process in its own session, so Ctrl-C reaches only the supervisor."""
        self.process = subprocess.Popen(
            self.argv, cwd=ROOT, env={**os.environ, **self.env}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            print(f"{self.name:>16} | {line.rstrip()}", flush=True)

    def stop(self, timeout: float = 8.0) -> None:
        """Ask the process to stop (SIGTERM), then kill it if it does not."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0f s; killing it", self.name, timeout)
            self.process.kill()
            self.process.wait()


def parse_cameras(text: str) -> list[tuple[str, float]]:
    """Parse DEMO_CAMERAS, e.g. "garden:5,porch:8", into (name, interval) pairs."""
    cameras = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, seconds = item.partition(":")
        try:
            interval = float(seconds or 5)
        except ValueError:
            interval = -1.0
        if not CAMERA_NAME_RE.match(name) or interval <= 0:
            raise SetupError(
                f"DEMO_CAMERAS={text!r} is not valid: use name:seconds pairs separated by commas, "
                "names of letters, digits, - and _, e.g. garden:5,porch:8."
            )
        cameras.append((name, interval))
    return cameras


@dataclass(frozen=True)
class StackSettings:
    """What `make run` runs, read once from the environment and validated."""

    cameras: list[tuple[str, float]]
    image_expiry: str
    gallery_port: int
    redis_url: str | None
    spool_root: Path

    @classmethod
    def from_env(cls) -> StackSettings:
        """Read the settings; a bad value raises SettingsProblem naming the variable."""
        try:
            cameras = parse_cameras(os.environ.get("DEMO_CAMERAS", DEFAULT_CAMERAS))
        except SetupError as exc:
            raise SettingsProblem(str(exc)) from None
        expiry = os.environ.get("DEMO_IMAGE_EXPIRY", "3600").strip()
        if not expiry.isdigit() or int(expiry) < 1:
            raise SettingsProblem(f"DEMO_IMAGE_EXPIRY={expiry!r} is not a number of seconds; use a "
                                  "whole number of 1 or more, e.g. 3600.")
        port = os.environ.get("GALLERY_PORT", "5000").strip()
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise SettingsProblem(f"GALLERY_PORT={port!r} is not a TCP port; use 1 to 65535, e.g. 5000.")
        # The gallery's own settings, checked before anything starts (not minutes later, in its log).
        try:
            gallery_settings.finalize(gallery_settings.from_env(
                {**os.environ, "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379"}))
        except gallery_settings.SettingsError as exc:
            raise SettingsProblem(str(exc)) from None
        host = os.environ.get("GALLERY_HOST") or "127.0.0.1"
        if not port_is_free(host, int(port)):
            raise SettingsProblem(f"GALLERY_PORT={port} is already in use on {host} (another gallery or "
                                  f"make run?). Fix: stop it, or pick a free port, e.g. GALLERY_PORT="
                                  f"{int(port) + 1}.")
        # Each stack's pictures wait in a spool beside its own data, never another stack's.
        spool_root = Path(os.environ.get("REDIS_DATA_DIR") or ROOT / "redisdata") / "spool"
        return cls(cameras, expiry, int(port), os.environ.get("REDIS_URL") or None, spool_root)


def port_is_free(host: str, port: int) -> bool:
    """Tell whether a server could listen on host:port now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class SettingsProblem(SetupError):
    """A setting of `make run` has a value it cannot use (exit status 2)."""


def children_for(url: str, cameras: list[tuple[str, float]], expiry: str,
                 spool_root: Path) -> list[Child]:
    """Return the capture daemons, the gallery and the archiver to run against `url`."""
    python = sys.executable
    children = [
        Child(f"capture[{name}]", [python, "-m", "pi.capture"], {
            **{key: os.environ.get(key, value) for key, value in DEMO_CAPTURE_DEFAULTS.items()},
            "REDIS_URL": url, "CAMERA_NAME": name,
            "IMAGE_CAPTURE_FREQUENCY": str(interval), "IMAGE_EXPIRY": expiry,
            "SPOOL_DIR": str(spool_root / name),
        })
        for name, interval in cameras
    ]
    # The archive of originals (README, "Archive"): a folder beside the Redis data by default;
    # the gallery serves originals whose full size left Redis from it.
    archive_url = os.environ.get("ARCHIVE_URL") or (spool_root.parent / "archive").resolve().as_uri()
    children.append(Child("gallery", [python, "-m", "server", "serve"],
                          {"REDIS_URL": url, "ARCHIVE_URL": archive_url}))
    children.append(Child("archiver", [python, "-m", "server.archive", "run"],
                          {"REDIS_URL": url, "ARCHIVE_URL": archive_url,
                           "ARCHIVE_MAX_GB_PER_CAMERA": os.environ.get("ARCHIVE_MAX_GB_PER_CAMERA", "2")}))
    if any(os.environ.get(name) for name in NOTIFY_TARGET_VARS):
        children.append(Child("notifier", [python, "-m", "server.notify"], {"REDIS_URL": url}))
    return children


def check_redis(url: str) -> None:
    """Make sure Redis answers, has the search module and has the index."""
    client = connect(url, retries=2)
    try:
        outcome = ensure_index(client, where=redact_url(url))
    except redis.ConnectionError as exc:
        raise SetupError(
            f"Cannot reach Redis at {redact_url(url)} ({exc}). Fix: start it "
            "(`docker compose up -d`), correct REDIS_URL, or unset REDIS_URL to use the "
            "embedded Redis."
        ) from None
    except redis.AuthenticationError:
        raise SetupError(f"Redis at {redact_url(url)} refused the password in REDIS_URL.") from None
    except SearchModuleMissing as exc:
        raise SetupError(str(exc)) from None
    finally:
        client.close()
    logger.info("Search index on %s: %s", redact_url(url), outcome)


def main() -> int:
    """Run everything until Ctrl-C; return the exit code."""
    load_dotenv(ROOT / ".env")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    server = None
    children: list[Child] = []
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    code = 0
    try:
        try:
            settings = StackSettings.from_env()
            embedded = None if settings.redis_url else embedded_redis.from_env()
        except (SettingsProblem, embedded_redis.EmbeddedRedisError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        url = settings.redis_url
        if url:
            logger.info("Using the Redis at REDIS_URL=%s (starting none)", redact_url(url))
        else:
            assert embedded is not None
            server = embedded.start()
            url = server.url
        check_redis(url)
        children = children_for(url, settings.cameras, settings.image_expiry, settings.spool_root)
        for child in children:
            child.start()
        port = settings.gallery_port
        cli_hint = f"  (redis-cli -p {server.port})" if server else ""
        print(f"\n  Gallery:  http://127.0.0.1:{port}/\n  Redis:    {redact_url(url)}{cli_hint}\n"
              "  Stop:     Ctrl-C\n", flush=True)
        stopped: set[str] = set()
        while not stop.wait(0.5):
            for child in children:
                if child.name in stopped or child.process is None or child.process.poll() is None:
                    continue
                stopped.add(child.name)
                if child.name.startswith("capture["):
                    # One camera stopping is what the gallery's offline state is for: the
                    # other cameras and the gallery go on.
                    logger.warning("%s exited with code %s; the other cameras and the gallery go "
                                   "on (the gallery shows it offline)", child.name,
                                   child.process.returncode)
                else:
                    logger.error("%s exited with code %s; stopping everything",
                                 child.name, child.process.returncode)
                    code = 1
                    stop.set()
            if server is not None and server.process is not None and server.process.poll() is not None:
                logger.error("%s", server.describe_failure("stopped unexpectedly; stopping everything"))
                code = 1
                stop.set()
    except (SetupError, embedded_redis.EmbeddedRedisError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    finally:
        for child in reversed(children):
            child.stop()
        if server is not None:
            was_running = server.process is not None and server.process.poll() is None
            server.stop()
            if was_running:
                logger.info("Embedded Redis stopped; data kept in %s", server.data_dir)
    return code


if __name__ == "__main__":
    sys.exit(main())
