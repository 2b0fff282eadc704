"""Benchmark starvation: does the list API still answer while streams and slowloris are open?

The gallery runs as in production (`python -m server serve`, its own waitress options and
default threads) on a free port, over its own embedded Redis holding a few hundred pictures.

1. Baseline: `GET /api/images` N times in a row with nothing else open; p50 and p99.
2. Load: 100 event streams (`/api/events`, kept open) and 140 idle slowloris connections
   (an unfinished request line each) are opened, then the same N requests are timed.
   A request that gets no answer within the timeout counts as the timeout; after 60 s
   the requests not yet made count as timeouts too.

It prints the p50 and p99 of both and their ratio (load / baseline, same run), how many of
the streams were served (200) or refused (503 with Retry-After), and how many list requests
failed. `--server gunicorn` serves the same app with gunicorn's gthread worker instead (one
process, the same threads and connection limit; gunicorn must be installed by hand, it is
not a dependency) for the comparison in the README. Bounded: at most ~240 sockets and about
two minutes. Run with `.venv/bin/python bench/bench_starvation.py` (add `--streams`,
`--idle`, `--requests` to vary).
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pi.contract import ensure_index  # noqa: E402
from tests.factories import store_image  # noqa: E402

try:  # the launcher moved with the server's wings
    from server.tooling.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
except ImportError:  # pragma: no cover
    from server.embedded_redis import EmbeddedRedis, free_port  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def timed_get(port: int, path: str, timeout: float) -> tuple[int, float]:
    """Return (status, seconds); status 0 and `timeout` seconds when nothing came back in time."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    except OSError:
        return 0, timeout
    finally:
        conn.close()


def measure(port: int, requests: int, timeout: float, budget: float = 60.0) -> tuple[list[float], int]:
    """Time `requests` list requests; once `budget` seconds are spent the rest count as timeouts."""
    times, failed = [], 0
    stop_at = time.monotonic() + budget
    for _ in range(requests):
        if time.monotonic() > stop_at:
            times.append(timeout)
            failed += 1
            continue
        status, seconds = timed_get(port, "/api/images?limit=24", timeout)
        times.append(seconds)
        failed += status != 200
    return times, failed


def open_stream(port: int) -> tuple[socket.socket | None, int]:
    """Open one event stream; return the socket and its status (0: no answer in 2 s)."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
        head = sock.recv(4096)
        return sock, int(head.split()[1]) if head.startswith(b"HTTP/") else 0
    except OSError:
        return None, 0


def open_idle(port: int) -> socket.socket | None:
    """Open one slowloris connection: a request that is never finished."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        sock.sendall(b"GET /api/images HTTP/1.1\r\nHost: bench\r\n")
        return sock
    except OSError:
        return None


def wait_ready(port: int, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the gallery exited with {proc.returncode}")
        if timed_get(port, "/healthz", 1)[0] == 200:
            return
        time.sleep(0.2)
    raise SystemExit("the gallery did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--idle", type=int, default=140)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per list request")
    parser.add_argument("--server", choices=("waitress", "gunicorn"), default="waitress")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(data_dir=Path(tmp) / "redis",
                                                             port=free_port(), maxmemory="0") as redis_server:
        client = redis_server.client()
        ensure_index(client)
        now = time.time()
        for i in range(300):
            store_image(client, camera=f"cam{i % 3}", timestamp=now - i * 60, lux=i % 200, thumbnail=False)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GALLERY_", "LIVE_"))}
        env.update({"REDIS_URL": redis_server.url, "GALLERY_PORT": str(port), "GALLERY_HOST": "127.0.0.1",
                    "GALLERY_SSE_SECONDS": "600", "PYTHONUNBUFFERED": "1"})
        command = [sys.executable, "-m", "server", "serve"]
        if args.server == "gunicorn":
            command = [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1",
                       "--threads", "64", "--worker-connections", "500", "--timeout", "30",
                       "--bind", f"127.0.0.1:{port}", "server.app:create_app()"]
        proc = subprocess.Popen(command, cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(port, proc)
            measure(port, 20, args.timeout)  # warm-up
            base, base_failed = measure(port, args.requests, args.timeout)
            with ExitStack() as stack:
                statuses: dict[int, int] = {}
                for _ in range(args.streams):
                    sock, status = open_stream(port)
                    statuses[status] = statuses.get(status, 0) + 1
                    if sock:
                        stack.enter_context(closing(sock))
                idle = 0
                for _ in range(args.idle):
                    sock = open_idle(port)
                    if sock:
                        idle += 1
                        stack.enter_context(closing(sock))
                started = time.monotonic()
                loaded, loaded_failed = measure(port, args.requests, args.timeout)
                spent = time.monotonic() - started
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        client.close()

    b50, b99 = percentile(base, 50), percentile(base, 99)
    l50, l99 = percentile(loaded, 50), percentile(loaded, 99)
    print(f"server: {args.server}")
    print(f"list API, nothing open:         p50 {b50 * 1000:7.1f} ms   p99 {b99 * 1000:7.1f} ms   "
          f"failed {base_failed}/{args.requests}")
    print(f"list API, {args.streams} streams + {idle} idle: p50 {l50 * 1000:7.1f} ms   "
          f"p99 {l99 * 1000:7.1f} ms   failed {loaded_failed}/{args.requests} "
          f"(timeout {args.timeout:g} s; {spent:.1f} s in all)")
    print(f"ratio (load / none open):       p50 x{l50 / b50:.2f}   p99 x{l99 / b99:.2f}")
    shown = ", ".join(f"{'no answer' if k == 0 else k}: {v}" for k, v in sorted(statuses.items()))
    print(f"event streams asked {args.streams}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
