"""Benchmark the gallery serving originals from the archive, against serving them from Redis.

One 12 MP-sized original (simulated camera, 4608x2592) is stored twice: one copy keeps its
full size in Redis, the other is archived by the real archiver and then loses its full size
(as tiered retention does), so the gallery serves it from the archive. Both are fetched over
HTTP from the gallery (waitress on loopback, as `python -m server serve` serves it), in
back-to-back pairs, alternating which goes first. Printed, for a folder and for S3 on
loopback (moto's standalone server, when installed: the `dev` extra):

- original from the archive ÷ original from Redis, p50 of the pairs' ratios (the issue's figure);
- a 256 KB range from the archive (a video player's or resuming download's request) ÷ the
  whole original from Redis.

It starts its own embedded Redis (and moto) on free ports, prints its figures and exits 0.
Run: `.venv/bin/python -m bench.bench_gallery_archive [--rounds 40]`.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from waitress import create_server, wasyncore

from bench.bench_archive import make_frames, store
from pi import contract
from pi.redis_connection import connect
from server import create_app
from server.archive.archiver import Archiver
from server.archive.settings import load_settings
from server.core.services import services
from server.serve import socket_options, waitress_options
from server.tooling.embedded_redis import EmbeddedRedis, free_port


class Gallery:
    """The gallery app served by waitress on a free loopback port, in a thread."""

    def __init__(self, app) -> None:
        self.server = create_server(app, host="127.0.0.1", port=0, **waitress_options(8))
        self.server.adj.socket_options = socket_options()
        self.port = self.server.effective_port
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            wasyncore.loop(timeout=0.1, map=self.server._map, count=1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.task_dispatcher.shutdown(timeout=5)
        self.server.close()


def fetch(conn: http.client.HTTPConnection, path: str, headers: dict[str, str] | None = None
          ) -> tuple[float, int, int]:
    """GET `path` on a kept-alive connection; return (ms, status, body bytes)."""
    start = time.perf_counter()
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    return (time.perf_counter() - start) * 1000, response.status, len(body)


def measure(name: str, redis_url: str, env: dict[str, str], frame, rounds: int) -> None:
    client = connect(redis_url, socket_timeout=30)
    client.flushall()
    contract.ensure_index(client)
    settings = load_settings({**env, "REDIS_URL": redis_url, "ARCHIVE_MIN_FREE_GB": "0"})
    from server.archive.backends import open_backend

    backend = open_backend(settings)
    backend.check()
    now = time.time()
    hot = store(client, frame, "garden", now - 10)
    cold = store(client, frame, "garden", now - 20)
    archiver = Archiver(settings, client, backend)
    for _ in range(5):
        archiver.step(threading.Event())
    assert client.hexists(contract.image_key(cold), contract.F_ARCHIVED), "not archived"
    client.hdel(contract.image_key(cold), contract.F_IMAGE_DATA)  # its full size left Redis
    size = len(frame.jpeg)

    app = create_app({"REDIS_URL": redis_url, "GALLERY_PASSWORD": None, "SECRET_KEY": "bench",
                      **{k: v for k, v in env.items() if k.startswith("ARCHIVE_")}})
    gallery = Gallery(app)
    conn = http.client.HTTPConnection("127.0.0.1", gallery.port, timeout=30)
    try:
        ours, base, ranged = [], [], []
        for i in range(rounds + 2):
            pair = [(base, f"/api/images/{hot}/image", None),
                    (ours, f"/api/images/{cold}/image", None),
                    (ranged, f"/api/images/{cold}/image", {"Range": "bytes=0-262143"})]
            if i % 2:
                pair.reverse()
            for into, path, headers in pair:
                ms, status, got = fetch(conn, path, headers)
                assert status in (200, 206), (path, status)
                assert got == (262144 if headers else size), (path, got)
                into.append(ms)
        ours, base, ranged = ours[2:], base[2:], ranged[2:]
        whole = statistics.median(o / b for o, b in zip(ours, base))
        part = statistics.median(o / b for o, b in zip(ranged, base))
        print(f"  {name:<22} archive p50 {statistics.median(ours):7.2f} ms   Redis p50 "
              f"{statistics.median(base):7.2f} ms   ratio {whole:5.2f}   "
              f"256 KB range {statistics.median(ranged):6.2f} ms (ratio {part:4.2f})")
    finally:
        conn.close()
        gallery.close()
        services(app).redis.close()
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="request pairs per backend (default 40)")
    parser.add_argument("--resolution", default="4608x2592", help="frame size (default 4608x2592)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.resolution.lower().split("x"))
    frame = make_frames((width, height))[0]
    print(f"Original served by the gallery over HTTP (loopback), {len(frame.jpeg) / 1e6:.2f} MB, "
          f"p50 of {args.rounds} back-to-back pairs: from the archive ÷ from Redis")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = EmbeddedRedis(data_dir=tmp / "redis", port=free_port(), maxmemory="0")
        with server:
            measure("folder", server.url, {"ARCHIVE_URL": (tmp / "archive").as_uri()}, frame, args.rounds)
            moto_bin = Path(sys.executable).with_name("moto_server")
            if not moto_bin.exists():
                print("  (moto_server not installed: S3 skipped; pip install -e '.[dev]')")
                return 0
            port = free_port()
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench-secret")
            moto = subprocess.Popen([str(moto_bin), "-H", "127.0.0.1", "-p", str(port)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                env = {"ARCHIVE_URL": "s3://bench/originals", "ARCHIVE_S3_ENDPOINT": f"http://127.0.0.1:{port}",
                       "ARCHIVE_S3_CREATE_BUCKET": "1"}
                for _ in range(100):  # moto starting
                    try:
                        measure("S3 on loopback (moto)", server.url, env, frame, args.rounds)
                        break
                    except Exception as exc:  # noqa: BLE001 (connection refused while it starts)
                        if "unreachable" not in str(exc) and "Connection" not in type(exc).__name__:
                            raise
                        time.sleep(0.2)
            finally:
                moto.terminate()
                moto.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
