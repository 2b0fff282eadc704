"""Decoding pictures read from Redis, with a cap on decoded pixels checked before decoding.

Anything under `image:` is input: a 100 KB PNG can claim 10000 x 10000 pixels and take a
gigabyte to decode. `open_capped()` reads only the header, lets a JPEG decode at a reduced
scale (draft), and refuses a picture whose decoded size is still above the cap, before any
pixel is decoded. Thumbnails and time-lapse frames both decode through it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from PIL import Image

#: Decoded pixels allowed for one picture (GALLERY_MAX_PIXELS): 40 MP, more than any Pi
#: camera's full resolution once a JPEG is decoded at reduced scale.
DEFAULT_MAX_PIXELS = 40_000_000


class PictureTooLarge(ValueError):
    """The picture would decode to more pixels than the cap."""


@contextmanager
def open_capped(data: bytes, max_pixels: int,
                draft: Callable[[int, int], tuple[int, int]] | None = None) -> Iterator[Image.Image]:
    """Open a picture that decodes to at most `max_pixels` pixels, or raise PictureTooLarge.

    `draft(width, height)` returns the size wanted, so a JPEG decodes at 1/2, 1/4 or 1/8
    scale (Pillow's draft); the cap applies to the size that will really be decoded.
    """
    with Image.open(io.BytesIO(data)) as img:
        if draft is not None:
            img.draft("RGB", draft(*img.size))
        width, height = img.size
        if width * height > max_pixels:
            raise PictureTooLarge(f"{width}x{height} pixels is above the {max_pixels:,}-pixel cap "
                                  "(GALLERY_MAX_PIXELS)")
        yield img
