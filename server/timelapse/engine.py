"""The time-lapse engine: stored images in timestamp order, streamed into an H.264 MP4.

Frames come from the query kit (`server.search`): the gallery's own filter, counted exactly
and paged by key in the gallery's "oldest" order, so nothing but one page of ids and one
picture is held at a time. Each JPEG is
decoded at reduced size with Pillow's `draft()`, scaled to fit the output (letterboxed to
keep its aspect ratio), optionally stamped with its capture time and lux, and handed to
PyAV's libx264 encoder before the next one is fetched. Memory therefore stays the same
whatever the number of frames.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import av
import redis
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from pi import contract
from server.archive.originals import read_original
from server.search import SORTS, ImageFilter, Lister, Row, run_search, tag_values

if TYPE_CHECKING:
    from server.archive.backends import Backend

logger = logging.getLogger(__name__)

FPS_MIN, FPS_MAX = 1, 60
MIN_SIDE = 64
MAX_WIDTH, MAX_HEIGHT = 3840, 2160
DEFAULT_FPS = 24
DEFAULT_SIZE = (1280, 720)
DEFAULT_MAX_FRAMES = 10_000
#: Ids fetched per query; each page is only keys, timestamps and lux.
PAGE_SIZE = 200
MIME_MP4 = "video/mp4"

ProgressCallback = Callable[[int, int], None]


class TimelapseInputError(ValueError):
    """A time-lapse request the user must change: bad times, camera, rate, size or range."""

    def __init__(self, code: str, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.parameter = parameter


class TimelapseFailed(RuntimeError):
    """A time-lapse that ran but produced no movie, e.g. every image expired meanwhile."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TimelapseCancelled(Exception):
    """The run was cancelled; its output file has been removed."""


# --- Inputs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelapseOptions:
    """What to make: a time range (unix seconds), a camera, frame rate, size and extras."""

    since: float
    until: float
    camera: str | None = None
    fps: int = DEFAULT_FPS
    width: int = DEFAULT_SIZE[0]
    height: int = DEFAULT_SIZE[1]
    burn_in: bool = False
    min_lux: float | None = None

    def check(self) -> None:
        """Raise TimelapseInputError for values wrong on their own, before asking Redis."""
        if self.since > self.until:
            raise TimelapseInputError(
                "since_after_until",
                f"The start of the range ({_fmt_time(self.since)}) is after its end "
                f"({_fmt_time(self.until)}). Swap them, or pick an earlier start.",
                "since",
            )
        if self.since == self.until:
            raise TimelapseInputError(
                "empty_range",
                f"The range starts and ends at the same moment ({_fmt_time(self.since)}), so "
                "it holds no time. Pick an end after the start.",
                "until",
            )
        if self.camera is not None and not contract.CAMERA_NAME_RE.match(self.camera):
            raise TimelapseInputError(
                "bad_camera",
                f"{self.camera!r} is not a camera name: use 1-32 letters, digits, '-' or '_'.",
                "camera",
            )
        if not (isinstance(self.fps, int) and FPS_MIN <= self.fps <= FPS_MAX):
            raise TimelapseInputError(
                "bad_fps",
                f"The frame rate {self.fps!r} is out of bounds: use a whole number of frames "
                f"per second from {FPS_MIN} to {FPS_MAX}.",
                "fps",
            )
        check_size(self.width, self.height)
        if self.min_lux is not None and not (0 <= self.min_lux < float("inf")):
            raise TimelapseInputError(
                "bad_min_lux",
                f"The darkness threshold {self.min_lux!r} must be a lux value of 0 or more.",
                "min_lux",
            )


def check_size(width: int, height: int) -> None:
    """Raise TimelapseInputError unless width x height is an even size within bounds."""
    if not (MIN_SIDE <= width <= MAX_WIDTH and MIN_SIDE <= height <= MAX_HEIGHT):
        raise TimelapseInputError(
            "bad_size",
            f"The size {width}x{height} is out of bounds: use a width from {MIN_SIDE} to "
            f"{MAX_WIDTH} and a height from {MIN_SIDE} to {MAX_HEIGHT}, e.g. 1280x720.",
            "size",
        )
    if width % 2 or height % 2:
        raise TimelapseInputError(
            "bad_size",
            f"The size {width}x{height} has an odd side; H.264 needs even widths and heights, "
            "e.g. 1280x720.",
            "size",
        )


_SIZE_RE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """Return (width, height) from text like `1280x720`, checked against the bounds."""
    match = _SIZE_RE.match(str(text))
    if not match:
        raise TimelapseInputError(
            "bad_size", f"{text!r} is not a size: write WIDTHxHEIGHT, e.g. 1280x720.", "size"
        )
    width, height = int(match.group(1)), int(match.group(2))
    check_size(width, height)
    return width, height


_RELATIVE_RE = re.compile(r"^-\s*((?:\d+(?:\.\d+)?\s*[smhdw]\s*)+)$", re.IGNORECASE)
_RELATIVE_PART_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def is_relative_time(text: str) -> bool:
    """Tell whether text is a relative time like `-1h` or `-2d12h`."""
    return bool(_RELATIVE_RE.match(text.strip()))


def parse_time(text: str | float | int, parameter: str, now: float | None = None) -> float:
    """Return unix seconds for an ISO 8601 time, unix seconds, `now`, `today`, `yesterday`
    or a relative time like `-1h`, `-30m`, `-2d` or `-1h30m`. Naive ISO times are local."""
    now_dt = (datetime.now() if now is None else datetime.fromtimestamp(now)).astimezone()
    if isinstance(text, bool):
        raise _bad_time(text, parameter)
    if isinstance(text, int | float):
        return _from_number(float(text), text, parameter)
    value = str(text).strip()
    word = value.lower()
    midnight = now_dt.replace(hour=0, minute=0, second=0, microsecond=0)
    if word == "now":
        return now_dt.timestamp()
    if word == "today":
        return midnight.timestamp()
    if word == "yesterday":
        return (midnight - timedelta(days=1)).timestamp()
    match = _RELATIVE_RE.match(value)
    if match:
        seconds = sum(float(n) * _UNIT_SECONDS[u.lower()]
                      for n, u in _RELATIVE_PART_RE.findall(match.group(1)))
        return now_dt.timestamp() - seconds
    try:
        return _from_number(float(value), text, parameter)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _bad_time(text, parameter) from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # a naive time means this machine's local time
    return parsed.timestamp()


def _from_number(number: float, text: object, parameter: str) -> float:
    if number != number or number in (float("inf"), float("-inf")) or number < 0:
        raise _bad_time(text, parameter)
    # JavaScript's Date.now() counts milliseconds; no capture is from the year 5000.
    return number / 1000 if number > 1e11 else number


def _bad_time(text: object, parameter: str) -> TimelapseInputError:
    return TimelapseInputError(
        "bad_time",
        f"{text!r} is not a time for {parameter}: use ISO 8601 (2025-06-01T08:00 or with Z or "
        "+01:00), unix seconds, now, today, yesterday, or a relative time like -1h or -2d.",
        parameter,
    )


def _fmt_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


# --- Finding the frames ----------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A checked request and how many frames it will take."""

    options: TimelapseOptions
    total: int
    dark: int


@dataclass(frozen=True)
class FrameRef:
    """One image to use: its key and the metadata the burn-in needs."""

    key: str
    timestamp: float
    lux: float | None


#: TIMEOUT of the time-lapse's searches, in milliseconds (counting and paging read ids only).
SEARCH_TIMEOUT_MS = 10_000


def image_filter(options: TimelapseOptions, with_lux: bool = True) -> ImageFilter:
    """Return the gallery filter that selects a request's frames."""
    return ImageFilter(since=options.since, until=options.until, camera=options.camera,
                       lux_min=options.min_lux if with_lux else None)


def lister(client: redis.Redis) -> Lister:
    """Return the query kit's lister on `client` (the engine runs outside the gallery too)."""
    return Lister(lambda query: run_search(client, query), SEARCH_TIMEOUT_MS)


def known_cameras(client: redis.Redis) -> list[str]:
    """Return the camera names in the index (lowercase, as tags are stored)."""
    return tag_values(client, contract.F_CAMERA)


def plan_timelapse(client: redis.Redis, options: TimelapseOptions, max_frames: int) -> Plan:
    """Check a request against what is stored; return its frame count or raise
    TimelapseInputError (unknown camera, nothing in range, more frames than `max_frames`)."""
    options.check()
    counter = lister(client)
    if options.camera:
        camera_only = ImageFilter(camera=options.camera)
        if not counter.count_exact(camera_only) and not client.exists(contract.camera_key(options.camera)):
            names = known_cameras(client)
            known = ", ".join(names) if names else "none yet"
            raise TimelapseInputError(
                "unknown_camera",
                f"There is no camera called {options.camera!r} (cameras with pictures: "
                f"{known}). Pick one of those, or leave the camera out for all of them.",
                "camera",
            )
    total = counter.count_exact(image_filter(options))
    dark = 0
    if options.min_lux is not None:
        dark = counter.count_exact(image_filter(options, with_lux=False)) - total
    if total == 0:
        where = f" from camera {options.camera!r}" if options.camera else ""
        extra = (f" ({dark} were darker than {options.min_lux:g} lux and skipped)"
                 if dark else "")
        raise TimelapseInputError(
            "empty_range",
            f"There are no images{where} between {_fmt_time(options.since)} and "
            f"{_fmt_time(options.until)}{extra}. Pick a range that holds pictures.",
            "since",
        )
    if total > max_frames:
        raise TimelapseInputError(
            "too_many_frames",
            f"The range holds {total} images, more than the limit of {max_frames} frames "
            "(TIMELAPSE_MAX_FRAMES). Pick a shorter range, skip dark frames, or raise the limit.",
            "until",
        )
    return Plan(options=options, total=total, dark=max(0, dark))


def iter_frames(
    client: redis.Redis, options: TimelapseOptions, page_size: int = PAGE_SIZE
) -> Iterator[FrameRef]:
    """Yield the images of a request in timestamp order (ties by id), one page at a time,
    with the gallery's keyset paging: each page starts after the last image yielded."""
    pages = lister(client)
    flt, order = image_filter(options), SORTS["oldest"]
    cursor = None
    while True:
        page = pages.page(flt, order, cursor, page_size)
        for row in page.rows:
            yield _frame_ref(row)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _frame_ref(row: Row) -> FrameRef:
    lux = row.fields.get(contract.F_LUX)
    return FrameRef(key=contract.image_key(row.image_id), timestamp=row.number(contract.F_TIMESTAMP),
                    lux=None if lux in (None, "") else float(lux))


# --- Pictures --------------------------------------------------------------------------


def render_frame(data: bytes, width: int, height: int, caption: str | None = None) -> Image.Image:
    """Decode a picture at reduced size and fit it into a width x height RGB frame."""
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (width, height))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
        scale = min(width / img.width, height / img.height)
        fit = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        picture = img.convert("RGB")
    if picture.size != fit:
        picture = picture.resize(fit, Image.Resampling.BILINEAR)
    if fit == (width, height):
        frame = picture
    else:
        frame = Image.new("RGB", (width, height))
        frame.paste(picture, ((width - fit[0]) // 2, (height - fit[1]) // 2))
    if caption:
        _draw_caption(frame, caption)
    return frame


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


#: The caption's backing box: black at this opacity (0-255), so white text reads on any frame.
CAPTION_BOX_ALPHA = 170


def _draw_caption(frame: Image.Image, caption: str) -> None:
    """Write the caption at the top left, on a translucent dark box.

    Top, not bottom: players (the gallery's dialog included) lay their controls over the
    bottom of the picture, where they would hide the text.
    """
    size = max(10, frame.height // 24)
    margin = max(4, size // 2)
    pad = max(3, size // 3)
    font = _font(size)
    draw = ImageDraw.Draw(frame, "RGBA")  # RGBA fills blend into the RGB frame
    _, _, right, bottom = draw.textbbox((margin + pad, margin + pad), caption, font=font,
                                        anchor="la")
    draw.rectangle((margin, margin, right + pad, bottom + pad),
                   fill=(0, 0, 0, CAPTION_BOX_ALPHA))
    draw.text((margin + pad, margin + pad), caption, font=font, anchor="la",
              fill=(255, 255, 255, 255))


def caption_for(ref: FrameRef) -> str:
    """Return the burn-in text for a frame: local capture time and lux."""
    text = datetime.fromtimestamp(ref.timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    if ref.lux is not None:
        text += f"   {ref.lux:g} lux"
    return text


# --- The movie -------------------------------------------------------------------------


@dataclass
class TimelapseResult:
    """What a run made and what it had to leave out."""

    frames: int
    width: int
    height: int
    fps: int
    skipped_expired: int = 0
    skipped_unreadable: int = 0
    skipped_dark: int = 0
    #: Frames read from the archive of originals (their full size had left Redis; issue 10).
    archive_frames: int = 0

    @property
    def duration(self) -> float:
        """Return the movie's length in seconds."""
        return self.frames / self.fps


def make_timelapse(
    client: redis.Redis,
    options: TimelapseOptions,
    output: str | Path,
    *,
    plan: Plan | None = None,
    max_frames: int = DEFAULT_MAX_FRAMES,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    page_size: int = PAGE_SIZE,
    archive: Backend | None = None,
) -> TimelapseResult:
    """Write the time-lapse for `options` to `output` (an .mp4 path) and return its counts.

    Calls `progress(done, total)` after every image, used or skipped. Raises
    TimelapseInputError before writing anything, TimelapseCancelled when `cancel` is set,
    and TimelapseFailed when no image could be used; in each case no file is left behind.
    With `archive`, a picture whose full size has left Redis is read from the archive.
    """
    plan = plan or plan_timelapse(client, options, max_frames)
    output = Path(output)
    result = TimelapseResult(frames=0, width=options.width, height=options.height,
                             fps=options.fps, skipped_dark=plan.dark)
    total = plan.total
    done = 0
    container = av.open(str(output), mode="w", format="mp4", options={"movflags": "+faststart"})
    try:
        stream = container.add_stream("libx264", rate=options.fps,
                                       options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = options.width, options.height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, options.fps)
        if progress:
            progress(0, total)
        for ref in iter_frames(client, options, page_size):
            if cancel is not None and cancel.is_set():
                raise TimelapseCancelled()
            data = client.hget(ref.key, contract.F_IMAGE_DATA)
            if data is None and archive is not None:  # its full size left Redis: the archive's copy
                data = read_original(client, archive, ref.key)
                result.archive_frames += data is not None
            if data is None:
                result.skipped_expired += 1
            else:
                try:
                    picture = render_frame(data, options.width, options.height,
                                           caption_for(ref) if options.burn_in else None)
                except (UnidentifiedImageError, OSError, ValueError) as exc:
                    logger.warning("Skipping unreadable image %s: %s", ref.key, exc)
                    result.skipped_unreadable += 1
                else:
                    frame = av.VideoFrame.from_image(picture).reformat(format="yuv420p")
                    del picture
                    frame.pts = result.frames
                    frame.time_base = stream.codec_context.time_base
                    for packet in stream.encode(frame):
                        container.mux(packet)
                    result.frames += 1
            done += 1
            total = max(total, done)
            if progress:
                progress(done, total)
        if cancel is not None and cancel.is_set():
            raise TimelapseCancelled()
        # Listed at the start but gone before their page was read: expired too.
        result.skipped_expired += total - done
        if result.frames == 0:
            raise TimelapseFailed(
                "no_frames",
                f"None of the {total} images in the range could be used ("
                f"{result.skipped_expired} expired during the run, {result.skipped_unreadable} "
                "were unreadable), so no movie was made. Pick a range with newer pictures.",
            )
        for packet in stream.encode(None):
            container.mux(packet)
        container.close()
    except BaseException:
        _close_quietly(container)
        output.unlink(missing_ok=True)
        raise
    if progress and done != total:
        progress(total, total)
    return result


def _close_quietly(container: av.container.OutputContainer) -> None:
    try:
        container.close()
    except (av.FFmpegError, OSError, ValueError) as exc:
        logger.debug("Ignoring error while closing an abandoned movie: %s", exc)
