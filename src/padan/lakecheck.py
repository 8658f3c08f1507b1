"""Damaged Delta tables are found before a command writes anything (exit 7).

A Delta table is its transaction log: `_delta_log/<version, 20 digits>.json`, one action per
line, plus a Parquet checkpoint every few commits. A truncated or garbled commit file, or one
missing in the middle of the chain, makes Delta fail when it next rebuilds that table's state,
which may be halfway through a run that has already written other tables. So every writing
command checks, after taking the lake lock and before its Spark session starts, every padan table
of the lake (`<root>/{bronze,silver,gold,ops}/<table>/_delta_log`):

- the commits Delta would read (those after the newest complete checkpoint, or from version 0
  when there is none) are all there, without a gap;
- each of those commit files parses as JSON, line by line, every line one action object, and a
  table that starts at version 0 has its `protocol` and `metaData` there;
- the newest checkpoint's Parquet files start and end with Parquet's magic bytes;
- a `_delta_log` without any commit or checkpoint sits in a folder with no data files;
- each of those files matches the checksum file Hadoop's file system wrote beside it
  (`.<name>.crc`, which Hadoop verifies when Delta reads the file), where there is one.

It reads files only: no Spark job, no JVM for a local lake (a lake behind a URI is read through
Hadoop's file system once the session is up), a few files per table (Delta checkpoints every 10
commits). On damage it raises `StateError` (exit 7) naming the table, its path, the file and what
is wrong, never the file's content (commit files hold statistics and partition values).
padan does not repair a table. Limits: a commit file cut exactly at a line end still parses (Delta
reads it as a commit with fewer actions) and is found only by its checksum file, which local and
HDFS lakes have and object stores do not; files older than the newest checkpoint are not read (Delta
does not read them either); tables addressed through a catalog (`lake.catalog`) are not checked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Iterable

from padan.errors import StateError
from padan.lock import local_root

logger = logging.getLogger(__name__)

LAYERS = ("bronze", "silver", "gold", "ops")
COMMIT = re.compile(r"^(\d{20})\.json$")
# classic (`<v>.checkpoint.parquet`), multi-part (`<v>.checkpoint.<part>.<parts>.parquet`) and
# v2 (`<v>.checkpoint.<uuid>.json|parquet`) checkpoint files
CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint(?:\.(\d{10})\.(\d{10}))?(?:\.([0-9a-fA-F-]{36}))?\.(parquet|json)$")
PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class Entry:
    name: str
    is_dir: bool
    size: int


class LocalFiles:
    """The file operations the check needs, on a local folder."""

    def list(self, path: str) -> list[Entry] | None:
        try:
            with os.scandir(path) as it:
                return [Entry(e.name, e.is_dir(), 0 if e.is_dir() else e.stat().st_size) for e in it]
        except FileNotFoundError:
            return None

    def read(self, path: str) -> bytes:
        with open(path, "rb") as fh:
            return fh.read()

    def ends(self, path: str, n: int) -> tuple[bytes, bytes]:
        with open(path, "rb") as fh:
            head = fh.read(n)
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - n))
            return head, fh.read(n)

    def checksum_ok(self, path: str, data: bytes | None = None) -> bool:
        """Whether the file matches the checksum file Hadoop's local file system wrote beside it
        (`.<name>.crc`: CRC32 of each 512-byte chunk), which Hadoop itself verifies on every read;
        True when there is none."""
        folder, name = os.path.split(path)
        try:
            with open(os.path.join(folder, f".{name}.crc"), "rb") as fh:
                crc = fh.read()
        except FileNotFoundError:
            return True
        if len(crc) < 8 or crc[:4] != b"crc\0":
            return False
        chunk = struct.unpack(">i", crc[4:8])[0]
        if chunk <= 0:
            return False
        data = self.read(path) if data is None else data
        sums = [zlib.crc32(data[i:i + chunk]) for i in range(0, len(data), chunk)]
        return crc[8:] == b"".join(struct.pack(">I", v) for v in sums)

    @staticmethod
    def join(*parts: str) -> str:
        return os.path.join(*parts)


class HadoopFiles:
    """The same through Hadoop's FileSystem of a running Spark session (lakes behind a URI)."""

    def __init__(self, spark):
        self.jvm = spark.sparkContext._jvm
        self.conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _fs(self, path: str):
        p = self.jvm.org.apache.hadoop.fs.Path(path)
        return p.getFileSystem(self.conf), p

    def list(self, path: str) -> list[Entry] | None:
        fs, p = self._fs(path)
        if not fs.exists(p):
            return None
        return [Entry(str(s.getPath().getName()), bool(s.isDirectory()), int(s.getLen())) for s in fs.listStatus(p)]

    def read(self, path: str) -> bytes:
        fs, p = self._fs(path)
        stream = fs.open(p)
        try:
            return bytes(self.jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()

    def ends(self, path: str, n: int) -> tuple[bytes, bytes]:
        fs, p = self._fs(path)
        size = int(fs.getFileStatus(p).getLen())
        io = self.jvm.org.apache.commons.io.IOUtils
        stream = fs.open(p)
        try:
            head = bytes(io.toByteArray(stream, min(n, size)))
            stream.seek(max(0, size - n))
            return head, bytes(io.toByteArray(stream, min(n, size)))
        finally:
            stream.close()

    @staticmethod
    def checksum_ok(path: str, data: bytes | None = None) -> bool:
        return True                 # Hadoop verifies checksums as it reads (ChecksumException: see _unreadable)

    @staticmethod
    def join(*parts: str) -> str:
        return "/".join(p.rstrip("/") for p in parts)


# Java exceptions that mean a file's bytes are damaged, not that the store is unreachable (those
# stay failures of their own: exit 1, retried).
_DAMAGED_READS = ("org.apache.hadoop.fs.ChecksumException", "java.io.EOFException")


def _unreadable(exc: Exception) -> str | None:
    java = getattr(exc, "java_exception", None)
    name = str(java.getClass().getName()) if java is not None else None
    return f"cannot be read ({name.rsplit('.', 1)[-1]}: changed or cut after it was written)" \
        if name in _DAMAGED_READS else None


@dataclass(frozen=True)
class Damage:
    table: str          # "<layer>.<name>"
    path: str           # the table's folder
    file: str | None    # the damaged or missing log file
    problem: str
    newest_commit: bool = False   # the damaged file is the table's newest commit, not its first


def table_folders(files, root: str) -> Iterable[tuple[str, str]]:
    """(name, folder) of every Delta table folder of the lake's layers."""
    for layer in LAYERS:
        for entry in sorted(files.list(files.join(root, layer)) or [], key=lambda e: e.name):
            if entry.is_dir and not entry.name.startswith(("_", ".")):
                folder = files.join(root, layer, entry.name)
                yield f"{layer}.{entry.name}", folder


def check_table(files, table: str, folder: str) -> Damage | None:
    """The first problem found in one table's log, or None (also when the folder is no Delta table)."""
    log = files.join(folder, "_delta_log")
    entries = files.list(log)
    if entries is None:
        return None                                     # not (yet) a Delta table
    commits, checkpoints = {}, {}
    for e in entries:
        if e.is_dir:
            continue
        if m := COMMIT.match(e.name):
            commits[int(m.group(1))] = e
        elif m := CHECKPOINT.match(e.name):
            checkpoints.setdefault(int(m.group(1)), []).append((e, m))
    if not commits and not checkpoints:
        data = [e.name for e in files.list(folder) or [] if not e.name.startswith(("_", "."))]
        if data:
            return Damage(table, folder, None, "its Delta log has no commit file, but the table folder holds data")
        return None
    start = 0
    newest = max([*commits, *checkpoints])
    for version in sorted(checkpoints, reverse=True):
        parts = checkpoints[version]
        expected = {int(m.group(3)) for _, m in parts if m.group(3)}
        if expected and len(parts) != expected.pop():
            continue                                    # an incomplete multi-part checkpoint: Delta skips it
        for e, m in parts:
            if m.group(5) == "parquet":
                path = files.join(log, e.name)
                try:
                    head, tail = files.ends(path, len(PARQUET_MAGIC))
                except Exception as exc:  # noqa: BLE001 -- only a damaged file's error becomes Damage
                    if (problem := _unreadable(exc)) is None:
                        raise
                    return Damage(table, folder, path, f"its newest checkpoint {problem}")
                if e.size < 2 * len(PARQUET_MAGIC) + 4 or head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
                    return Damage(table, folder, path, "its newest checkpoint is not a complete Parquet file")
                if not files.checksum_ok(path):
                    return Damage(table, folder, path, "its newest checkpoint does not match its checksum file "
                                                       "(changed or cut after it was written)")
        start = version + 1
        break
    for version in range(start, newest + 1):
        if version not in commits:
            missing = files.join(log, f"{version:020d}.json")
            return Damage(table, folder, missing, f"commit file of version {version} is missing from its Delta log "
                                                  f"(versions {start}-{newest} are needed)")
        path = files.join(log, commits[version].name)
        try:
            data = files.read(path)
        except Exception as exc:  # noqa: BLE001 -- only a damaged file's error becomes Damage
            if (problem := _unreadable(exc)) is None:
                raise
        else:
            problem = _commit_problem(data, version == 0 and start == 0)
            if problem is None and not files.checksum_ok(path, data):
                problem = "does not match its checksum file (changed or cut after it was written)"
        if problem:
            return Damage(table, folder, path, f"commit file of version {version} {problem}",
                          newest_commit=version == newest and version > 0)
    return None


def _commit_problem(data: bytes, first: bool) -> str | None:
    """What is wrong with one commit file's bytes (no content quoted), or None."""
    if not data.strip():
        return "is empty"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    kinds = set()
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            action = json.loads(line)
        except ValueError:
            return f"is not valid JSON at line {n} (truncated or garbled)"
        if not isinstance(action, dict) or len(action) != 1:
            return f"has no Delta action at line {n}"
        kinds.update(action)
    if first and not {"protocol", "metaData"} <= kinds:
        return "lacks the table's protocol or metadata"
    return None


def check_lake(root: str, *, spark=None, catalog: str | None = None) -> int:
    """Check every Delta table of the lake at `root`; raise StateError (exit 7) on the first damaged
    one; return the number of tables checked. A local root is read with plain file operations, a
    URI root through `spark`'s Hadoop file system (skipped, with a log line, without a session)."""
    if catalog:
        logger.info("lake tables are addressed through catalog %s: their Delta logs are not checked", catalog)
        return 0
    path = local_root(root)
    if path is not None:
        files, where = LocalFiles(), str(path)
    elif spark is not None:
        files, where = HadoopFiles(spark), root
    else:
        return 0
    t = time.monotonic()
    n = 0
    for table, folder in table_folders(files, where):
        n += 1
        damage = check_table(files, table, folder)
        if damage is not None:
            raise DamagedTableError(damage)
    logger.info("lake check: %d table(s), Delta logs intact (%.2fs)", n, time.monotonic() - t)
    return n


class DamagedTableError(StateError):
    """A lake table's Delta log is damaged: nothing was written (exit 7, not retried)."""

    def __init__(self, damage: Damage):
        self.damage = damage
        where = f" ({damage.file})" if damage.file else ""
        newest = ("; as the damaged file is the table's newest commit, moving it out of _delta_log instead "
                  "returns the table to its previous version, and the rerun redoes what that commit held"
                  if damage.newest_commit else "")
        super().__init__(
            f"table {damage.table} at {damage.path} is damaged: {damage.problem}{where}. Nothing was written. "
            f"padan does not repair tables: restore the table's folder (at least its _delta_log) from a backup "
            f"or a storage snapshot, then rerun{newest}")
