"""Turning a capture and its Picamera2-style metadata into the contract's ImageRecord."""

from __future__ import annotations

import logging
import math
from typing import Any

from pi.cameras.base import Capture
from pi.contract import ImageRecord

logger = logging.getLogger(__name__)

#: Metadata a user might filter on that has no contract field: stored as extra hash fields.
EXTRA_FIELDS = {
    "DigitalGain": "digital_gain",
    "FocusFoM": "focus_fom",
    "SensorTemperature": "sensor_temperature",
    "FNumber": "f_number",
    "FocalLength": "focal_length",
}
#: Text metadata stored as is (the directory backend's file name).
EXTRA_TEXT = {"SourceFile": "source_file"}
#: Markers on pictures a user should know about (extra hash fields, as text).
FOCUS_FIELD, FOCUS_NOT_CONFIRMED = "focus", "not confirmed"
CLOCK_FIELD, CLOCK_NOT_SYNCHRONIZED = "clock", "not synchronized"
#: Keys the record uses; anything else is printed at debug level only.
_USED = {"Lux", "ExposureTime", "AnalogueGain", "ColourTemperature", "LensPosition",
         "FocusConfirmed", *EXTRA_FIELDS, *EXTRA_TEXT}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(round(number))


def record_from_capture(capture: Capture, camera: str, trigger: str, timestamp: float,
                        clock_synchronized: bool | None = None) -> ImageRecord:
    """Return the record to store; each metadata key is read with .get(), as keys vary by camera.

    A picture whose autofocus cycle did not confirm focus (metadata FocusConfirmed False) gets
    `focus: not confirmed`; one taken before the clock was synchronized (clock_synchronized
    False) gets `clock: not synchronized`.
    """
    md = capture.metadata
    extra: dict[str, str] = {}
    if md.get("FocusConfirmed") is False:
        extra[FOCUS_FIELD] = FOCUS_NOT_CONFIRMED
    if clock_synchronized is False:
        extra[CLOCK_FIELD] = CLOCK_NOT_SYNCHRONIZED
    for key, name in EXTRA_FIELDS.items():
        value = _number(md.get(key))
        if value is not None:
            extra[name] = f"{value:.6g}"
    for key, name in EXTRA_TEXT.items():
        text = md.get(key)
        if isinstance(text, str) and text:
            extra[name] = text[:200]
    rest = {k: v for k, v in md.items() if k not in _USED}
    if rest:
        logger.debug("Metadata not stored: %s", rest)
    return ImageRecord(
        timestamp=timestamp,
        image_data=capture.jpeg,
        lux=_number(md.get("Lux")),
        camera=camera,
        trigger=trigger,
        width=capture.width,
        height=capture.height,
        exposure_time=_int(md.get("ExposureTime")),
        analogue_gain=_number(md.get("AnalogueGain")),
        colour_temperature=_int(md.get("ColourTemperature")),
        lens_position=_number(md.get("LensPosition")),
        thumbnail=capture.thumbnail,
        extra=extra,
    )
