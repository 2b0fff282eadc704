"""Which pictures a target is told about: a filter, quiet hours, a cooldown, a digest.

A rule is one line of `name=value` words, in the gallery's filter vocabulary:

    camera=garden,porch trigger=motion lux_max=20 hours=18:00-07:00 quiet=23:00-06:30 cooldown=10m
    digest=5m

- `camera`, `trigger`: comma-separated names; the picture must have one of them.
- `lux_min`, `lux_max`: light level bounds (lux, inclusive); a picture without lux fails them.
- `hours`: time of day the picture was taken (local time, HH:MM-HH:MM, may wrap midnight).
- `quiet`: quiet hours (same form): pictures taken then are skipped.
- `cooldown`: after a notification for a camera, that camera's pictures in the next
  so long are skipped (`30`, `30s`, `10m`, `1h`).
- `digest`: instead of one message per picture, one per camera per window:
  "12 motion pictures on garden in the last 5 min" (cooldown does not apply then).

Times of day are the notifier's local time (set TZ). An empty rule lets everything through.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from pi.contract import CAMERA_NAME_RE, TRIGGERS, CheckedStreamEntry

_TIME_RANGE_RE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h)?$")
KEYS = ("camera", "trigger", "lux_min", "lux_max", "hours", "quiet", "cooldown", "digest")

SEND, DIGEST = "send", "digest"
SKIP_FILTER, SKIP_QUIET, SKIP_COOLDOWN = "filter", "quiet", "cooldown"


def _time_range(key: str, text: str) -> tuple[int, int]:
    match = _TIME_RANGE_RE.match(text)
    if match:
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60 and (h1, m1) != (h2, m2):
            return h1 * 60 + m1, h2 * 60 + m2
    raise ValueError(f"{key}={text!r}: use a time of day range HH:MM-HH:MM, e.g. {key}=22:00-06:30")


def _duration(key: str, text: str) -> float:
    match = _DURATION_RE.match(text.strip().lower())
    if not match:
        raise ValueError(f"{key}={text!r}: use seconds or a duration such as 30, 90s, 10m or 1h")
    value = float(match.group(1)) * {"s": 1, None: 1, "m": 60, "h": 3600}[match.group(2)]
    if not math.isfinite(value) or value > 7 * 86400:
        raise ValueError(f"{key}={text!r}: use a duration of at most a week")
    return value


def _names(key: str, text: str) -> frozenset[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names or any(not CAMERA_NAME_RE.match(n) for n in names):
        raise ValueError(f"{key}={text!r}: use comma-separated names of letters, digits, - or _, "
                         f"e.g. {key}={'garden,porch' if key == 'camera' else 'motion,sensor'}")
    return frozenset(names)


def _number(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{key}={text!r}: use a number of lux, e.g. {key}=20")
    return value


def _in_range(minute: int, span: tuple[int, int]) -> bool:
    start, end = span
    return start <= minute < end if start < end else minute >= start or minute < end


def _fmt_span(span: tuple[int, int]) -> str:
    return "-".join(f"{m // 60:02d}:{m % 60:02d}" for m in span)


def _fmt_seconds(value: float) -> str:
    if value >= 3600 and value % 3600 == 0:
        return f"{value / 3600:g}h"
    if value >= 60 and value % 60 == 0:
        return f"{value / 60:g}m"
    return f"{value:g}s"


@dataclass(frozen=True)
class Rule:
    """One target's rule, parsed and validated; see the module docstring."""

    cameras: frozenset[str] | None = None
    triggers: frozenset[str] | None = None
    lux_min: float | None = None
    lux_max: float | None = None
    hours: tuple[int, int] | None = None
    quiet: tuple[int, int] | None = None
    cooldown: float = 0.0
    digest: float = 0.0

    def matches(self, event: CheckedStreamEntry) -> bool:
        """Tell whether a picture passes the filter (camera, trigger, lux, time of day)."""
        if self.cameras is not None and event.camera not in self.cameras:
            return False
        if self.triggers is not None and event.trigger not in self.triggers:
            return False
        if self.lux_min is not None and (event.lux is None or event.lux < self.lux_min):
            return False
        if self.lux_max is not None and (event.lux is None or event.lux > self.lux_max):
            return False
        return self.hours is None or _in_range(_minute_of_day(event.timestamp), self.hours)

    def matches_camera(self, camera: str) -> bool:
        """Tell whether news about a camera (offline, back online) passes the camera filter."""
        return self.cameras is None or camera in self.cameras

    def is_quiet(self, timestamp: float) -> bool:
        """Tell whether a moment falls in the quiet hours."""
        return self.quiet is not None and _in_range(_minute_of_day(timestamp), self.quiet)

    def decide(self, event: CheckedStreamEntry, last_fired: float | None) -> str:
        """Return SEND, DIGEST, or why the picture is skipped (SKIP_*)."""
        if not self.matches(event):
            return SKIP_FILTER
        if self.is_quiet(event.timestamp):
            return SKIP_QUIET
        if self.digest:
            return DIGEST
        # A picture older than the last one told about (a spool replayed late) is old news too.
        if self.cooldown and last_fired is not None and event.timestamp - last_fired < self.cooldown:
            return SKIP_COOLDOWN
        return SEND

    def describe(self) -> str:
        """Return the rule in its canonical one-line form ("" for everything)."""
        words = []
        if self.cameras is not None:
            words.append("camera=" + ",".join(sorted(self.cameras)))
        if self.triggers is not None:
            words.append("trigger=" + ",".join(sorted(self.triggers)))
        if self.lux_min is not None:
            words.append(f"lux_min={self.lux_min:g}")
        if self.lux_max is not None:
            words.append(f"lux_max={self.lux_max:g}")
        if self.hours is not None:
            words.append("hours=" + _fmt_span(self.hours))
        if self.quiet is not None:
            words.append("quiet=" + _fmt_span(self.quiet))
        if self.cooldown:
            words.append("cooldown=" + _fmt_seconds(self.cooldown))
        if self.digest:
            words.append("digest=" + _fmt_seconds(self.digest))
        return " ".join(words)


def _minute_of_day(timestamp: float) -> int:
    local = datetime.fromtimestamp(timestamp)
    return local.hour * 60 + local.minute


def parse_rule(text: str) -> Rule:
    """Parse a rule line; raise ValueError with a one-line explanation naming the bad word."""
    values: dict = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        key = key.strip().lower()
        if not sep or not value:
            raise ValueError(f"{word!r} is not name=value; names are {', '.join(KEYS)}")
        if key not in KEYS:
            raise ValueError(f"unknown rule word {key!r}; use {', '.join(KEYS)}")
        if key in values:
            raise ValueError(f"{key} is given twice")
        if key == "camera":
            values["cameras"] = _names(key, value)
        elif key == "trigger":
            values["triggers"] = _names(key, value)
            unknown = sorted(set(values["triggers"]) - set(TRIGGERS))
            if unknown:
                raise ValueError(f"trigger={unknown[0]!r} is not a trigger the cameras use; use "
                                 f"{', '.join(TRIGGERS)} (comma-separated)")
        elif key in ("lux_min", "lux_max"):
            values[key] = _number(key, value)
        elif key in ("hours", "quiet"):
            values[key] = _time_range(key, value)
        else:
            values[key] = _duration(key, value)
    if values.get("lux_min") is not None and values.get("lux_max") is not None \
            and values["lux_min"] > values["lux_max"]:
        raise ValueError("lux_min is larger than lux_max; swap them")
    if values.get("digest") is not None and values["digest"] < 1:
        raise ValueError("digest must be at least 1 second, e.g. digest=5m")
    return Rule(**values)
