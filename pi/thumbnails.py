"""Small JPEGs made from big ones with Pillow's reduced-size (DCT-scaled) decode.

`Image.draft()` makes libjpeg decode at 1/2, 1/4 or 1/8 scale, so a 4608x2592 picture
is never decoded in full just to make a 320-pixel thumbnail. On a Pi the thumbnail comes
from the camera's lores stream instead (see cameras/picamera2_camera.py).
"""

from __future__ import annotations

import io

from PIL import Image

#: Thumbnails are kept under this size; the quality steps down until they fit.
THUMBNAIL_MAX_BYTES = 30_000
THUMBNAIL_QUALITY = 80
_QUALITY_STEPS = (80, 70, 60, 50, 40, 30)


def jpeg_size(jpeg: bytes) -> tuple[int, int]:
    """Return (width, height) of a JPEG from its header, without decoding it."""
    with Image.open(io.BytesIO(jpeg)) as img:
        return img.size


def shrink_jpeg(jpeg: bytes, box: tuple[int, int], quality: int = THUMBNAIL_QUALITY,
                grey: bool = False) -> Image.Image:
    """Decode `jpeg` at the smallest DCT scale still covering `box` and fit it in the box."""
    with Image.open(io.BytesIO(jpeg)) as img:
        img.draft("L" if grey else "RGB", box)
        small = img.convert("L" if grey else "RGB")
    small.thumbnail(box, Image.Resampling.BILINEAR, reducing_gap=None)
    return small


def encode_jpeg(img: Image.Image, quality: int = THUMBNAIL_QUALITY,
                max_bytes: int | None = THUMBNAIL_MAX_BYTES) -> bytes:
    """Encode an image as JPEG, stepping the quality down until it is under `max_bytes`."""
    data = b""
    for step in (quality, *[q for q in _QUALITY_STEPS if q < quality]):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=step)
        data = buf.getvalue()
        if max_bytes is None or len(data) <= max_bytes:
            return data
    return data


def make_thumbnail(jpeg: bytes, box: tuple[int, int], max_bytes: int = THUMBNAIL_MAX_BYTES) -> bytes:
    """Return a thumbnail JPEG of `jpeg` that fits in `box` and weighs at most about `max_bytes`."""
    return encode_jpeg(shrink_jpeg(jpeg, box), THUMBNAIL_QUALITY, max_bytes)


def full_decode_thumbnail(jpeg: bytes, box: tuple[int, int]) -> bytes:
    """Return a thumbnail made by a full decode and resize: the benchmark's baseline."""
    with Image.open(io.BytesIO(jpeg)) as img:
        full = img.convert("RGB")
    full.thumbnail(box, Image.Resampling.BILINEAR, reducing_gap=None)
    return encode_jpeg(full, THUMBNAIL_QUALITY, THUMBNAIL_MAX_BYTES)


#: Thumbnails for the history tier (issue 9): WebP, which every browser shows, is about
#: half the size of a JPEG of the same quality. Stepped down until under the cap.
HISTORY_THUMBNAIL_MAX_BYTES = 12_000
WEBP_QUALITY = 60
_WEBP_STEPS = (60, 50, 40, 30)


def history_thumbnail(thumbnail: bytes, fmt: str = "webp", quality: int = WEBP_QUALITY,
                      max_bytes: int = HISTORY_THUMBNAIL_MAX_BYTES) -> tuple[bytes, str]:
    """Re-encode a (small) JPEG thumbnail in `fmt` ("webp" or "jpeg"); return (bytes, mime).

    A JPEG thumbnail already under `max_bytes` is kept as it is for fmt="jpeg". The input
    is the camera's thumbnail (on a Pi, its lores stream), so this decodes at most 320 pixels.
    """
    if fmt == "jpeg" and len(thumbnail) <= max_bytes:
        return thumbnail, "image/jpeg"
    with Image.open(io.BytesIO(thumbnail)) as img:
        small = img.convert("RGB")
    if fmt == "jpeg":
        return encode_jpeg(small, THUMBNAIL_QUALITY, max_bytes), "image/jpeg"
    data = b""
    for step in (quality, *[q for q in _WEBP_STEPS if q < quality]):
        buf = io.BytesIO()
        small.save(buf, "WEBP", quality=step, method=4)
        data = buf.getvalue()
        if len(data) <= max_bytes:
            break
    return data, "image/webp"
