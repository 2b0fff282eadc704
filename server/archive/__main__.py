"""`python -m server.archive run | restore | check` (also installed as `pi-archive`).

    run       the archiver, until SIGTERM or Ctrl-C
    restore   rebuild hashes from the archive: --camera NAME (repeatable), --since, --until
              (2025-11-21, 2025-11-21T18:00, or 7d / 12h / 30m ago; UTC), --full, --expired-ttl
              SECONDS, --dry-run
    check     validate the settings and reach the archive and Redis, then exit

Settings come from the environment (README, "Archive"). A bad setting exits 2 with one
line naming it; a run-time problem exits 1 with one line; never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import redis

from pi import contract
from pi.redis_connection import connect, redact_url
from server.archive.backends import ArchiveSettingsError, ArchiveUnavailable, open_backend
from server.archive.settings import ArchiveSettings, SettingsError, load_settings

logger = logging.getLogger("server.archive")

EXIT_OK, EXIT_FAILED, EXIT_SETTINGS = 0, 1, 2


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """Parse 2025-11-21, 2025-11-21T18:00[:00][Z|+01:00] (UTC when no zone), or 7d / 12h / 30m ago."""
    now = now or datetime.now(UTC)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([dhm])", text.strip())
    if match:
        amount, unit = float(match[1]), match[2]
        return now - timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: amount})
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: use 2025-11-21, 2025-11-21T18:00 (UTC) or 7d, 12h, 30m ago") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m server.archive", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the archiver until SIGTERM or Ctrl-C")
    sub.add_parser("check", help="validate the settings, reach the archive and Redis, exit")
    rest = sub.add_parser("restore", help="rebuild picture hashes in Redis from the archive")
    rest.add_argument("--camera", action="append", help="a camera to restore (repeatable; default all)")
    rest.add_argument("--since", type=parse_time, help="oldest picture time (UTC), or 7d for 7 days ago")
    rest.add_argument("--until", type=parse_time, help="newest picture time (UTC)")
    rest.add_argument("--full", action="store_true",
                      help="restore the full-size JPEGs too (those that would still be in Redis)")
    rest.add_argument("--expired-ttl", type=float, metavar="SECONDS",
                      help="restore pictures whose TTL ran out too, with this TTL")
    rest.add_argument("--dry-run", action="store_true", help="only count what would be restored")
    return parser


def _check(backend) -> bool:
    """Raise ArchiveSettingsError for wrong settings; log and go on when the archive is just down."""
    try:
        backend.check()
    except ArchiveUnavailable as exc:
        logger.warning("The archive can't be reached at start (%s); the archiver retries", exc)
        return False
    return True


def _run(settings: ArchiveSettings, backend) -> int:
    from server.archive.archiver import Archiver

    client = connect(settings.redis_url, retries=2, socket_timeout=10)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logger.info("%s received: stopping after the picture in progress", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    checked = _check(backend)
    try:
        Archiver(settings, client, backend, checked=checked).run(stop)
    finally:
        client.close()
    return EXIT_OK


def _restore(args: argparse.Namespace, settings: ArchiveSettings, backend) -> int:
    from server.archive.restore import restore

    backend.check()
    client = connect(settings.redis_url, retries=2, socket_timeout=30)
    try:
        report = restore(client, backend, cameras=args.camera, since=args.since, until=args.until,
                         full=args.full, expired_ttl=args.expired_ttl, dry_run=args.dry_run, now=time.time())
    finally:
        client.close()
    print(("Would restore: " if args.dry_run else "Restored: ") + report.summary())
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    logging.basicConfig(level=getattr(logging, settings.log_level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    where = redact_url(settings.redis_url)
    try:
        backend = open_backend(settings)
        if args.command == "run":
            return _run(settings, backend)
        if args.command == "restore":
            return _restore(args, settings, backend)
        backend.check()
        client = connect(settings.redis_url, retries=1)
        try:
            client.ping()
            status = contract.read_archive_status(client)
        finally:
            client.close()
        print(f"Archive {backend.url}: reachable. Redis {where}: reachable. Archiver: "
              f"{status.state if status else 'not running'}.")
        return EXIT_OK
    except ArchiveSettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETTINGS
    except ArchiveUnavailable as exc:
        print(f"error: the archive is unavailable: {exc}. Fix: start it or check ARCHIVE_URL / "
              "ARCHIVE_S3_ENDPOINT, then try again.", file=sys.stderr)
        return EXIT_FAILED
    except redis.AuthenticationError:
        print(f"error: Redis at {where} refused the password in REDIS_URL.", file=sys.stderr)
        return EXIT_FAILED
    except redis.ConnectionError as exc:
        print(f"error: cannot reach Redis at {where} ({exc}). Fix: start it or correct REDIS_URL.",
              file=sys.stderr)
        return EXIT_FAILED
    except contract.SearchModuleMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
