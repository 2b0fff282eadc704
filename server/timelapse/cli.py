"""`pi-timelapse` (or `python -m server timelapse`): a time-lapse MP4 from the shell, with progress.

Exit codes: 0 done, 1 Redis or the run failed, 2 bad arguments, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import redis
from tqdm import tqdm

from pi import contract
from pi.redis_connection import connect, redact_url
from server.core.settings import NUMBERS, SettingsError

if TYPE_CHECKING:
    from server.archive.backends import Backend

from .engine import (
    DEFAULT_FPS,
    FPS_MAX,
    FPS_MIN,
    TimelapseCancelled,
    TimelapseFailed,
    TimelapseInputError,
    TimelapseOptions,
    TimelapseResult,
    is_relative_time,
    make_timelapse,
    parse_size,
    parse_time,
    plan_timelapse,
)

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    """Return the command's argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m server timelapse",
        description="Make an H.264 MP4 time-lapse from the images stored in Redis (REDIS_URL).",
        epilog="Times: ISO 8601 (2025-06-01T08:00, naive = local time), unix seconds, now, "
               "today, yesterday, or relative like -1h, -30m, -2d, -1h30m.",
    )
    parser.add_argument("--since", default="-24h", help="start of the range (default: -24h)")
    parser.add_argument("--until", default="now", help="end of the range (default: now)")
    parser.add_argument("--camera", help="only this camera's images (default: all cameras)")
    parser.add_argument("--fps", type=int, default=DEFAULT_FPS,
                        help=f"frames per second, {FPS_MIN}-{FPS_MAX} (default: {DEFAULT_FPS})")
    parser.add_argument("--size", default="1280x720",
                        help="output WIDTHxHEIGHT, even numbers (default: 1280x720)")
    parser.add_argument("--burn-in", action="store_true",
                        help="write each frame's capture time and lux into the picture")
    parser.add_argument("--skip-dark", type=float, metavar="LUX", dest="min_lux",
                        help="leave out frames darker than LUX")
    parser.add_argument("--max-frames", type=int,
                        help="refuse ranges with more frames (default: $TIMELAPSE_MAX_FRAMES "
                             "or 10000)")
    parser.add_argument("-o", "--output", required=True, help="the .mp4 file to write")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def _error(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the time-lapse command; return the exit code."""
    args = build_parser().parse_args(_attach_relative_times(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    output = Path(args.output)
    try:
        width, height = parse_size(args.size)
        options = TimelapseOptions(
            since=parse_time(args.since, "--since"), until=parse_time(args.until, "--until"),
            camera=args.camera, fps=args.fps, width=width, height=height,
            burn_in=args.burn_in, min_lux=args.min_lux,
        )
        options.check()
        max_frames = args.max_frames if args.max_frames is not None else max_frames_from_env()
        archive = archive_from_env()
        if max_frames < 1:
            raise TimelapseInputError("bad_max_frames", "--max-frames must be 1 or more.")
    except TimelapseInputError as exc:
        return _error(exc.message, EXIT_USAGE)
    except SettingsError as exc:
        return _error(str(exc), EXIT_USAGE)
    problem = output_problem(output)
    if problem:
        return _error(problem, EXIT_USAGE)
    mode = _new_file_mode(output)

    url = contract.redis_url_from_env()
    client = connect(url, retries=2)
    part: str | None = None
    try:
        contract.ensure_index(client, redact_url(url))
        plan = plan_timelapse(client, options, max_frames)
        fd, part = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
        os.close(fd)
        with tqdm(total=plan.total, unit="frame", disable=args.quiet, file=sys.stderr,
                  dynamic_ncols=True) as bar:
            def progress(done: int, total: int) -> None:
                if bar.total != total:
                    bar.total = total
                bar.update(done - bar.n)

            result = make_timelapse(client, options, part, plan=plan, progress=progress,
                                    archive=archive)
        os.chmod(part, mode)  # mkstemp made it private (0600)
        os.replace(part, output)
        part = None
    except TimelapseInputError as exc:
        return _error(exc.message, EXIT_USAGE)
    except TimelapseFailed as exc:
        return _error(exc.message, EXIT_FAILED)
    except contract.SearchModuleMissing as exc:
        return _error(str(exc), EXIT_FAILED)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        return _error(f"cannot reach Redis at {redact_url(url)} ({exc}). Fix: start it "
                      "(`make run` or `docker compose up -d`) or set REDIS_URL to your Redis.",
                      EXIT_FAILED)
    except redis.RedisError as exc:
        return _error(f"Redis at {redact_url(url)} refused the request ({exc}).", EXIT_FAILED)
    except (KeyboardInterrupt, TimelapseCancelled):
        return _error("interrupted; no movie was written.", EXIT_INTERRUPTED)
    except OSError as exc:
        return _error(f"cannot write {str(output)!r}: {exc.strerror or exc}.", EXIT_FAILED)
    finally:
        if part is not None:
            Path(part).unlink(missing_ok=True)
        client.close()
    print(_summary(output, result, options))
    return EXIT_OK


def max_frames_from_env() -> int:
    """Return TIMELAPSE_MAX_FRAMES from the environment, checked as the gallery checks it."""
    setting = next(n for n in NUMBERS if n.key == "TIMELAPSE_MAX_FRAMES")
    text = os.environ.get(setting.key, "").strip()
    return int(setting.parse(text)) if text else int(setting.default)


def output_problem(output: Path) -> str | None:
    """Return why `output` cannot be the movie's path (a usage error), or None."""
    if output.is_dir():
        return (f"-o {str(output)!r} is a folder; give the movie's file name, e.g. "
                f"{str(output / 'timelapse.mp4')!r}.")
    if output.suffix.lower() != ".mp4":
        suffix = f"a {output.suffix!r} file" if output.suffix else "a file without .mp4"
        return (f"-o {str(output)!r} names {suffix}, but this command writes MP4 (H.264) "
                f"movies only; name it {str(output.with_suffix('.mp4'))!r}.")
    if not output.parent.is_dir():
        return (f"the folder {str(output.parent)!r} for -o does not exist; create it or pick "
                "another path.")
    return None


def _new_file_mode(output: Path) -> int:
    """Return the mode the movie should get: an existing file's own, else the usual mode
    for a new file under this process's umask (0644 with the common umask 022)."""
    try:
        return stat.S_IMODE(output.stat().st_mode)
    except OSError:
        pass
    umask = os.umask(0o077)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    return 0o666 & ~umask


def _attach_relative_times(argv: list[str]) -> list[str]:
    """Turn `--since -1h` into `--since=-1h`, which argparse would read as an option."""
    out: list[str] = []
    items = iter(argv)
    for item in items:
        if item in ("--since", "--until"):
            value = next(items, None)
            if value is not None and is_relative_time(value):
                out.append(f"{item}={value}")
                continue
            out.append(item)
            if value is not None:
                out.append(value)
        else:
            out.append(item)
    return out


def archive_from_env() -> Backend | None:
    """The archive of originals (ARCHIVE_URL...), for frames whose full size left Redis; None
    without ARCHIVE_URL. A bad setting raises SettingsError naming it."""
    if not (os.environ.get("ARCHIVE_URL") or "").strip():
        return None
    from server.archive.backends import ArchiveSettingsError, open_backend
    from server.archive.settings import SettingsError as ArchiveSettingError
    from server.archive.settings import load_settings

    try:
        return open_backend(load_settings({**os.environ, "LOG_LEVEL": "INFO"}))
    except (ArchiveSettingError, ArchiveSettingsError) as exc:
        raise SettingsError(str(exc)) from None


def _summary(output: Path, result: TimelapseResult, options: TimelapseOptions) -> str:
    text = (f"Wrote {output}: {result.frames} frames, {result.duration:.1f} s at {result.fps} fps, "
            f"{result.width}x{result.height}")
    text += _from_archive(result)
    skipped = []
    if result.skipped_dark:
        skipped.append(f"{result.skipped_dark} darker than {options.min_lux:g} lux")
    if result.skipped_expired:
        skipped.append(f"{result.skipped_expired} expired during the run")
    if result.skipped_unreadable:
        skipped.append(f"{result.skipped_unreadable} unreadable")
    if skipped:
        text += " (skipped: " + ", ".join(skipped) + ")"
    return text + "."


def _from_archive(result: TimelapseResult) -> str:
    return f"; {result.archive_frames} frames read from the archive" if result.archive_frames else ""


def _entry_point() -> None:
    """The `pi-timelapse` console script."""
    sys.exit(main())
