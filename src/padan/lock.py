"""The lake lock: one writing padan command per lake at a time.

Every command that writes the lake (ingest, train, link, increment, report, pipeline, demo,
evaluate) takes it before its Spark session starts and before it touches a table; read-only
commands (explain, blocking) do not. A second writer on a locked lake waits up to
`lake.lock_wait_seconds` (default 0) and then fails with exit code 9 (`LakeBusyError`), naming the
lake and the holder, having written nothing. Exit 9 is retryable: the scheduler and the Airflow
DAG retry it later, unlike the permanent codes 2-7.

The lock is the file `<lake root>/_padan.lock`, created atomically (`O_CREAT | O_EXCL`: exactly
one of two racing creators succeeds) and holding who holds it: host, process id, command, batch
and source ids when given, start time (UTC) and a random token; nothing personal. It is removed
when the command ends, also when it fails. A lock left by a process that died (same host, process
id no longer running: `kill -9`, OOM killer) is taken over with a warning; taking over happens
under an `flock` on `_padan.lock.guard` and re-reads the lock first, so two processes cannot both
take over, nor remove a live lock.

Limits: this works on a local or POSIX filesystem shared by the writers (NFSv4 included). A lock
held by another host is never taken over automatically (its process cannot be checked from here):
if that host died, remove the file by hand after checking that no run is active. Lakes behind a
URI (hdfs://, s3a://, abfss://, gs://) are not locked by this module: `lock_for` says so in a log line,
and their writes rely on Delta's optimistic concurrency (a conflicting commit fails); run one
writer at a time there (the scheduler and the DAG run increments one after the other).
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import logging
import os
import re
import socket
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from padan.errors import LakeBusyError

logger = logging.getLogger(__name__)

LOCK_NAME = "_padan.lock"
GUARD_NAME = "_padan.lock.guard"
POLL_SECONDS = 1.0


def local_root(root: str) -> Path | None:
    """The lake root as a local path, or None for an object-store URI."""
    if root.startswith("file://"):
        return Path(root[len("file://"):])
    if root.startswith("file:"):
        return Path(root[len("file:"):])
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", root):
        return None
    return Path(root)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:         # another user's live process
        return True
    return True


class LakeLock:
    """`with LakeLock(root, "increment"):` holds the lake lock for the block (see the module doc)."""

    def __init__(self, root: str | os.PathLike, command: str, *, wait_seconds: float = 0.0,
                 ids: dict[str, str] | None = None, poll_seconds: float = POLL_SECONDS):
        self.root = Path(root)
        self.path = self.root / LOCK_NAME
        self.command, self.wait_seconds, self.poll_seconds = command, float(wait_seconds), poll_seconds
        self.info = {"host": socket.gethostname(), "pid": os.getpid(), "command": command,
                     **{k: v for k, v in (ids or {}).items() if v},
                     "started_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "token": uuid.uuid4().hex}
        self.held = False

    # ---------------------------------------------------------------- file operations

    def _try_create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.info, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        return True

    def holder(self) -> dict | None:
        """The lock file's content; None when there is no lock file. A file that cannot be parsed
        (its writer died between create and write) reads as {}."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            value = json.loads(text)
            return value if isinstance(value, dict) else {}
        except ValueError:
            return {}

    def _stale(self, holder: dict) -> bool:
        """Held by a process of this host that is no longer running (an empty or unreadable file
        counts as stale only once it is old enough for its writer to have finished writing)."""
        if not holder:
            try:
                return time.time() - self.path.stat().st_mtime > 10
            except FileNotFoundError:
                return False
        pid = holder.get("pid")
        return holder.get("host") == self.info["host"] and isinstance(pid, int) and not _pid_alive(pid)

    def _take_over(self, seen: dict) -> bool:
        """Remove the stale lock `seen`, if it is still that one; under the guard's flock."""
        fd = os.open(self.root / GUARD_NAME, os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            now = self.holder()
            if now is None:
                return True
            if now != seen or not self._stale(now):
                return False
            logger.warning("lake %s: taking over the lock of %s (pid %s on %s, since %s), which is no longer "
                           "running; a run it left unfinished resumes where it stopped", self.root,
                           seen.get("command", "?"), seen.get("pid", "?"), seen.get("host", "?"),
                           seen.get("started_at", "?"))
            self.path.unlink(missing_ok=True)
            return True
        finally:
            os.close(fd)

    # ---------------------------------------------------------------- acquire / release

    def acquire(self) -> "LakeLock":
        self.root.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.wait_seconds
        announced = False
        while True:
            if self._try_create():
                self.held = True
                logger.info("lake %s: lock taken by %s (pid %d)", self.root, self.command, self.info["pid"])
                return self
            seen = self.holder()
            if seen is not None and self._stale(seen) and self._take_over(seen):
                continue
            if time.monotonic() >= deadline:
                raise LakeBusyError(str(self.root), seen or {}, self.wait_seconds, str(self.path))
            if not announced:
                logger.info("lake %s is locked by %s; waiting up to %.0fs", self.root, _describe(seen or {}),
                            self.wait_seconds)
                announced = True
            time.sleep(min(self.poll_seconds, max(0.0, deadline - time.monotonic())))

    def release(self) -> None:
        """Remove the lock file if it is still ours."""
        if not self.held:
            return
        self.held = False
        if (self.holder() or {}).get("token") == self.info["token"]:
            try:
                self.path.unlink()
            except OSError as exc:           # pragma: no cover -- e.g. the lake folder was removed
                if exc.errno != errno.ENOENT:
                    logger.warning("lake %s: could not remove the lock file %s: %s", self.root, self.path, exc)
            logger.debug("lake %s: lock released", self.root)
        else:
            logger.warning("lake %s: the lock file is no longer this run's; left as it is", self.root)

    def __enter__(self) -> "LakeLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _describe(holder: dict) -> str:
    if not holder:
        return "an unknown holder (empty lock file)"
    ids = "".join(f" {k} {holder[k]}" for k in ("source", "batch") if holder.get(k))
    return (f"'{holder.get('command', '?')}'{ids} (pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, "
            f"since {holder.get('started_at', '?')})")


@contextmanager
def lock_for(root: str, command: str, *, wait_seconds: float = 0.0, ids: dict[str, str] | None = None) -> Iterator[None]:
    """Hold the lake lock of `root` for the block; on a URI root (hdfs://, s3a://, ...), log that it is not locked."""
    path = local_root(root)
    if path is None:
        logger.info("lake %s is not a local path: no lake lock (run one writer at a time; Delta refuses a "
                    "conflicting commit)", root)
        yield
        return
    with LakeLock(path, command, wait_seconds=wait_seconds, ids=ids):
        yield
