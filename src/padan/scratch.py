"""The per-run temporary folder inside the lake: `<lake root>/_tmp/<run token>/`.

A `padan` command (the CLI or a spark-submit job, on a local lake) puts what it only needs while
it runs there, since all of it holds copies of personal data:

- `checkpoints/`: the Spark checkpoint folder (Splink's lineage-breaking Parquet copies of scored
  pairs and name frequencies, RDD checkpoints), unless `lake.checkpoint_dir` names one;
- `spark/`: `spark.local.dir` of a local-mode session padan starts itself (shuffle and spill
  files, broadcast blocks, PySpark's temp files), and the driver JVM's `java.io.tmpdir`. A session
  that spark-submit, Databricks or a notebook started keeps its own; on a cluster the executors
  write shuffle files to their own local folders (`SPARK_LOCAL_DIRS`, YARN's local dirs), outside
  the lake, and the cluster's node cleanup applies.

The folder is made owner-only (0700) and records who made it (`owner.json`: host, process id,
command, start time; nothing personal). It is removed when the command ends, also when it fails.
A folder left by a run that was killed (its process is no longer running on this host) is removed
by the next command that starts on the lake, with one log line giving the count. A folder of a
process on another host, or of one still running, is left alone.

Lakes behind a URI (s3a://, abfss://) get no run folder: checkpoints go to `lake.checkpoint_dir`
(or `<root>/_checkpoints`) and the session's own folder there is removed when the command ends.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from padan.lock import _pid_alive, local_root

logger = logging.getLogger(__name__)

TMP_NAME = "_tmp"
OWNER_NAME = "owner.json"
LEGACY_CHECKPOINTS = "_checkpoints"    # lake.checkpoint_dir's default, which sessions outside the CLI still use
UNOWNED_GRACE_SECONDS = 60     # a folder without a readable owner file is a crashed run's once this old


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @property
    def checkpoints(self) -> str:
        return str(self.path / "checkpoints")

    @property
    def spark_local(self) -> str:
        return str(self.path / "spark")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self.path.exists():                                   # pragma: no cover -- e.g. a file in use elsewhere
            logger.warning("could not remove the run's temporary folder %s", self.path)
        else:
            logger.debug("removed the run's temporary folder")


def _stale(folder: Path, host: str) -> bool:
    """Made by a process of this host that is no longer running (or ownerless and old enough)."""
    try:
        owner = json.loads((folder / OWNER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        owner = None
    if not isinstance(owner, dict):
        try:
            return time.time() - folder.stat().st_mtime > UNOWNED_GRACE_SECONDS
        except FileNotFoundError:
            return False
    pid = owner.get("pid")
    return owner.get("host") == host and isinstance(pid, int) and not _pid_alive(pid)


def sweep(root: str) -> int:
    """Remove the run folders under `<root>/_tmp` left by runs that are no longer running; the count."""
    path = local_root(root)
    base = None if path is None else path / TMP_NAME
    if base is None or not base.is_dir():
        return 0
    host, removed = socket.gethostname(), 0
    for folder in sorted(base.iterdir()):
        if folder.is_dir() and _stale(folder, host):
            shutil.rmtree(folder, ignore_errors=True)
            removed += not folder.exists()
    if removed:
        logger.warning("lake %s: removed %d temporary folder(s) left by runs that are no longer running", root,
                       removed)
    return removed


def open_run_folder(root: str, command: str) -> RunFolder | None:
    """Sweep what crashed runs left, then make this run's folder (None for a lake behind a URI)."""
    path = local_root(root)
    if path is None:
        return None
    sweep(root)
    legacy = path / LEGACY_CHECKPOINTS
    if legacy.is_dir() and (left := sum(1 for _ in legacy.iterdir())):
        logger.warning("lake %s: %d folder(s) in %s, left by sessions started outside the padan command (notebooks) "
                       "or by older padan versions, hold copies of personal data; remove them when no notebook uses "
                       "the lake", root, left, LEGACY_CHECKPOINTS)
    base = path / TMP_NAME
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    folder = base / uuid.uuid4().hex
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "command": command,
             "started_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    fd = os.open(folder / OWNER_NAME, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(owner, fh, sort_keys=True)
    logger.debug("run folder %s", folder)
    return RunFolder(folder)
