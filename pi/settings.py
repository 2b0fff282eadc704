"""The capture daemon's settings: flags over environment over `.env` over defaults, validated.

The reference project's names work unchanged (REDIS_URL, IMAGE_CAPTURE_FREQUENCY,
IMAGE_EXPIRY, CAMERA_AUTOFOCUS, SOUND_SENSOR_PIN, SOUND_SENSOR_DEBOUNCE_MILLIS); the new
ones follow their style. Every setting has a command-line flag documented by `--help`.
A bad value raises SettingsError with one line naming the variable and what it accepts.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pi.contract import CAMERA_NAME_RE, DEFAULT_REDIS_URL

BACKENDS = ("picamera2", "simulated", "directory")
TRIGGER_NAMES = ("interval", "sensor", "motion")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAIN_FORMATS = ("YUV420", "BGR888")
#: Seconds between interval captures when neither IMAGE_CAPTURE_FREQUENCY nor a sensor is set.
DEFAULT_INTERVAL = 30.0
#: The camera module 3's full resolution, which the simulated camera uses by default.
SIMULATED_DEFAULT_RESOLUTION = (4608, 2592)
PI_DIR = Path(__file__).resolve().parent


class SettingsError(ValueError):
    """A setting has a value the daemon can't use; the message is one line for the user."""


@dataclass(frozen=True)
class Settings:
    """Everything the daemon reads at start, validated."""

    redis_url: str
    interval: float | None  # seconds, None when the interval trigger is off
    expiry: float
    autofocus: bool
    sensor_pin: int | None
    sensor_debounce_ms: int
    triggers: tuple[str, ...]
    camera_backend: str
    camera_name: str
    camera_num: int
    resolution: tuple[int, int] | None  # None: the camera's full resolution
    jpeg_quality: int
    thumbnail_size: tuple[int, int]  # a box the thumbnail fits in
    capture_timeout: float
    motion_threshold: float
    motion_min_gap: float
    motion_fps: float
    spool_dir: Path
    spool_max_mb: float
    image_directory: Path | None
    simulated_speedup: float
    preview_fps: float
    preview_size: tuple[int, int]
    preview_max_bytes: int
    summary_interval: float
    log_level: str
    once: bool = False
    env_file: Path | None = None
    backend_was_guessed: bool = False  # CAMERA_BACKEND unset, and picamera2 not importable
    # The camera in the field (issue 13): slow autofocus, failing cameras, small Pis.
    autofocus_timeout: float = 5.0
    camera_max_failures: int = 5
    main_format: str = "YUV420"
    idle_fps: float = 5.0
    # Retention (issue 9).
    history_expiry: float | None = None  # seconds; None or <= expiry: one TTL, as the reference
    thumbnail_format: str = "webp"
    near_duplicates: bool = True
    near_duplicate_threshold: float = 3.0
    # Take a picture on an MQTT command (pi/mqtt_trigger.py); off unless MQTT_CAPTURE_COMMANDS=1.
    mqtt_url: str | None = None
    mqtt_capture_commands: bool = False
    mqtt_topic_prefix: str = "redis-pi-camera"

    @property
    def tiered(self) -> bool:
        """Tell whether pictures are stored in two tiers (HISTORY_EXPIRY longer than IMAGE_EXPIRY)."""
        return self.history_expiry is not None and self.history_expiry > self.expiry

    @property
    def heartbeat_ttl(self) -> float:
        """Return the heartbeat key's TTL: three intervals, and at least 30 seconds."""
        return max(30.0, 3 * self.interval) if self.interval else 30.0


# --- Parsers: each takes the text and returns the value or raises ValueError(what it accepts)


def _positive(accepts: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(accepts) from None
        if not value > 0 or value == float("inf"):
            raise ValueError(accepts)
        return value

    return parse


_positive_float = _positive("a number of seconds greater than 0, e.g. 30 or 0.5")
_positive_megabytes = _positive("a number of megabytes greater than 0, e.g. 500")


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("a number of 0 or more") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError("a number of 0 or more")
    return value


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise ValueError(f"a whole number from {low} to {high}")
        return value
    return parse


def _float_range(low: float, high: float, what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(what) from None
        if not low <= value <= high:
            raise ValueError(what)
        return value
    return parse


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("1 or 0 (also true/false, yes/no)")


def _choice(choices: Sequence[str], upper: bool = False) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().upper() if upper else text.strip().lower()
        if value not in choices:
            raise ValueError("one of " + ", ".join(choices))
        return value
    return parse


_SIZE_RE = re.compile(r"^\s*(\d{1,5})\s*(?:[xX×]\s*(\d{1,5}))?\s*$")


def _size(low: int, high: int, single: bool) -> Callable[[str], tuple[int, int]]:
    what = f"WIDTHxHEIGHT, each {low} to {high}, e.g. {'320 or 320x180' if single else '4608x2592'}"

    def parse(text: str) -> tuple[int, int]:
        match = _SIZE_RE.match(text)
        if not match or (match.group(2) is None and not single):
            raise ValueError(what)
        width = int(match.group(1))
        height = int(match.group(2)) if match.group(2) else width
        if not (low <= width <= high and low <= height <= high):
            raise ValueError(what)
        return width, height
    return parse


def _camera_name(text: str) -> str:
    if not CAMERA_NAME_RE.match(text):
        raise ValueError("1 to 32 letters, digits, '-' or '_', e.g. garden-pi")
    return text


def _triggers(text: str) -> tuple[str, ...]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names or any(n not in TRIGGER_NAMES for n in names):
        raise ValueError("a comma-separated list of " + ", ".join(TRIGGER_NAMES) + ", e.g. interval,motion")
    return tuple(dict.fromkeys(names))


def _redis_url(text: str) -> str:
    if not re.match(r"^(redis|rediss|unix)://", text):
        raise ValueError("a URL such as redis://localhost:6379 or redis://default:password@host:6379/")
    return text


def _mqtt_url(text: str) -> str:
    from pi.mqtt_trigger import parse_mqtt_url
    parse_mqtt_url(text)
    return text


def _topic_prefix(text: str) -> str:
    if not re.match(r"^[A-Za-z0-9_/-]{1,100}$", text.strip("/")):
        raise ValueError("letters, digits, -, _ and /, e.g. redis-pi-camera")
    return text.strip("/")


def _path(text: str) -> Path:
    return Path(text).expanduser()


def _directory(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_dir():
        raise ValueError("an existing folder of .jpg files")
    return path


def default_camera_name() -> str:
    """Return the host name cut down to a valid camera name (letters, digits, - and _)."""
    host = socket.gethostname().split(".")[0]
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", host).strip("-")[:32]
    return name or "camera"


def default_backend() -> str:
    """Return picamera2 where it can be imported (a Pi), else the simulated camera."""
    return "picamera2" if importlib.util.find_spec("picamera2") is not None else "simulated"


def default_spool_dir() -> Path:
    """Return the spool folder under XDG_STATE_HOME (~/.local/state by default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "redis-pi-camera" / "spool"


# --- The table of settings ---------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One setting: its variable, flag, parser, default and help text."""

    env: str
    flag: str
    attr: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    metavar: str = "VALUE"


OPTIONS: tuple[Option, ...] = (
    # The reference project's settings first.
    Option("REDIS_URL", "--redis-url", "redis_url", _redis_url, DEFAULT_REDIS_URL,
           "Redis Stack to store pictures in (default %(default)s). A password in it is "
           "never logged.", "URL"),
    Option("IMAGE_CAPTURE_FREQUENCY", "--interval", "interval", _positive_float, None,
           "seconds between pictures; fractions such as 0.2 are fine. Setting it turns the "
           f"interval trigger on. With neither this nor SOUND_SENSOR_PIN set, the daemon "
           f"captures every {DEFAULT_INTERVAL:g} s.", "SECONDS"),
    Option("IMAGE_EXPIRY", "--expiry", "expiry", _positive_float, 3600.0,
           "seconds each picture is kept in Redis before it expires (default %(default)s)",
           "SECONDS"),
    Option("CAMERA_AUTOFOCUS", "--autofocus", "autofocus", _bool, False,
           "1 for a camera with autofocus (Camera Module 3): continuous autofocus, and an "
           "autofocus cycle before each picture; 0 for none (default 0)", "0|1"),
    Option("SOUND_SENSOR_PIN", "--sensor-pin", "sensor_pin", _int_range(0, 27), None,
           "BCM GPIO pin of a sound (or any) sensor; a rising edge takes a picture. Setting "
           "it turns the sensor trigger on.", "PIN"),
    Option("SOUND_SENSOR_DEBOUNCE_MILLIS", "--sensor-debounce-ms", "sensor_debounce_ms",
           _int_range(0, 3_600_000), 1000,
           "milliseconds after a sensor picture during which further edges are ignored "
           "(default %(default)s)", "MILLIS"),
    # Ours.
    Option("CAPTURE_TRIGGERS", "--triggers", "triggers", _triggers, None,
           "which triggers run, comma-separated: interval, sensor, motion. Default: interval "
           "if IMAGE_CAPTURE_FREQUENCY is set, sensor if SOUND_SENSOR_PIN is set, else interval.",
           "LIST"),
    Option("CAMERA_BACKEND", "--camera-backend", "camera_backend", _choice(BACKENDS), None,
           "picamera2 (a Raspberry Pi camera), simulated (generated day/night frames) or "
           "directory (replays the JPEGs of IMAGE_DIRECTORY). Default: picamera2 where it "
           "can be imported, else simulated.", "|".join(BACKENDS)),
    Option("CAMERA_NAME", "--camera-name", "camera_name", _camera_name, None,
           "this camera's name in keys and in the gallery: 1-32 letters, digits, - or _. "
           "Default: the host name.", "NAME"),
    Option("CAMERA_NUM", "--camera-num", "camera_num", _int_range(0, 15), 0,
           "which camera of a Pi with several (picamera2's camera_num, default %(default)s)",
           "N"),
    Option("IMAGE_RESOLUTION", "--resolution", "resolution", _size(16, 16384, single=False),
           None, "picture size, e.g. 4608x2592 or 1920x1080. Default: the camera's full "
           "resolution (simulated: 4608x2592). The directory backend keeps its files' sizes.",
           "WxH"),
    Option("JPEG_QUALITY", "--jpeg-quality", "jpeg_quality", _int_range(1, 100), 90,
           "JPEG quality of pictures, 1-100 (default %(default)s)", "1-100"),
    Option("THUMBNAIL_SIZE", "--thumbnail-size", "thumbnail_size", _size(32, 1024, single=True),
           (320, 320), "box the stored thumbnail fits in, e.g. 320 or 320x180 (default 320); "
           "thumbnails are kept under about 30 KB", "W[xH]"),
    Option("CAPTURE_TIMEOUT", "--capture-timeout", "capture_timeout", _positive_float, 10.0,
           "seconds a capture may take before the camera is closed and reopened (default "
           "%(default)s); the autofocus cycle has its own AUTOFOCUS_TIMEOUT", "SECONDS"),
    Option("MOTION_THRESHOLD", "--motion-threshold", "motion_threshold",
           _float_range(0.01, 255, "a number from 0.01 to 255, e.g. 3"), 3.0,
           "motion trigger: mean difference (0-255) between consecutive low-resolution "
           "frames that counts as motion (default %(default)s)", "LEVEL"),
    Option("MOTION_MIN_GAP", "--motion-min-gap", "motion_min_gap", _non_negative_float, 10.0,
           "motion trigger: minimum seconds between two motion pictures (default %(default)s)",
           "SECONDS"),
    Option("MOTION_FPS", "--motion-fps", "motion_fps",
           _float_range(0.1, 30, "a number of frames per second from 0.1 to 30"), 4.0,
           "motion trigger: low-resolution frames compared per second (default %(default)s)",
           "FPS"),
    Option("SPOOL_DIR", "--spool-dir", "spool_dir", _path, None,
           "folder where pictures wait while Redis is unreachable, one per camera. Default: "
           "~/.local/state/redis-pi-camera/spool/CAMERA_NAME", "DIR"),
    Option("SPOOL_MAX_MB", "--spool-max-mb", "spool_max_mb", _positive_megabytes, 500.0,
           "most megabytes the spool may hold; when full the oldest pictures are dropped "
           "(default %(default)s)", "MB"),
    Option("IMAGE_DIRECTORY", "--image-directory", "image_directory", _directory, None,
           "directory backend: the folder whose .jpg files are replayed in a loop", "DIR"),
    Option("SIMULATED_TIME_SPEEDUP", "--simulated-speedup", "simulated_speedup",
           _float_range(0.001, 1_000_000, "a number greater than 0, e.g. 1 or 720"), 1.0,
           "simulated backend: how much faster than real time its day/night cycle runs; 720 "
           "makes a day last two minutes (default %(default)s)", "FACTOR"),
    Option("PREVIEW_FPS", "--preview-fps", "preview_fps",
           _float_range(0, 30, "a number of frames per second from 0 to 30 (0 turns previews off)"),
           2.0, "live preview frames per second published while someone watches; 0 turns "
           "previews off (default %(default)s)", "FPS"),
    Option("PREVIEW_SIZE", "--preview-size", "preview_size", _size(32, 1920, single=True),
           (640, 640), "box live preview frames fit in, e.g. 640 or 640x360 (default 640)",
           "W[xH]"),
    Option("PREVIEW_MAX_BYTES", "--preview-max-bytes", "preview_max_bytes",
           _int_range(1024, 16 * 1024 * 1024), 262144,
           "largest preview frame published; bigger ones are skipped (default %(default)s)",
           "BYTES"),
    Option("SUMMARY_INTERVAL", "--summary-interval", "summary_interval", _positive_float, 300.0,
           "seconds between summary log lines (default %(default)s)", "SECONDS"),
    # Retention (issue 9): two tiers, thumbnails, near-duplicates.
    Option("HISTORY_EXPIRY", "--history-expiry", "history_expiry", _positive_float, None,
           "seconds the thumbnail and metadata stay in Redis. Longer than IMAGE_EXPIRY turns "
           "on two tiers: the full-size picture goes after IMAGE_EXPIRY, the rest after this "
           "(pi/env.example sets 2592000, 30 days). Unset: everything goes after IMAGE_EXPIRY, "
           "as in the reference.", "SECONDS"),
    Option("THUMBNAIL_FORMAT", "--thumbnail-format", "thumbnail_format", _choice(("webp", "jpeg")),
           "webp", "webp (about half the bytes; every browser shows it) or jpeg (default "
           "%(default)s)", "webp|jpeg"),
    Option("NEAR_DUPLICATES", "--near-duplicates", "near_duplicates", _bool, True,
           "with two tiers, store an interval picture nearly the same as the last stored one "
           "as thumbnail and metadata only; sensor and motion pictures are always kept whole "
           "(default 1)", "0|1"),
    Option("NEAR_DUPLICATE_THRESHOLD", "--near-duplicate-threshold", "near_duplicate_threshold",
           _float_range(0.01, 255, "a number from 0.01 to 255, e.g. 3"), 3.0,
           "mean difference (0-255) of the low-resolution frames, in 4x4 blocks, under which "
           "a picture counts as unchanged (default %(default)s)", "LEVEL"),
    Option("MQTT_URL", "--mqtt-url", "mqtt_url", _mqtt_url, None,
           "MQTT broker for capture commands, e.g. mqtt://user:password@host:1883 (mqtts:// for "
           "TLS). A password in it is never logged.", "URL"),
    Option("MQTT_CAPTURE_COMMANDS", "--mqtt-capture-commands", "mqtt_capture_commands", _bool, False,
           "1 to take a picture (trigger manual) on each message to "
           "MQTT_TOPIC_PREFIX/CAMERA_NAME/capture, e.g. Home Assistant's Take picture button "
           "(default 0)", "0|1"),
    Option("MQTT_TOPIC_PREFIX", "--mqtt-topic-prefix", "mqtt_topic_prefix", _topic_prefix,
           "redis-pi-camera", "first part of the MQTT topics, as the notifier's (default "
           "%(default)s)", "PREFIX"),
    Option("LOG_LEVEL", "--log-level", "log_level", _choice(LOG_LEVELS, upper=True), "INFO",
           "DEBUG, INFO, WARNING or ERROR (default %(default)s); DEBUG prints all camera "
           "metadata", "LEVEL"),
    # The camera in the field: slow autofocus, failing cameras, small Pis.
    Option("AUTOFOCUS_TIMEOUT", "--autofocus-timeout", "autofocus_timeout", _positive_float, 5.0,
           "seconds the autofocus cycle before a picture may take; after that it is cancelled "
           "and the picture taken with continuous autofocus, marked 'focus: not confirmed' "
           "(default %(default)s)", "SECONDS"),
    Option("CAMERA_MAX_FAILURES", "--camera-max-failures", "camera_max_failures",
           _int_range(1, 1000), 5,
           "after this many failed camera opens or captures in a row the daemon exits with "
           "status 1, so systemd restarts it (default %(default)s)", "N"),
    Option("CAMERA_MAIN_FORMAT", "--main-format", "main_format", _choice(MAIN_FORMATS, upper=True),
           "YUV420", "picamera2 main stream format: YUV420 (half the camera memory of BGR888, "
           "and JPEG's own colour format) or BGR888 (default %(default)s)", "|".join(MAIN_FORMATS)),
    Option("CAMERA_IDLE_FPS", "--idle-fps", "idle_fps",
           _float_range(0, 120, "a number of frames per second from 0 to 120 (0: no cap)"), 5.0,
           "picamera2: frame rate cap between pictures, so the sensor doesn't stream at full "
           "rate all day; raised to MOTION_FPS when motion is on; 0 for no cap "
           "(default %(default)s)", "FPS"),
)


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser; every setting has a flag, described by --help."""
    parser = argparse.ArgumentParser(
        prog="pi-capture",
        description="Take pictures with a Raspberry Pi camera (or a simulated one) and store "
                    "them in Redis, with thumbnails and metadata, spooling to disk while Redis "
                    "is unreachable.",
        epilog="Each flag can also be set by the environment variable named in brackets, or in "
               "a .env file (the current folder's, else pi/.env). Flags win over the "
               "environment, which wins over .env. See pi/env.example and pi/README.md.",
    )
    for opt in OPTIONS:
        parser.add_argument(opt.flag, dest=opt.attr, metavar=opt.metavar, default=None,
                            help=f"[{opt.env}] {opt.help}".replace("%(default)s", _show(opt.default)))
    parser.add_argument("--once", action="store_true",
                        help="take one picture, store it and exit (a first check on a new Pi)")
    parser.add_argument("--env-file", metavar="PATH", default=None,
                        help="read settings from this .env file instead of ./.env or pi/.env; "
                             "an empty value reads none")
    return parser


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def find_env_file(cwd: Path | None = None) -> Path | None:
    """Return ./.env if there is one, else pi/.env (where the reference kept it), else None."""
    for candidate in ((cwd or Path.cwd()) / ".env", PI_DIR / ".env"):
        if candidate.is_file():
            return candidate
    return None


def load_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
                  cwd: Path | None = None) -> Settings:
    """Parse flags, environment and .env into validated Settings; raise SettingsError."""
    args = build_parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    if args.env_file is not None:
        env_file = Path(args.env_file).expanduser() if args.env_file else None
        if env_file is not None and not env_file.is_file():
            raise SettingsError(f"--env-file {args.env_file}: no such file; give the path of a .env file")
    else:
        env_file = find_env_file(cwd)
    file_values: dict[str, str] = {}
    if env_file is not None:
        from dotenv import dotenv_values
        file_values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    return resolve(vars(args), {**file_values, **environ}, env_file)


def resolve(flags: Mapping[str, Any], env: Mapping[str, str], env_file: Path | None = None) -> Settings:
    """Combine flag values (None when not given) with variables into Settings."""
    values: dict[str, Any] = {}
    given: set[str] = set()
    for opt in OPTIONS:
        raw, source = flags.get(opt.attr), opt.flag
        if raw is None:
            raw, source = env.get(opt.env), opt.env
        if raw is None or str(raw).strip() == "":
            values[opt.attr] = opt.default
            continue
        text = str(raw).strip()
        try:
            values[opt.attr] = opt.parse(text)
        except ValueError as exc:
            name = opt.env if source == opt.env else f"{opt.flag} ({opt.env})"
            if opt.env.endswith("_URL"):  # never show a password
                from pi.mqtt_trigger import redact
                text = redact(text)
            raise SettingsError(f"{name}={text!r} is not valid: use {exc}") from None
        given.add(opt.attr)

    triggers = values["triggers"]
    if triggers is None:
        derived = []
        if "interval" in given:
            derived.append("interval")
        if "sensor_pin" in given:
            derived.append("sensor")
        triggers = tuple(derived) or ("interval",)
    if "sensor" in triggers and values["sensor_pin"] is None:
        raise SettingsError("CAPTURE_TRIGGERS includes sensor, so SOUND_SENSOR_PIN must be set: "
                            "use the BCM GPIO number of the sensor, e.g. 17")
    values["triggers"] = triggers
    if "interval" in triggers:
        values["interval"] = values["interval"] or DEFAULT_INTERVAL
    else:
        values["interval"] = None

    guessed = values["camera_backend"] is None
    values["camera_backend"] = values["camera_backend"] or default_backend()
    values["camera_name"] = values["camera_name"] or default_camera_name()
    values["spool_dir"] = values["spool_dir"] or default_spool_dir() / values["camera_name"]
    if values["camera_backend"] == "directory" and values["image_directory"] is None:
        raise SettingsError("CAMERA_BACKEND=directory needs IMAGE_DIRECTORY: use an existing "
                            "folder of .jpg files")
    if values["mqtt_capture_commands"] and values["mqtt_url"] is None:
        raise SettingsError("MQTT_CAPTURE_COMMANDS=1 needs MQTT_URL: use the broker's URL, e.g. "
                            "mqtt://user:password@homeassistant.local:1883")
    return Settings(once=bool(flags.get("once")), env_file=env_file,
                    backend_was_guessed=guessed and values["camera_backend"] == "simulated", **values)


__all__ = ["Settings", "SettingsError", "OPTIONS", "build_parser", "load_settings", "resolve",
           "DEFAULT_INTERVAL", "BACKENDS", "TRIGGER_NAMES"]
