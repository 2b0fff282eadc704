"""A camera that replays the JPEGs of a folder in a loop, so real photos can go through the system.

Each file's bytes are stored unchanged. Where its EXIF has exposure data (ExposureTime,
ISO, FNumber) the metadata uses it, and Lux is estimated from the exposure value.
"""

from __future__ import annotations

import io
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from pi.cameras.base import Camera, CameraError, Capture
from pi.thumbnails import encode_jpeg, make_thumbnail, shrink_jpeg

logger = logging.getLogger(__name__)

JPEG_SUFFIXES = (".jpg", ".jpeg")
EXIF_IFD = 0x8769
EXIF_EXPOSURE_TIME = 0x829A
EXIF_FNUMBER = 0x829D
EXIF_ISO = 0x8827
EXIF_FOCAL_LENGTH = 0x920A
PREVIEW_QUALITY = 70
#: Incident-light meter calibration (ISO 2720, C = 250): illuminance = 2.5 * 2^EV100 lux.
_LUX_PER_EV0 = 2.5


def _ratio(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def exif_metadata(img: Image.Image) -> dict[str, Any]:
    """Return Picamera2-named metadata from a JPEG's EXIF exposure data, where present."""
    try:
        exif = img.getexif().get_ifd(EXIF_IFD)
    except (AttributeError, OSError, ValueError):
        return {}
    exposure = _ratio(exif.get(EXIF_EXPOSURE_TIME))
    fnumber = _ratio(exif.get(EXIF_FNUMBER))
    iso_value = exif.get(EXIF_ISO)
    if isinstance(iso_value, tuple):
        iso_value = iso_value[0] if iso_value else None
    iso = _ratio(iso_value)
    md: dict[str, Any] = {}
    if exposure is not None:
        md["ExposureTime"] = int(round(exposure * 1_000_000))
    if iso is not None:
        md["AnalogueGain"] = iso / 100.0
    if fnumber is not None:
        md["FNumber"] = fnumber
    focal = _ratio(exif.get(EXIF_FOCAL_LENGTH))
    if focal is not None:
        md["FocalLength"] = focal
    if exposure is not None and iso is not None and fnumber is not None:
        ev100 = math.log2(fnumber * fnumber / exposure) - math.log2(iso / 100.0)
        md["Lux"] = _LUX_PER_EV0 * (2.0 ** ev100)
    return md


class DirectoryCamera(Camera):
    """Replays the folder's .jpg files in name order, over and over."""

    backend = "directory"

    def __init__(self, folder: Path | str, thumbnail_size: tuple[int, int] = (320, 320),
                 preview_size: tuple[int, int] = (640, 640)) -> None:
        self.folder = Path(folder)
        self.thumbnail_size = thumbnail_size
        self.preview_size = preview_size
        self.files: list[Path] = []
        self._next = 0
        self._current: bytes | None = None
        self._preview_cache: bytes | None = None
        self._motion_cache: np.ndarray | None = None

    def describe(self) -> str:
        """Return e.g. 'directory /photos (12 files)'."""
        return f"directory {self.folder} ({len(self.files)} files)"

    def open(self) -> None:
        """List the folder's JPEGs; raise CameraError if there are none."""
        if not self.folder.is_dir():
            raise CameraError(f"IMAGE_DIRECTORY {self.folder} is not a folder. Fix: point "
                              "IMAGE_DIRECTORY at a folder of .jpg files.")
        self.files = sorted(p for p in self.folder.iterdir()
                            if p.is_file() and p.suffix.lower() in JPEG_SUFFIXES)
        if not self.files:
            raise CameraError(f"IMAGE_DIRECTORY {self.folder} has no .jpg files. Fix: copy some "
                              "JPEG photos into it, or use CAMERA_BACKEND=simulated.")

    def close(self) -> None:
        """Nothing to release."""

    def capture(self) -> Capture:
        """Return the next file's bytes unchanged, with a thumbnail and EXIF metadata."""
        for _ in range(len(self.files)):
            path = self.files[self._next % len(self.files)]
            self._next += 1
            try:
                data = path.read_bytes()
                with Image.open(io.BytesIO(data)) as img:
                    if img.format != "JPEG":
                        raise UnidentifiedImageError("not a JPEG")
                    width, height = img.size
                    metadata = exif_metadata(img)
                thumbnail = make_thumbnail(data, self.thumbnail_size)
            except (OSError, UnidentifiedImageError, ValueError) as exc:
                logger.warning("Skipping %s: not a readable JPEG (%s)", path, exc)
                continue
            self._current, self._preview_cache, self._motion_cache = data, None, None
            metadata["SourceFile"] = path.name
            return Capture(jpeg=data, thumbnail=thumbnail, width=width, height=height,
                           metadata=metadata)
        raise CameraError(f"None of the .jpg files in {self.folder} could be read as JPEG.")

    def _ensure_current(self) -> bytes:
        if self._current is None:
            self.capture()
        assert self._current is not None
        return self._current

    def preview(self) -> bytes:
        """Return the last picture, small (computed once per picture)."""
        if self._preview_cache is None:
            small = shrink_jpeg(self._ensure_current(), self.preview_size)
            self._preview_cache = encode_jpeg(small, PREVIEW_QUALITY, max_bytes=None)
        return self._preview_cache

    def motion_frame(self) -> np.ndarray:
        """Return the last picture as a small greyscale frame."""
        if self._motion_cache is None:
            small = shrink_jpeg(self._ensure_current(), (160, 160), grey=True)
            self._motion_cache = np.asarray(small, dtype=np.uint8)
        return self._motion_cache
