"""`python -m server serve`: run the gallery with waitress (or Flask's dev server with --debug)."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys

from .settings import SettingsError, from_env

logger = logging.getLogger(__name__)

#: Bytes waitress buffers for one response before the app thread waits for the client.
#: Small, so a slow live viewer's backlog stays small and the live hub drops frames for it.
OUTBUF_HIGH_WATERMARK = 64 * 1024
#: Unsent bytes the kernel may hold per connection; without it Linux grows a slow reader's
#: send buffer to megabytes of stale frames.
NOTSENT_LOWAT = 16 * 1024


def waitress_options(threads: int) -> dict:
    """Return the waitress adjustments the gallery is served with."""
    # channel_request_lookahead=1 lets waitress notice a browser that left mid-response
    # (environ["waitress.client_disconnected"]), so event streams and MJPEG free their thread.
    return {"threads": threads, "outbuf_high_watermark": OUTBUF_HIGH_WATERMARK,
            "channel_timeout": 120, "channel_request_lookahead": 1,
            "connection_limit": max(100, threads * 2), "ident": "pi-camera-gallery"}


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

    from . import create_app
    from .redis_store import redis_where

    try:
        app = create_app({"GALLERY_HOST": args.host, "GALLERY_PORT": args.port,
                          "GALLERY_THREADS": args.threads})
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    shown_host = "localhost" if args.host in ("127.0.0.1", "0.0.0.0", "::") else args.host
    with app.app_context():
        where = redis_where()
    print(f"Gallery on http://{shown_host}:{args.port}/  (images from Redis at {where}; "
          f"login {'on' if app.config['GALLERY_PASSWORD'] else 'off'})", flush=True)
    if args.debug:
        app.run(host=args.host, port=args.port, debug=True, threaded=True, use_reloader=False)
        return 0

    import waitress

    server = waitress.create_server(app, host=args.host, port=args.port,
                                    **waitress_options(args.threads))
    server.adj.socket_options = socket_options()  # not accepted as a create_server keyword
    signal.signal(signal.SIGTERM, _interrupt)  # stop as on Ctrl-C, so exit handlers run
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
