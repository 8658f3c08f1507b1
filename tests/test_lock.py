"""The lake lock: two processes on one lake serialise or the second fails cleanly, before writing."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from padan.errors import LakeBusyError
from padan.lock import LOCK_NAME, LakeLock

REPO = Path(__file__).resolve().parents[1]
CTX = mp.get_context("spawn")       # fresh interpreters: no Spark, no inherited state


def _hold(root: str, held, release, marker: str) -> None:
    """Child A: take the lock, say so, hold it until told, mark that it is letting go, release."""
    with LakeLock(root, "increment", ids={"source": "prakerja", "batch": "prakerja-b1"}):
        held.set()
        release.wait(120)
        Path(marker).write_text("A is done")


def _wait_for(root: str, wait_seconds: float, marker: str, out) -> None:
    """Child B: take the lock, waiting up to `wait_seconds`; report whether A had finished by then."""
    try:
        with LakeLock(root, "report", wait_seconds=wait_seconds, poll_seconds=0.2):
            out.put(("acquired", Path(marker).exists()))
    except LakeBusyError as exc:
        out.put(("busy", str(exc)))


def test_a_second_process_fails_fast_or_waits_its_turn(tmp_path):
    root, marker = tmp_path / "lake", tmp_path / "a-done"
    held, release, out = CTX.Event(), CTX.Event(), CTX.Queue()
    a = CTX.Process(target=_hold, args=(str(root), held, release, str(marker)))
    a.start()
    try:
        assert held.wait(60)
        holder = json.loads((root / LOCK_NAME).read_text())
        assert holder["pid"] == a.pid and holder["command"] == "increment" and holder["batch"] == "prakerja-b1"
        assert set(holder) == {"host", "pid", "command", "source", "batch", "started_at", "token"}
        # Without waiting: fails at once, naming the lake and the holder.
        b = CTX.Process(target=_wait_for, args=(str(root), 0, str(marker), out))
        b.start()
        kind, message = out.get(timeout=60)
        b.join(60)
        assert kind == "busy"
        assert str(root) in message and f"pid {a.pid}" in message and "'increment'" in message
        assert "prakerja-b1" in message
        # Waiting: gets the lock once A has released it, never while A holds it.
        c = CTX.Process(target=_wait_for, args=(str(root), 120, str(marker), out))
        c.start()
        release.set()
        kind, a_was_done = out.get(timeout=120)
        c.join(60)
        assert (kind, a_was_done) == ("acquired", True)
    finally:
        release.set()
        a.join(60)
    assert a.exitcode == 0 and not (root / LOCK_NAME).exists()


def test_the_cli_exits_9_before_writing_anything(tmp_path):
    """`padan ingest` on a lake another process holds: exit 9 with one message naming the lake and
    the holder; the lake holds nothing but the lock file, and the holder keeps its lock."""
    lake = tmp_path / "lake"
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYTHONPATH": os.pathsep.join(
        [str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    with LakeLock(lake, "pipeline") as mine:
        proc = subprocess.run([sys.executable, "-m", "padan.cli", "ingest", "--env", "base", "--conf-dir",
                               str(REPO / "conf"), "--lake", str(lake)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 9, proc.stderr[-2000:]
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith(f"padan ingest: lake {lake} is locked by 'pipeline'") and f"pid {os.getpid()}" in last
        assert "Traceback" not in proc.stderr and proc.stdout == ""
        assert sorted(p.name for p in lake.iterdir()) == [LOCK_NAME]
        assert json.loads((lake / LOCK_NAME).read_text())["token"] == mine.info["token"]
    assert list(lake.iterdir()) == []


def test_a_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    root = tmp_path / "lake"
    root.mkdir()
    (root / LOCK_NAME).write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "command": "increment",
                                              "started_at": "2026-11-30T01:00:00Z", "token": "old"}))
    with caplog.at_level("WARNING", logger="padan.lock"):
        with LakeLock(root, "increment") as lock:
            assert json.loads((root / LOCK_NAME).read_text())["token"] == lock.info["token"]
    assert any(f"pid {dead.pid}" in r.getMessage() and "taking over" in r.getMessage() for r in caplog.records)
    assert not (root / LOCK_NAME).exists()
    # A lock held on another host is not taken over: its process cannot be checked from here.
    (root / LOCK_NAME).write_text(json.dumps({"host": "another-host.invalid", "pid": dead.pid, "command": "link"}))
    with pytest.raises(LakeBusyError, match="another-host.invalid"):
        LakeLock(root, "increment").acquire()
    assert json.loads((root / LOCK_NAME).read_text())["host"] == "another-host.invalid"


def test_the_lock_is_released_when_the_run_fails(tmp_path):
    root = tmp_path / "lake"
    with pytest.raises(RuntimeError, match="boom"):
        with LakeLock(root, "link"):
            assert (root / LOCK_NAME).exists()
            raise RuntimeError("boom")
    assert not (root / LOCK_NAME).exists()
    LakeLock(root, "link").acquire().release()       # free again


def test_a_failing_cli_command_releases_the_lock(spark, tmp_path):
    """`padan link` on an empty lake takes the lock, fails (no model: exit 6) and lets it go; the
    read-only `padan explain` takes no lock at all, even on a locked lake."""
    from padan.cli import main

    lake = tmp_path / "lake"
    common = ["--env", "base", "--conf-dir", str(REPO / "conf"), "--lake", str(lake)]
    assert main(["link", *common]) == 6
    assert not (lake / LOCK_NAME).exists()
    with LakeLock(lake, "pipeline"):
        assert main(["explain", "p3ke:1", "prakerja:1", *common]) != 9


def test_only_local_roots_are_locked(tmp_path, caplog):
    from padan.lock import local_root, lock_for

    assert local_root(f"file://{tmp_path}") == local_root(f"file:{tmp_path}") == local_root(str(tmp_path)) == tmp_path
    assert local_root("s3a://bucket/lake") is None and local_root("hdfs://nn/lake") is None
    with lock_for(f"file://{tmp_path}/lake", "link"):
        assert (tmp_path / "lake" / LOCK_NAME).exists()
    with caplog.at_level("INFO", logger="padan.lock"):
        with lock_for("s3a://bucket/lake", "link"):
            pass
    assert any("not a local path: no lake lock" in r.getMessage() for r in caplog.records)
