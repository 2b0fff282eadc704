"""`pi-gallery` (or `python -m server serve`): serve the gallery with waitress (--debug: Flask)."""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import socket
import sys
from typing import TYPE_CHECKING

from server.core.security import MAX_BODY_BYTES
from server.core.settings import SettingsError, from_env

if TYPE_CHECKING:
    from flask import Flask

logger = logging.getLogger(__name__)

#: Bytes waitress buffers for one response before the app thread waits for the client.
#: Small, so a slow live viewer's backlog stays small and the live hub drops frames for it.
OUTBUF_HIGH_WATERMARK = 64 * 1024
#: Unsent bytes the kernel may hold per connection; without it Linux grows a slow reader's
#: send buffer to megabytes of stale frames.
NOTSENT_LOWAT = 16 * 1024


#: Connections waitress keeps open at once (GALLERY_CONNECTION_LIMIT's default). Idle ones
#: cost a socket, not a thread: waitress reads requests itself and hands only complete ones
#: to the worker threads. The old limit (twice the threads) let ~130 idle connections stop
#: it accepting anything.
CONNECTION_LIMIT = 500
#: Seconds a connection may sit idle (no bytes either way, no request running) before
#: waitress closes it, checked every CLEANUP_INTERVAL seconds. Event streams send a
#: keep-alive every 15 s and MJPEG every 2 s, so open streams never look idle.
CHANNEL_TIMEOUT = 30
CLEANUP_INTERVAL = 10
#: Waitress answers a bigger body (MAX_BODY_BYTES, the app's limit too) with a 413 before
#: reading it, and refuses request headers above MAX_HEADER_BYTES.
MAX_HEADER_BYTES = 64 * 1024


def waitress_options(threads: int, connection_limit: int = CONNECTION_LIMIT) -> dict:
    """Return the waitress adjustments the gallery is served with."""
    # channel_request_lookahead=1 lets waitress notice a browser that left mid-response
    # (environ["waitress.client_disconnected"]), so event streams and MJPEG free their thread.
    # poll() rather than select(): select() can't watch a socket numbered above 1023.
    return {"threads": threads, "outbuf_high_watermark": OUTBUF_HIGH_WATERMARK,
            "channel_timeout": CHANNEL_TIMEOUT, "cleanup_interval": CLEANUP_INTERVAL,
            "channel_request_lookahead": 1, "connection_limit": connection_limit,
            "asyncore_use_poll": True, "max_request_body_size": MAX_BODY_BYTES,
            "max_request_header_size": MAX_HEADER_BYTES, "ident": "pi-camera-gallery"}


def raise_open_files_limit(connection_limit: int) -> None:
    """Let this process hold `connection_limit` sockets plus Redis connections and files."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connection_limit + 200
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        except (ValueError, OSError):
            logger.warning("Could not raise the open-files limit to %d (GALLERY_CONNECTION_LIMIT "
                           "%d needs it); fix: raise ulimit -n", wanted, connection_limit)


def socket_options() -> list[tuple[int, int, int]]:
    """Return the options set on each accepted connection."""
    options = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    if hasattr(socket, "TCP_NOTSENT_LOWAT"):
        options.append((socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, NOTSENT_LOWAT))
    return options


def build_parser(defaults: dict) -> argparse.ArgumentParser:
    """Return the command-line parser; defaults come from the environment."""
    parser = argparse.ArgumentParser(
        prog="python -m server serve",
        description="Serve the gallery. Settings come from the environment (REDIS_URL, "
                    "GALLERY_PASSWORD, SECRET_KEY, GALLERY_HOST, GALLERY_PORT, GALLERY_THREADS); "
                    "these flags override them.",
    )
    parser.add_argument("--host", default=defaults["GALLERY_HOST"],
                        help="address to listen on (default %(default)s; 0.0.0.0 for the network)")
    parser.add_argument("--port", type=int, default=defaults["GALLERY_PORT"],
                        help="port (default %(default)s)")
    parser.add_argument("--threads", type=int, default=defaults["GALLERY_THREADS"],
                        help="worker threads; each live event stream or video holds one "
                             "(default %(default)s)")
    parser.add_argument("--debug", action="store_true",
                        help="use Flask's development server with the debugger (never in production)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Serve the gallery until Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        defaults = from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = build_parser(defaults).parse_args(argv)
    if not 1 <= args.port <= 65535 or not 1 <= args.threads <= 1024:
        print("error: --port must be 1-65535 and --threads 1-1024.", file=sys.stderr)
        return 2

    from server.app import create_app
    from server.core.services import services

    try:
        app = create_app({"GALLERY_HOST": args.host, "GALLERY_PORT": args.port,
                          "GALLERY_THREADS": args.threads})
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    where = services(app).redis_where
    url = address(args.host, args.port)

    if args.debug:
        problem = listen_problem(args.host, args.port)
        if problem:
            print(problem, file=sys.stderr, flush=True)
            return 1
        _announce(url, where, app)
        app.run(host=args.host, port=args.port, debug=True, threaded=True, use_reloader=False)
        return 0

    import waitress

    try:
        settings = services(app).settings
        raise_open_files_limit(settings.connection_limit)
        server = waitress.create_server(app, host=args.host, port=args.port,
                                        **waitress_options(args.threads, settings.connection_limit))
    except OSError as exc:
        print(bind_error(args.host, args.port, exc), file=sys.stderr, flush=True)
        return 1
    server.adj.socket_options = socket_options()  # not accepted as a create_server keyword
    _announce(url, where, app)  # only now: the socket is bound and listening
    signal.signal(signal.SIGTERM, _interrupt)  # stop as on Ctrl-C, so exit handlers run
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def address(host: str, port: int) -> str:
    """Return the gallery's URL for the host as given, e.g. `http://127.0.0.1:5000/`."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"


def bind_error(host: str, port: int, exc: OSError) -> str:
    """Return the one line that says why the gallery can't listen on host:port, and the fix."""
    if exc.errno == errno.EADDRINUSE:
        return (f"error: port {port} on {host} is already in use, by another gallery or another "
                f"program. Fix: stop that program, or set GALLERY_PORT (or --port) to a free port, "
                f"e.g. GALLERY_PORT={port + 1 if port < 65535 else 5000}.")
    if exc.errno == errno.EACCES:
        return (f"error: this user may not listen on port {port}. Fix: set GALLERY_PORT (or "
                "--port) to a port above 1023, e.g. GALLERY_PORT=5000.")
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return (f"error: {host!r} is not an address of this machine, so the gallery can't listen "
                "on it. Fix: set GALLERY_HOST (or --host) to 127.0.0.1, 0.0.0.0 (every network) "
                "or one of this machine's addresses.")
    return (f"error: the gallery can't listen on {address(host, port)} ({exc.strerror or exc}). "
            "Fix: set GALLERY_HOST and GALLERY_PORT (or --host and --port) to a free local address.")


def listen_problem(host: str, port: int) -> str | None:
    """Return bind_error()'s line if host:port can't be listened on now, else None."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _, sockaddr in infos:
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(sockaddr)
    except OSError as exc:
        return bind_error(host, port, exc)
    return None


def _announce(url: str, where: str, app: Flask) -> None:
    from server.core.services import services

    note = ""
    if url.startswith(("http://0.0.0.0:", "http://[::]:")):
        note = "every network interface; "
    print(f"Gallery on {url}  ({note}images from Redis at {where}; "
          f"login {'on' if services(app).settings.password else 'off'})", flush=True)


def _entry_point() -> None:
    """The `pi-gallery` console script."""
    sys.exit(main())


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
