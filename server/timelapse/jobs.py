"""Time-lapse jobs run in a background thread of the gallery, with their state in Redis.

A job's state is the hash `contract.timelapse_key(job_id)`; any gallery process can read
it to report progress. While the job runs the hash lives only HEARTBEAT_TTL seconds past
its last update, so a job whose process died disappears by itself. The finished movie is
the string `<state key>:mp4`, and both keys expire after the result TTL (an hour by
default, TIMELAPSE_TTL), so stored movies never grow without bound. Under memory pressure the
`volatile-ttl` policy evicts keys nearest expiry first: images at the end of their life,
then movies.

One job runs at a time per gallery process; a second request is refused with JobBusy
(the API's 409), naming the running job so the page can show that one instead.

Deleting the state hash cancels a job, from any process: the runner writes progress and
movie bytes only through scripts that first check the hash still exists, so a deleted job
is never recreated, and the runner removes its temporary file when it notices. A process
that exits cancels its job; temporary files of processes that died are swept at start.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import secrets
import socket
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from pi import contract
from server.archive.backends import ArchiveError
from server.archive.layout import MOVIES_FOLDER
from server.archive.layout import movie_key as archive_movie_key

from .engine import (
    Plan,
    TimelapseCancelled,
    TimelapseFailed,
    TimelapseOptions,
    make_timelapse,
    plan_timelapse,
)

if TYPE_CHECKING:
    from server.archive.backends import Backend

logger = logging.getLogger(__name__)

JOB_ID_RE = re.compile(r"^[0-9a-f]{16}$")
#: How long a running job's state outlives its last progress write.
HEARTBEAT_TTL = 60
DEFAULT_RESULT_TTL = 3600
PROGRESS_INTERVAL = 0.25
UPLOAD_CHUNK = 1 << 20
MOVIE_TYPE = "video/mp4"

# Write fields and renew the TTL only while the job's hash exists; 0 means it was deleted.
_UPDATE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""
# Append a piece of the movie only while the job exists; otherwise drop what was stored.
_APPEND_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) return 0 end
redis.call('APPEND', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
# Mark the job done and give the state and the movie the same lifetime.
_FINISH_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
"""

_INT_FIELDS = ("done", "total", "frames", "skipped_expired", "skipped_unreadable",
               "skipped_dark", "movie_bytes")
_FLOAT_FIELDS = ("created_at", "updated_at", "finished_at", "eta_seconds", "duration_seconds")

# --- The archive of originals (issue 10): frames read from it, movies stored in it ---------
_ARCHIVE_INT_FIELDS = ("archive_frames",)
#: The job hash's field naming where its movie is in the archive (as a picture's `archived`).
F_MOVIE_ARCHIVED = contract.F_ARCHIVED


class JobBusy(RuntimeError):
    """This process is already making a time-lapse."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"A time-lapse is already being made (job {job_id}); one runs at a time. "
            "Wait for it to finish, or cancel it and start again."
        )
        self.job_id = job_id


def movie_key(job_id: str) -> str:
    """Return the key of a finished job's MP4."""
    return f"{contract.timelapse_key(job_id)}:mp4"


def is_valid_job_id(job_id: str) -> bool:
    """Tell whether a string is a well-formed job id."""
    return bool(JOB_ID_RE.match(job_id))


@dataclass
class _Running:
    job_id: str
    thread: threading.Thread
    cancel: threading.Event


class TimelapseJobs:
    """Starts, tracks and cancels the time-lapse jobs of one gallery process."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        max_frames: int,
        result_ttl: int = DEFAULT_RESULT_TTL,
        tmp_dir: str | Path | None = None,
        archive: Backend | None = None,
    ) -> None:
        self.client = client
        #: With an archive of originals, frames come from it when their full size left Redis,
        #: and finished movies go to it (layout.MOVIES_FOLDER) instead of Redis.
        self.archive = archive
        self.max_frames = max_frames
        self.result_ttl = result_ttl
        self.tmp_dir = str(tmp_dir) if tmp_dir else None
        self._lock = threading.Lock()
        self._running: _Running | None = None
        self._update = client.register_script(_UPDATE_LUA)
        self._append = client.register_script(_APPEND_LUA)
        self._finish = client.register_script(_FINISH_LUA)
        self._owner = f"{socket.gethostname()}:{os.getpid()}"
        self._sweep_orphans()
        atexit.register(self.shutdown)

    # --- Starting ---------------------------------------------------------------------

    def start(self, options: TimelapseOptions) -> str:
        """Check the request, store the job's state and start it; return the job id.

        Raises TimelapseInputError for a bad request and JobBusy while another runs.
        """
        with self._lock:
            if self._running is not None and self._running.thread.is_alive():
                raise JobBusy(self._running.job_id)
            plan = plan_timelapse(self.client, options, self.max_frames)
            job_id = secrets.token_hex(8)
            now = time.time()
            state = {
                "status": "running", "done": 0, "total": plan.total, "frames": 0,
                "skipped_expired": 0, "skipped_unreadable": 0, "skipped_dark": plan.dark,
                "created_at": f"{now:.3f}", "updated_at": f"{now:.3f}",
                "params": json.dumps(asdict(options)), "owner": self._owner,
            }
            key = contract.timelapse_key(job_id)
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(key, mapping=state)
            pipe.expire(key, HEARTBEAT_TTL)
            pipe.execute()
            cancel = threading.Event()
            thread = threading.Thread(target=self._run, args=(job_id, plan, cancel),
                                      name=f"timelapse-{job_id}", daemon=True)
            self._running = _Running(job_id, thread, cancel)
            thread.start()
        logger.info("Started time-lapse job %s: %d frames", job_id, plan.total)
        return job_id

    def running_job(self) -> str | None:
        """Return the id of the job this process is running, if any."""
        running = self._running
        return running.job_id if running and running.thread.is_alive() else None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for this process's job to end; return False on timeout."""
        running = self._running
        if running is None:
            return True
        running.thread.join(timeout)
        return not running.thread.is_alive()

    # --- Reading ----------------------------------------------------------------------

    def status(self, job_id: str) -> dict[str, Any] | None:
        """Return a job's state as JSON-ready values, or None when there is no such job."""
        key = contract.timelapse_key(job_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(key)
        pipe.pttl(key)
        raw, pttl = pipe.execute()
        if not raw:
            return None
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        out: dict[str, Any] = {"job_id": job_id, "status": fields.get("status", "running")}
        for name in _INT_FIELDS + _ARCHIVE_INT_FIELDS:
            if name in fields:
                out[name] = int(fields[name])
        for name in _FLOAT_FIELDS:
            if name in fields:
                out[name] = float(fields[name])
        total = out.get("total", 0)
        out["percent"] = round(100 * out.get("done", 0) / total, 1) if total else 0.0
        out["params"] = json.loads(fields.get("params", "{}"))
        if fields.get(F_MOVIE_ARCHIVED):
            out["movie_archived"] = True
        if "error_code" in fields:
            out["error"] = {"code": fields["error_code"],
                            "message": fields.get("error_message", "")}
        if out["status"] in ("done", "failed") and pttl > 0:
            out["expires_in"] = round(pttl / 1000)
        return out

    def movie_length(self, job_id: str) -> int:
        """Return the size in bytes of a finished job's movie; 0 when it is gone."""
        return int(self.client.strlen(movie_key(job_id)))

    def read_movie(self, job_id: str, start: int, stop: int) -> bytes:
        """Return bytes [start, stop) of a finished job's movie."""
        if stop <= start:
            return b""
        return self.client.getrange(movie_key(job_id), start, stop - 1)

    # --- Cancelling -------------------------------------------------------------------

    def cancel(self, job_id: str, wait: float = 10.0) -> bool:
        """Cancel or delete a job and its movie; return False when there was no such job.

        A job this process runs is also stopped here, and its temporary file removed,
        before this returns (up to `wait` seconds).
        """
        self._delete_archived_movie(job_id)
        existed = self.client.delete(contract.timelapse_key(job_id), movie_key(job_id)) > 0
        running = self._running
        if running is not None and running.job_id == job_id:
            running.cancel.set()
            running.thread.join(wait)
            existed = True
            # A slow last write may have stored a piece after the first delete.
            self.client.delete(movie_key(job_id))
        if existed:
            logger.info("Cancelled time-lapse job %s", job_id)
        return existed

    def shutdown(self, wait: float = 5.0) -> None:
        """Cancel this process's job, if any, so no state or file outlives the process."""
        running = self._running
        if running is not None and running.thread.is_alive():
            self.cancel(running.job_id, wait=wait)

    def _sweep_orphans(self) -> None:
        """Remove temporary movies left by gallery processes that died mid-run."""
        folder = Path(self.tmp_dir or tempfile.gettempdir())
        for path in folder.glob("timelapse-*-*.mp4"):
            pid = path.name.split("-")[1]
            if pid.isdigit() and not _process_alive(int(pid)):
                logger.info("Removing %s, left by a gallery process that is gone", path)
                path.unlink(missing_ok=True)

    # --- Running ----------------------------------------------------------------------

    def _run(self, job_id: str, plan: Plan, cancel: threading.Event) -> None:
        key = contract.timelapse_key(job_id)
        fd, path = tempfile.mkstemp(prefix=f"timelapse-{os.getpid()}-{job_id}-", suffix=".mp4",
                                    dir=self.tmp_dir)
        os.close(fd)
        started = time.monotonic()
        last_write = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal last_write
            now = time.monotonic()
            if done < total and now - last_write < PROGRESS_INTERVAL:
                return
            last_write = now
            elapsed = now - started
            eta = elapsed / done * (total - done) if done else None
            fields: dict[str, Any] = {"done": done, "total": total,
                                      "updated_at": f"{time.time():.3f}"}
            if eta is not None:
                fields["eta_seconds"] = f"{eta:.1f}"
            if not self._write(key, fields, HEARTBEAT_TTL):
                cancel.set()

        try:
            self._sweep_archived_movies()
            result = make_timelapse(self.client, plan.options, path, plan=plan,
                                    progress=progress, cancel=cancel, archive=self.archive)
            counts = {"frames": result.frames, "skipped_expired": result.skipped_expired,
                      "skipped_unreadable": result.skipped_unreadable,
                      "duration_seconds": f"{result.duration:.3f}"}
            counts["archive_frames"] = result.archive_frames
            if not self._write(key, {"status": "saving", "eta_seconds": "0", **counts},
                               HEARTBEAT_TTL):
                raise TimelapseCancelled()
            finished = {"status": "done", "done": plan.total,
                        "finished_at": f"{time.time():.3f}", "updated_at": f"{time.time():.3f}"}
            if self.archive is not None:
                size, finished[F_MOVIE_ARCHIVED] = self._store_in_archive(job_id, path)
            else:
                size = self._upload(job_id, path)
            finished["movie_bytes"] = size
            if not self._finish(keys=[key, movie_key(job_id)],
                                args=[self.result_ttl * 1000, *_flatten(finished)]):
                raise TimelapseCancelled()
            logger.info("Time-lapse job %s done: %d frames, %d bytes, %d expired, %d unreadable",
                        job_id, result.frames, size, result.skipped_expired,
                        result.skipped_unreadable)
        except TimelapseCancelled:
            self.client.delete(key, movie_key(job_id))
            logger.info("Time-lapse job %s cancelled", job_id)
        except TimelapseFailed as exc:
            self._fail(job_id, exc.code, exc.message)
        except ArchiveError as exc:
            logger.warning("Time-lapse job %s could not store its movie in the archive: %s", job_id, exc)
            self._fail(job_id, "archive_unavailable",
                       f"The movie was made but could not be stored in the archive ({exc}). Make "
                       "the archive reachable (ARCHIVE_URL, ARCHIVE_S3_ENDPOINT), then start the "
                       "time-lapse again.")
        except redis.RedisError as exc:
            logger.warning("Time-lapse job %s failed on Redis: %s", job_id, exc)
            self._fail(job_id, "redis_error",
                       f"Redis refused or dropped the job ({exc}). Check that Redis is up and "
                       "has memory to spare (maxmemory), then start the time-lapse again.")
        except Exception:
            logger.exception("Time-lapse job %s failed", job_id)
            self._fail(job_id, "internal_error",
                       "Making the movie failed unexpectedly; the gallery log has the details. "
                       "Try again, or with a smaller size or range.")
        finally:
            Path(path).unlink(missing_ok=True)
            with self._lock:
                if self._running is not None and self._running.job_id == job_id:
                    self._running = None

    def _write(self, key: str, fields: dict[str, Any], ttl: int) -> bool:
        return bool(self._update(keys=[key], args=[ttl * 1000, *_flatten(fields)]))

    def _upload(self, job_id: str, path: str) -> int:
        key, mkey = contract.timelapse_key(job_id), movie_key(job_id)
        self.client.delete(mkey)
        size = 0
        with open(path, "rb") as movie:
            while chunk := movie.read(UPLOAD_CHUNK):
                if not self._append(keys=[key, mkey], args=[chunk, HEARTBEAT_TTL * 1000]):
                    raise TimelapseCancelled()
                size += len(chunk)
        return size

    # --- Movies in the archive ---------------------------------------------------------

    def _store_in_archive(self, job_id: str, path: str) -> tuple[int, str]:
        """Put the movie in the archive (streamed from the file); return its size and location."""
        assert self.archive is not None
        if not self.client.exists(contract.timelapse_key(job_id)):
            raise TimelapseCancelled()
        with open(path, "rb") as movie:
            info = self.archive.put(archive_movie_key(job_id), movie, MOVIE_TYPE)
        return info.size, self.archive.location(archive_movie_key(job_id))

    def open_archived_movie(self, job_id: str, start: int | None = None, end: int | None = None):
        """Open a finished job's movie in the archive (a byte range: `end` inclusive)."""
        assert self.archive is not None
        return self.archive.open(archive_movie_key(job_id), start, end)

    def _delete_archived_movie(self, job_id: str) -> None:
        if self.archive is None:
            return
        try:
            if self.client.hget(contract.timelapse_key(job_id), F_MOVIE_ARCHIVED):
                self.archive.delete(archive_movie_key(job_id))
        except ArchiveError as exc:
            logger.warning("Could not delete time-lapse job %s's movie from the archive: %s", job_id, exc)

    def _sweep_archived_movies(self) -> None:
        """Delete archived movies whose job has expired (TIMELAPSE_TTL), as Redis drops its own."""
        if self.archive is None:
            return
        try:
            cutoff = time.time() - self.result_ttl - HEARTBEAT_TTL
            stale = [info.key for info in self.archive.list(MOVIES_FOLDER + "/")
                     if info.last_modified < cutoff and not self.client.exists(
                         contract.timelapse_key(info.key.rsplit("/", 1)[-1].split(".")[0]))]
            if stale:
                self.archive.delete(*stale)
                logger.info("Deleted %d expired time-lapse movies from the archive", len(stale))
        except ArchiveError as exc:
            logger.warning("Could not sweep expired time-lapse movies from the archive: %s", exc)

    def _fail(self, job_id: str, code: str, message: str) -> None:
        key = contract.timelapse_key(job_id)
        try:
            self.client.delete(movie_key(job_id))
            self._write(key, {"status": "failed", "error_code": code, "error_message": message,
                              "eta_seconds": "0", "updated_at": f"{time.time():.3f}"},
                        self.result_ttl)
        except redis.RedisError as exc:
            logger.warning("Could not record the failure of time-lapse job %s: %s", job_id, exc)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _flatten(fields: dict[str, Any]) -> list[Any]:
    return [item for pair in fields.items() for item in pair]
