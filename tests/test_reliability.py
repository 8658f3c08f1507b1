"""Reliability: nothing lost, nothing leaked, failures that say what to do (issue 20).

Where each guarantee is tested:

- **Kill points.** A run stopped between two stages of an increment, rerun, ends with the same
  tables as an uninterrupted run: tests/test_increment.py
  (test_a_killed_run_rerun_ends_as_if_it_never_failed). A real `kill -9` of a whole CLI process
  group (Python driver and Spark JVM) mid-ingest: here (test_a_killed_run_leaves_its_temporary_
  folder_to_the_next_run): the next run takes over the dead run's lock, removes its temporary
  folder (Spark shuffle files, checkpoints) and loads the batch in full. A spark-submit job's run
  folder is gone when it ends: tests/test_cluster_submit.py.
- **Concurrent runs.** Two processes on one lake serialise or the second exits 9 having written
  nothing; a dead holder's lock is taken over; a failing command releases the lock:
  tests/test_lock.py.
- **Bad input.** The corpus of malformed extracts (encodings, invalid coded values, broken
  files and headers, symlink loops): every row ends in silver or in rejects with a reason, or the
  command stops with a clear exit code naming the file: tests/test_bad_input.py.
- **Hostile ids.** Batch ids, run ids and sources with quotes, spaces, `%`, unicode or SQL text
  are refused (exit 2) before any table is touched, and slices are column expressions:
  tests/test_ids.py.
- **Honest failures.** An unexpected failure's stack trace goes to an owner-only file, a dead
  JVM exits 8: tests/test_ids.py (test_an_unexpected_failure_names_its_trace_file_and_a_dead_jvm_says_so).
- **Damaged tables.** A truncated commit file or a commit missing from the middle of a table's
  Delta log stops `padan increment` / `padan link` with exit 7 naming the table, before any table
  changes: here (test_a_damaged_table_stops_a_writing_command_before_it_writes); garbled, empty,
  cut-at-a-line-end commits, a torn checkpoint and a log without commits over data files, locally
  and through Hadoop's file system, with no Spark job: test_damage_the_check_finds_and_what_it_costs.
- **Personal data at rest.** Owner-only files and limited Delta statistics: tests/test_privacy.py.
  The canary scan: here (test_no_canary_outside_the_tables_that_hold_personal_data): every NIK,
  KK number, name, phone and e-mail of the shared pipeline lake's input extracts is looked for in
  the command's log and output, ops.runs / ops.quality / ops.evaluations, the HTML report, the
  model JSON, every Delta log, the lake's temporary and checkpoint folders after the run, and the
  system temp folder's padan files.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from padan.lakecheck import COMMIT, CHECKPOINT, HadoopFiles, check_lake, check_table, table_folders
from padan.errors import StateError
from padan.lock import LOCK_NAME
from padan.scratch import OWNER_NAME, TMP_NAME, open_run_folder, sweep
from tests.conftest import FIXTURE_EXTRACTS

REPO = Path(__file__).resolve().parents[1]
PIPELINE_EXTRACTS = FIXTURE_EXTRACTS / "pipeline"
ENV = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1",
       "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")])}


def _cli(*args: str, lake: Path, cwd: Path, env: dict | None = None, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "padan.cli", *args, "--env", "base", "--conf-dir", str(REPO / "conf"),
                             "--lake", str(lake)], cwd=cwd, env={**ENV, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _log_versions(lake: Path) -> dict[str, tuple[int, ...]]:
    """Every table's commit versions, read off its Delta log folder (no Spark)."""
    out = {}
    for layer in ("bronze", "silver", "gold", "ops"):
        for log in sorted((lake / layer).glob("*/_delta_log")):
            out[f"{layer}.{log.parent.name}"] = tuple(sorted(int(m.group(1)) for p in log.iterdir()
                                                             if (m := COMMIT.match(p.name))))
    return out


# ---------------------------------------------------------------- canaries

NAME_TOKEN = re.compile(r"[A-Z]+")


def _name_key(value: str) -> tuple[str, ...]:
    return tuple(NAME_TOKEN.findall(value.upper()))


def canaries() -> dict[str, set]:
    """Every NIK, KK number, phone, e-mail and name of the pipeline extracts. Names: the whole name
    and every tail of two or more of its words (a cleaned name drops leading titles: `HJ. DWI
    HANDAYANI` is also looked for as `DWI HANDAYANI`); one-word names are left out, as they match
    ordinary words, as are names with a word shorter than three letters (initials)."""
    out: dict[str, set] = {"nik": set(), "phone": set(), "email": set(), "name": set()}
    columns = {"p3ke": {"nik": ["nik", "no_kk"], "name": ["nama"]},
               "prakerja": {"nik": ["nik", "no_kk"], "name": ["nama_lengkap"], "phone": ["no_hp"], "email": ["email"]}}
    for source, kinds in columns.items():
        for path in sorted((PIPELINE_EXTRACTS / source).glob("*.csv")):
            with open(path, newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    for kind, cols in kinds.items():
                        for col in cols:
                            v = (row.get(col) or "").strip()
                            if not v:
                                continue
                            if kind == "nik":
                                digits = re.sub(r"\D", "", v)
                                if len(digits) >= 10 and len(set(digits)) > 2:     # not a placeholder
                                    out["nik"].add(digits)
                            elif kind == "phone":
                                digits = re.sub(r"\D", "", v)
                                if len(digits) >= 9 and len(set(digits)) > 2:
                                    national = digits[2:] if digits.startswith("62") else digits.lstrip("0")
                                    out["phone"].update({digits, "0" + national, "62" + national, national})
                            elif kind == "email":
                                out["email"].add(v.lower())
                            else:
                                words = _name_key(v)
                                out["name"].update(tail for i in range(len(words) - 1)
                                                   if min(map(len, tail := words[i:])) >= 3)
    return out


def find_canaries(text: str, marks: dict[str, set]) -> dict[str, int]:
    """How many distinct canaries of each kind occur in `text`."""
    hits: dict[str, int] = {}
    digits = set(re.findall(r"\d+", text))
    for kind in ("nik", "phone"):
        n = len(digits & marks[kind])
        if n:
            hits[kind] = n
    emails = {e.lower() for e in re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", text)}
    if n := len(emails & marks["email"]):
        hits["email"] = n
    words = NAME_TOKEN.findall(text.upper())
    grams = {tuple(words[i:i + k]) for k in range(2, 7) for i in range(len(words) - k + 1)}
    if n := len(grams & marks["name"]):
        hits["name"] = n
    return hits


def test_the_canary_finder_finds_what_it_looks_for():
    marks = canaries()
    assert len(marks["nik"]) > 3000 and len(marks["name"]) > 500 and marks["phone"] and marks["email"]
    nik, email = sorted(marks["nik"])[0], sorted(marks["email"])[0]
    name = " ".join(sorted(marks["name"])[0])
    text = f'{{"x": "{nik}", "y": "<b>{name.lower()}</b>", "z": "{email.upper()}"}}'
    assert set(find_canaries(text, marks)) == {"nik", "name", "email"}
    assert find_canaries("JAWA TENGAH 3371 KOTA SUMBERKIDUL desil 3", marks) == {}


# ---------------------------------------------------------------- kill -9 and the run folder

@pytest.mark.integration
def test_a_killed_run_leaves_its_temporary_folder_to_the_next_run(tmp_path):
    """`padan ingest` killed with SIGKILL (driver and JVM, as the OOM killer or a power cut would)
    once its Spark JVM is working leaves its lock and its run folder `<lake>/_tmp/<token>/`, with
    the JVM's shuffle and temp files in it (spark.local.dir). The next command takes the lock over,
    removes that folder (one log line with the count), loads the whole batch, and removes its own
    folder when it ends: no temporary file is left in the lake, and the logs carry no canary."""
    lake = tmp_path / "lake"
    env = {"PADAN_PRAKERJA_PATH": str(PIPELINE_EXTRACTS / "prakerja")}
    args = ["ingest", "--source", "prakerja", "--batch", "b1", "--run-date", "2026-11-28"]
    proc = _cli(*args, lake=lake, cwd=tmp_path, env=env, start_new_session=True)
    try:
        deadline, working = time.monotonic() + 240, None
        while time.monotonic() < deadline and proc.poll() is None:
            working = next(iter((lake / TMP_NAME).glob("*/spark/blockmgr-*")), None)
            if working is not None and (lake / "bronze").exists():
                break
            time.sleep(0.2)
        assert working is not None and proc.poll() is None, "the ingest ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        _, killed_err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    left = [p for p in (lake / TMP_NAME).iterdir()]
    assert len(left) == 1 and (left[0] / OWNER_NAME).exists() and (left[0] / "spark").is_dir()
    assert oct((left[0]).stat().st_mode & 0o777) == "0o700"
    assert json.loads((left[0] / OWNER_NAME).read_text())["pid"] == proc.pid
    assert (lake / LOCK_NAME).exists()                                     # the dead run's lock

    rerun = _cli(*args, lake=lake, cwd=tmp_path, env=env)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err[-3000:]
    assert "removed 1 temporary folder(s) left by runs that are no longer running" in err
    assert "taking over the lock" in err
    rows = sum(1 for _ in csv.DictReader(open(next((PIPELINE_EXTRACTS / "prakerja").glob("*.csv")), encoding="utf-8")))
    m = re.search(r"read=(\d+) standardised=(\d+) rejected=(\d+)", out)
    assert m and int(m.group(1)) == rows == int(m.group(2)) + int(m.group(3)), out
    assert list((lake / TMP_NAME).iterdir()) == [] and not (lake / LOCK_NAME).exists()
    assert not (lake / "_checkpoints").exists()
    assert find_canaries(killed_err + out + err, canaries()) == {}


def test_the_sweep_leaves_live_and_foreign_folders(tmp_path):
    base = tmp_path / TMP_NAME
    live, dead, foreign, unowned = (base / n for n in ("live", "dead", "foreign", "unowned"))
    for folder, owner in ((live, {"host": socket.gethostname(), "pid": os.getpid()}),
                          (dead, {"host": socket.gethostname(), "pid": _dead_pid()}),
                          (foreign, {"host": "another-host.invalid", "pid": _dead_pid()}),
                          (unowned, None)):
        (folder / "spark").mkdir(parents=True)
        if owner:
            (folder / OWNER_NAME).write_text(json.dumps(owner))
    assert sweep(str(tmp_path)) == 1                        # the ownerless one is too young to be a crash's
    assert sorted(p.name for p in base.iterdir()) == ["foreign", "live", "unowned"]
    old = time.time() - 3600
    os.utime(unowned, (old, old))
    assert sweep(str(tmp_path)) == 1 and sorted(p.name for p in base.iterdir()) == ["foreign", "live"]


def test_a_run_folder_is_private_says_whose_it_is_and_goes(tmp_path, caplog):
    (tmp_path / "_checkpoints" / "0b1c").mkdir(parents=True)          # left by a notebook session
    with caplog.at_level(logging.WARNING, logger="padan.scratch"):
        folder = open_run_folder(str(tmp_path), "link")
    assert folder.path.parent == tmp_path / TMP_NAME
    assert all(p.stat().st_mode & 0o777 == 0o700 for p in (folder.path, folder.path.parent))
    owner = json.loads((folder.path / OWNER_NAME).read_text())
    assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname() and owner["command"] == "link"
    assert "1 folder(s) in _checkpoints" in caplog.text
    (Path(folder.spark_local) / "blockmgr-1").mkdir(parents=True)
    folder.remove()
    assert list((tmp_path / TMP_NAME).iterdir()) == []


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ---------------------------------------------------------------- damaged tables (no Spark of their own)

@pytest.fixture(scope="module")
def lake_copy(pipeline_run, tmp_path_factory):
    """A fresh copy of the shared pipeline lake, per call (the shared lake stays as it is)."""
    ctx = pipeline_run[0]
    source = Path(ctx.lake.root)

    def make() -> Path:
        dest = tmp_path_factory.mktemp("lakecopy") / "lake"
        shutil.copytree(source, dest, ignore=shutil.ignore_patterns(LOCK_NAME, TMP_NAME))
        return dest
    return make


def _truncate_newest_commit(lake: Path, table: str) -> Path:
    log = lake / table.replace(".", "/", 1) / "_delta_log"
    newest = max((p for p in log.iterdir() if COMMIT.match(p.name)), key=lambda p: p.name)
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])
    return newest


def _remove_middle_commit(lake: Path) -> tuple[str, Path]:
    """Remove a commit that Delta needs from the first table with three commits or more: its
    checkpoints are dropped first (a valid log: Delta then replays every commit from version 0),
    so the outcome does not depend on where the shared lake's history put its checkpoints."""
    for table in ("ops.runs", "silver.persons", "gold.pairs", "ops.quality", "gold.clusters"):
        log = lake / table.replace(".", "/", 1) / "_delta_log"
        commits = sorted(int(m.group(1)) for p in log.iterdir() if (m := COMMIT.match(p.name)))
        if len(commits) >= 3 and commits[0] == 0:
            for p in list(log.iterdir()):
                if CHECKPOINT.match(p.name) or p.name.lstrip(".").startswith("_last_checkpoint") or (
                        p.name.startswith(".") and ".checkpoint." in p.name):
                    p.unlink()
            victim = log / f"{commits[len(commits) // 2]:020d}.json"
            victim.unlink()
            return table, victim
    raise AssertionError("no table of the pipeline lake has three commits")


@pytest.mark.integration
@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_a_damaged_table_stops_a_writing_command_before_it_writes(lake_copy, tmp_path, damage):
    """`padan increment` on a lake whose gold.clusters has a truncated newest commit, `padan link`
    on one with a commit missing from the middle of a log: exit 7, one message naming the table,
    its path and what to do, and not one table version changed (no lock, no run folder left)."""
    lake = lake_copy()
    if damage == "truncated":
        table, file = "gold.clusters", _truncate_newest_commit(lake, "gold.clusters")
        args = ["increment", "--source", "prakerja", "--batch", "b2", "--path", str(PIPELINE_EXTRACTS / "prakerja")]
    else:
        (table, file), args = _remove_middle_commit(lake), ["link"]
    before = _log_versions(lake)
    proc = _cli(*args, lake=lake, cwd=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 7, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"padan {args[0]}: table {table} at {lake / table.replace('.', '/', 1)} is damaged")
    assert file.name in last and "Nothing was written" in last and "restore" in last
    assert "Traceback" not in err and "Py4J" not in err
    assert _log_versions(lake) == before
    assert not (lake / LOCK_NAME).exists() and not (lake / TMP_NAME).exists()
    assert "padan_result" not in out


@pytest.mark.integration
def test_damage_the_check_finds_and_what_it_costs(lake_copy, spark):
    """The lake check reads files only: on the intact pipeline lake it passes with no Spark job
    (locally, and through Hadoop's file system as for a lake behind a URI); a garbled line, an empty
    commit, a torn checkpoint and a log without commits over data files are each reported."""
    lake = lake_copy()
    tables = check_lake(str(lake))
    assert tables == len(_log_versions(lake)) >= 12
    sc = spark.sparkContext
    sc.setJobGroup("lakecheck", "lake check through Hadoop")
    try:
        hadoop = HadoopFiles(spark)
        assert [check_table(hadoop, t, f) for t, f in table_folders(hadoop, f"file:{lake}")] == [None] * tables
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    assert list(sc.statusTracker().getJobIdsForGroup("lakecheck")) == []

    def damaged(mutate) -> str:
        copy = lake_copy()
        mutate(copy)
        with pytest.raises(StateError) as info:
            check_lake(str(copy))
        return str(info.value)

    def garble(copy: Path) -> None:
        f = _truncate_newest_commit(copy, "silver.persons")
        f.write_bytes(b'{"commitInfo":{}}\n{not json}\n')
    message = damaged(garble)
    assert "silver.persons" in message and "not valid JSON at line 2" in message

    def cut_at_a_line_end(copy: Path) -> None:        # still valid JSON lines: only the checksum file tells
        log = copy / "silver" / "persons" / "_delta_log"
        newest = max((p for p in log.iterdir() if COMMIT.match(p.name)), key=lambda p: p.name)
        lines = [x for x in newest.read_bytes().split(b"\n") if x]
        assert len(lines) >= 2                        # commitInfo and at least one action
        newest.write_bytes(b"\n".join(lines[:-1]) + b"\n")
    message = damaged(cut_at_a_line_end)
    assert "silver.persons" in message and "does not match its checksum file" in message

    def empty(copy: Path) -> None:
        _truncate_newest_commit(copy, "gold.pairs").write_bytes(b"")
    message = damaged(empty)
    assert "gold.pairs" in message and "is empty" in message

    # A checkpoint made by Delta: the commits before it are no longer needed (Delta's log cleanup
    # removes them), a torn checkpoint is damage.
    def checkpoint(copy: Path) -> Path:
        folder = copy / "ops" / "runs"
        spark._jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, str(folder)).checkpoint()
        log = folder / "_delta_log"
        return max((p for p in log.iterdir() if CHECKPOINT.match(p.name)), key=lambda p: p.name)

    cleaned = lake_copy()
    cp = checkpoint(cleaned)
    (cp.parent / f"{int(cp.name[:20]) - 1:020d}.json").unlink()
    assert check_lake(str(cleaned)) == tables
    assert [check_table(hadoop, t, f) for t, f in table_folders(hadoop, f"file:{cleaned}")] == [None] * tables

    def torn_checkpoint(copy: Path) -> None:
        cp = checkpoint(copy)
        cp.write_bytes(cp.read_bytes()[:100])
    message = damaged(torn_checkpoint)
    assert "ops.runs" in message and "newest checkpoint is not a complete Parquet file" in message
    torn_checkpoint(cleaned)
    found = [d for t, f in table_folders(hadoop, f"file:{cleaned}") if (d := check_table(hadoop, t, f))]
    assert [d.table for d in found] == ["ops.runs"]
    assert found[0].problem == "its newest checkpoint cannot be read (ChecksumException: changed or cut after it was written)"

    def no_log(copy: Path) -> None:
        for p in (copy / "gold" / "targeting" / "_delta_log").iterdir():
            p.unlink() if p.is_file() else shutil.rmtree(p)
    message = damaged(no_log)
    assert "gold.targeting" in message and "no commit file" in message


# ---------------------------------------------------------------- canary scan of the shared pipeline lake

def _rows_text(spark, lake: Path, table: str) -> str:
    df = spark.read.format("delta").load(str(lake / table.replace(".", "/", 1)))
    return "\n".join(map(repr, df.collect()))


@pytest.mark.integration
def test_no_canary_outside_the_tables_that_hold_personal_data(pipeline_run, lake_copy, spark, capsys):
    """Runs `padan report` (in this process: the lake check, the marts stage, found done, and the
    HTML report written again) on a copy of the shared pipeline lake with its log captured, then
    looks for every canary (see `canaries`) by location; the log of a whole ingest is scanned by
    the kill test above. Not scanned, as they hold personal data by design (README "Personal data at rest"):
    bronze, silver.persons, gold.* tables' rows and ops.rejects (raw text of rejected rows)."""
    from padan import cli

    marks = canaries()
    lake = lake_copy()
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setLevel(logging.DEBUG)
    padan_log = logging.getLogger("padan")
    padan_log.addHandler(handler)
    try:
        code = cli.main(["report", "--env", "base", "--conf-dir", str(REPO / "conf"), "--lake", str(lake)])
    finally:
        padan_log.removeHandler(handler)
    printed = capsys.readouterr()
    assert code == 0, printed.err[-2000:]

    locations: dict[str, str] = {"log and output of `padan report`": log.getvalue() + printed.out + printed.err}
    for table in ("ops.runs", "ops.quality", "ops.evaluations"):
        if (lake / table.replace(".", "/", 1) / "_delta_log").exists():
            locations[table] = _rows_text(spark, lake, table)
    reports = sorted((lake / "reports").rglob("*.html"))
    models = sorted((lake / "models").glob("*.json"))
    assert reports and models
    locations["HTML report"] = "\n".join(p.read_text(encoding="utf-8") for p in reports)
    locations["model JSON"] = "\n".join(p.read_text(encoding="utf-8") for p in models)
    locations["Delta logs"] = "\n".join(p.read_text(encoding="utf-8", errors="replace")
                                        for p in sorted(lake.glob("*/*/_delta_log/*.json")))
    temp_files = [p for name in (TMP_NAME, "_checkpoints") for p in (lake / name).rglob("*") if p.is_file()]
    locations["lake temp and checkpoint folders"] = "\n".join(p.name for p in temp_files) + "\n".join(
        p.read_bytes().decode("latin-1") for p in temp_files)
    session_start = spark.sparkContext.startTime / 1000
    ours = [p for p in Path(tempfile.gettempdir()).glob("padan*") if p.is_file() and p.stat().st_mtime >= session_start]
    locations["system temp padan files"] = "\n".join(p.read_bytes().decode("latin-1") for p in ours)

    hits = {where: found for where, text in locations.items() if (found := find_canaries(text, marks))}
    sizes = {where: len(text) for where, text in locations.items()}
    with capsys.disabled():
        print(f"\ncanary scan: {sum(map(len, marks.values()))} canaries, characters scanned per location {sizes}, "
              f"hits {hits or 'none'}")
    assert temp_files == []
    assert hits == {}


def test_a_local_session_puts_its_temporary_files_in_the_run_folder(tmp_path):
    """spark.local.dir and the driver's java.io.tmpdir go to the run folder for a local master; a
    cluster master keeps its own, and so does a folder name Spark would split (a comma, a blank)."""
    from padan.spark import local_session_conf

    def conf(master: str, folder: Path) -> dict:
        return local_session_conf(master=master, app_name="t", driver_memory="1g", ui_enabled=False,
                                  shuffle_partitions=2, local_dir=str(folder))
    ours = conf("local[2]", tmp_path / "run" / "spark")
    assert ours["spark.local.dir"] == str(tmp_path / "run" / "spark")
    assert f"-Djava.io.tmpdir={tmp_path / 'run' / 'spark'}" in ours["spark.driver.extraJavaOptions"]
    assert "spark.local.dir" not in conf("spark://master:7077", tmp_path / "c")
    assert "spark.local.dir" not in conf("local[2]", tmp_path / "a,b")
    assert "java.io.tmpdir" not in conf("local[2]", tmp_path / "a b")["spark.driver.extraJavaOptions"]
