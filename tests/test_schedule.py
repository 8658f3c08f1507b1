"""The daily schedule without Airflow or Spark: batch discovery, done markers, the job loop, the cron script.

The increment and report jobs are stand-ins that follow the contract of `padan increment`: exit 0
when done, exit 0 with one `{"padan_result": ...}` JSON line saying whether it was already processed, non-zero with one `padan <command>: ...` line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from padan import schedule
from padan.schedule import Batch, JobFailed, Settings

REPO = Path(__file__).resolve().parents[1]

STUB = """
import json, os, sys
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as f:
    f.write(json.dumps(args) + "\\n")
batch = args[args.index("--batch") + 1] if "--batch" in args else None
codes = json.loads(os.environ.get("STUB_CODES", "{}"))
code = codes.get(batch or args[0], 0)
if isinstance(code, list):            # a sequence of exit codes for successive calls
    n = sum(1 for line in open(os.environ["STUB_LOG"]) if json.loads(line) == args)
    code = code[min(n, len(code)) - 1]
if code == "already":
    print("increment p3ke: batch already processed")
    print(json.dumps({"padan_result": {"command": "increment", "status": "already_processed"}}))
    sys.exit(0)
if code == "says-already":            # text that only looks like the outcome: not read as one
    print("INFO something already processed by another component")
    sys.exit(0)
print(f"{args[0]} ok" if code == 0 else "spark noise before the failure")
if code:
    print(f"padan {args[0]}: source contract p3ke: missing column(s) ['nik']", file=sys.stderr)
    print("INFO ShutdownHookManager: Shutdown hook called", file=sys.stderr)
sys.exit(code)
"""


def land(landing: Path, source: str, batch: str, *files: str) -> Path:
    folder = landing / source / batch
    folder.mkdir(parents=True)
    for name in files or ("part-0.csv",):
        (folder / name).write_text("x\n")
    return folder


@pytest.fixture
def stub(tmp_path, monkeypatch):
    script = tmp_path / "stub.py"
    script.write_text(STUB)
    log = tmp_path / "calls.log"
    monkeypatch.setenv("STUB_LOG", str(log))
    monkeypatch.delenv("STUB_CODES", raising=False)

    def calls() -> list[list[str]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    settings = Settings(landing=str(tmp_path / "landing"), increment_cmd=(sys.executable, str(script), "increment"),
                        report_cmd=(sys.executable, str(script), "report"))
    (tmp_path / "landing").mkdir()
    return settings, calls


def test_landed_batches_are_ready_folders_in_name_order(tmp_path):
    landing = tmp_path / "landing"
    land(landing, "p3ke", "2026-11-28")
    land(landing, "p3ke", "2026-11-27")
    (landing / "p3ke" / "2026-11-29").mkdir()                      # still empty: not ready
    land(landing, "p3ke", "2026-11-30", "_SUCCESS", ".hidden")     # only markers: not ready without a marker rule
    land(landing, "p3ke", "_tmp_copy")                              # hidden / temporary folders
    land(landing, "p3ke", ".staging")
    land(landing, "p3ke", "bad name;rm")                            # unsafe name: skipped
    (landing / "p3ke" / "notes.txt").write_text("a file, not a batch")
    got = schedule.landed_batches(landing, "p3ke")
    assert [b.batch_id for b in got] == ["2026-11-27", "2026-11-28"]
    assert got[0] == Batch("p3ke", "2026-11-27", str(landing / "p3ke" / "2026-11-27"))
    assert schedule.landed_batches(landing, "prakerja") == []       # no folder for the source yet


def test_a_ready_marker_decides_when_one_is_set(tmp_path):
    landing = tmp_path / "landing"
    land(landing, "p3ke", "b1", "part-0.csv", "_SUCCESS")
    land(landing, "p3ke", "b2", "part-0.csv")                       # still being copied
    assert [b.batch_id for b in schedule.landed_batches(landing, "p3ke", ready_marker="_SUCCESS")] == ["b1"]


def test_pending_batches_leave_out_done_ones(tmp_path):
    landing = tmp_path / "landing"
    for b in ("b1", "b2"):
        land(landing, "p3ke", b)
    land(landing, "prakerja", "b1")
    settings = Settings(landing=str(landing), sources=("p3ke", "prakerja"))
    schedule.mark_done(settings.state, Batch("p3ke", "b1", "ignored"))
    pending = schedule.pending_batches(settings)
    assert list(pending) == ["p3ke", "prakerja"]
    assert [b.batch_id for b in pending["p3ke"]] == ["b2"]
    assert [b.batch_id for b in pending["prakerja"]] == ["b1"]
    marker = json.loads(schedule.done_marker(settings.state, Batch("p3ke", "b1", "")).read_text())
    assert marker["source"] == "p3ke" and marker["batch_id"] == "b1" and marker["already_processed"] is False


def test_commands_follow_the_increment_contract():
    s = Settings(landing="/l", increment_cmd=("spark-submit", "--master", "yarn", "jobs/increment.py", "--env", "cluster"))
    assert schedule.increment_command(s, Batch("p3ke", "2026-11-28", "/l/p3ke/2026-11-28")) == [
        "spark-submit", "--master", "yarn", "jobs/increment.py", "--env", "cluster",
        "--source", "p3ke", "--batch", "p3ke-2026-11-28", "--path", "/l/p3ke/2026-11-28"]
    assert schedule.increment_command(Settings(landing="/l"), Batch("p3ke", "b", "/p"))[:2] == ["padan", "increment"]


def test_settings_from_the_environment():
    env = {"PADAN_LANDING": "/data/landing", "PADAN_SOURCES": " prakerja , p3ke ",
           "PADAN_INCREMENT_CMD": "spark-submit --py-files 'dist/padan pyfiles.zip' jobs/increment.py",
           "PADAN_REPORT_CMD": "", "PADAN_READY_MARKER": "_SUCCESS"}
    s = Settings.from_env(env)
    assert s.sources == ("prakerja", "p3ke") and s.report_cmd is None and s.ready_marker == "_SUCCESS"
    assert s.increment_cmd == ("spark-submit", "--py-files", "dist/padan pyfiles.zip", "jobs/increment.py")
    assert s.state == Path("/data/landing/_padan_state")
    assert Settings.from_env({"PADAN_LANDING": "/l"}, state_dir="/s").state == Path("/s")
    assert Settings.from_env({"PADAN_LANDING": "/l"}).sources == ("p3ke", "prakerja")
    with pytest.raises(ValueError, match="PADAN_LANDING"):
        Settings.from_env({})


def test_batches_run_in_order_are_marked_done_and_not_rerun(stub, monkeypatch):
    settings, calls = stub
    landing = Path(settings.landing)
    for b in ("2026-11-28", "2026-11-27"):
        land(landing, "p3ke", b)
    monkeypatch.setenv("STUB_CODES", json.dumps({"p3ke-2026-11-28": "already"}))
    lines: list[str] = []
    results = schedule.run_batches(settings, schedule.pending_batches(settings)["p3ke"], echo=lines.append)
    assert [(r["batch_id"], r["status"]) for r in results] == [("2026-11-27", "processed"),
                                                               ("2026-11-28", "already_processed")]
    assert [c[c.index("--batch") + 1] for c in calls()] == ["p3ke-2026-11-27", "p3ke-2026-11-28"]
    assert calls()[0] == ["increment", "--source", "p3ke", "--batch", "p3ke-2026-11-27", "--path",
                          str(landing / "p3ke" / "2026-11-27")]
    assert "increment ok" in lines                                    # the job's output is passed through
    assert schedule.pending_batches(settings)["p3ke"] == []
    # a retry of the same task (same batch list) skips what is done without starting a job
    again = schedule.run_batches(settings, [Batch("p3ke", "2026-11-27", str(landing / "p3ke" / "2026-11-27"))])
    assert again[0]["status"] == "skipped" and len(calls()) == 2


def test_a_failure_stops_the_source_with_the_jobs_own_message(stub, monkeypatch):
    settings, calls = stub
    landing = Path(settings.landing)
    for b in ("b1", "b2", "b3"):
        land(landing, "p3ke", b)
    monkeypatch.setenv("STUB_CODES", json.dumps({"p3ke-b2": 3}))
    with pytest.raises(JobFailed) as info:
        schedule.run_batches(settings, schedule.pending_batches(settings)["p3ke"], echo=lambda _: None,
                             retries=2, sleep=lambda _: pytest.fail("a permanent failure is not retried"))
    err = info.value
    assert err.exit_code == 3 and not err.retryable
    assert str(err) == ("increment of p3ke batch b2 failed with exit code 3: "
                        "padan increment: source contract p3ke: missing column(s) ['nik']")
    assert [c[c.index("--batch") + 1] for c in calls()] == ["p3ke-b1", "p3ke-b2"]     # b3 never overtakes b2
    assert [b.batch_id for b in schedule.pending_batches(settings)["p3ke"]] == ["b2", "b3"]


def test_retryable_failures_are_retried(stub, monkeypatch):
    settings, calls = stub
    land(Path(settings.landing), "p3ke", "b1")
    # 1: an unexpected failure; 9: the lake was locked by another run (padan.lock), nothing written.
    monkeypatch.setenv("STUB_CODES", json.dumps({"p3ke-b1": [1, 9, 0]}))
    slept: list[float] = []
    results = schedule.run_batches(settings, schedule.pending_batches(settings)["p3ke"], retries=2, retry_delay=7,
                                   echo=lambda _: None, sleep=slept.append)
    assert results[0]["status"] == "processed" and slept == [7, 7] and len(calls()) == 3
    assert JobFailed("x", 1, "").retryable and JobFailed("x", 137, "").retryable


def test_a_locked_lake_is_retried_not_failed():
    from padan.errors import LakeBusyError, StateError

    assert schedule.LAKE_BUSY == LakeBusyError.exit_code == 9
    assert JobFailed("x", LakeBusyError.exit_code, "").retryable
    assert not JobFailed("x", StateError.exit_code, "").retryable


def test_a_missing_command_is_a_clear_failure(tmp_path):
    res = schedule.run_job([str(tmp_path / "no-such-binary")])
    assert res.exit_code == 127 and "cannot start" in res.message


def test_run_report_raises_on_failure(stub, monkeypatch):
    settings, calls = stub
    assert schedule.run_report(settings, echo=lambda _: None).exit_code == 0
    monkeypatch.setenv("STUB_CODES", json.dumps({"report": 6}))
    with pytest.raises(JobFailed, match="report failed with exit code 6: padan report: "):
        schedule.run_report(settings, echo=lambda _: None)
    assert schedule.run_report(Settings(landing="/l", report_cmd=None)) is None


def _daily(settings: Settings, tmp_path: Path, **env) -> subprocess.Popen:
    full_env = {**os.environ, "PADAN_LANDING": settings.landing, "PADAN_PYTHON": sys.executable,
                "PADAN_LOCK": str(tmp_path / "daily.lock"),
                "PADAN_INCREMENT_CMD": " ".join(settings.increment_cmd),
                "PADAN_REPORT_CMD": " ".join(settings.report_cmd or ()), **env}
    return subprocess.Popen(["bash", str(REPO / "scripts" / "daily.sh")], env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_cron_script_runs_pending_batches_then_the_report(stub, tmp_path):
    settings, calls = stub
    land(Path(settings.landing), "p3ke", "b1")
    land(Path(settings.landing), "prakerja", "b1")
    out, err = _daily(settings, tmp_path).communicate(timeout=60)
    assert [c[0] for c in calls()] == ["increment", "increment", "report"], err
    assert [c[c.index("--source") + 1] for c in calls()[:2]] == ["p3ke", "prakerja"]
    assert json.loads(out.strip().splitlines()[-1])["batches"][0]["status"] == "processed"
    proc = _daily(settings, tmp_path)                                  # the next day: nothing new
    proc.communicate(timeout=60)
    assert proc.returncode == 0 and [c[0] for c in calls()] == ["increment", "increment", "report", "report"]


def test_cron_script_fails_with_one_message_and_exit_code(stub, tmp_path):
    settings, calls = stub
    land(Path(settings.landing), "p3ke", "b1")
    proc = _daily(settings, tmp_path, STUB_CODES=json.dumps({"p3ke-b1": 4}))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 4
    assert err.strip().splitlines()[-1] == ("padan schedule: increment of p3ke batch b1 failed with exit code 4: "
                                            "padan increment: source contract p3ke: missing column(s) ['nik']")
    assert [c[0] for c in calls()] == ["increment"]                    # no report after a failure


def test_cron_script_does_not_overlap_a_running_one(stub, tmp_path):
    settings, calls = stub
    lock = tmp_path / "daily.lock"
    holder = subprocess.Popen(["flock", str(lock), "sleep", "30"])
    try:
        for _ in range(50):                                            # wait until the holder has the lock
            if subprocess.run(["flock", "-n", str(lock), "true"]).returncode != 0:
                break
            time.sleep(0.1)
        proc = _daily(settings, tmp_path)
        _, err = proc.communicate(timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 0 and "already running" in err and calls() == []


def test_pending_listing_for_scripts(tmp_path, capsys, monkeypatch):
    landing = tmp_path / "landing"
    land(landing, "prakerja", "b9")
    assert schedule.main(["pending", "--landing", str(landing)]) == 0
    assert capsys.readouterr().out == f"prakerja\tb9\t{landing / 'prakerja' / 'b9'}\n"
    monkeypatch.delenv("PADAN_LANDING", raising=False)
    assert schedule.main(["pending"]) == 2
    assert "PADAN_LANDING" in capsys.readouterr().err


def test_a_multi_line_failure_message_is_kept_whole(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text("import sys\nprint('padan ingest: invalid configuration (2 problem(s)):\\n  - a.yml: x\\n"
                      "  - b.yml: y', file=sys.stderr)\nprint('INFO ShutdownHookManager: Shutdown hook called')\n"
                      "sys.exit(2)\n")
    res = schedule.run_job([sys.executable, str(script)], echo=lambda _: None)
    assert res.exit_code == 2
    assert res.message == "padan ingest: invalid configuration (2 problem(s)): - a.yml: x - b.yml: y"


def test_the_cli_fails_with_the_message_once(tmp_path):
    """A scheduler gets a non-zero exit and the message once, last on stderr; no traceback."""
    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    (conf / "base" / "lake.yml").write_text("root: /tmp/x\nbogus_key: 1\n")
    proc = subprocess.run([sys.executable, "-m", "padan.cli", "ingest", "--conf-dir", str(conf), "--env", "base"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("padan ingest: invalid configuration")
    assert proc.stderr.count("bogus_key") == 1 and "Traceback" not in proc.stderr


def test_one_log_line_per_stage_end(monkeypatch, caplog):
    from padan import ledger

    monkeypatch.setattr(ledger, "_write", lambda *a, **k: None)       # no lake: only the log line
    with caplog.at_level("INFO", logger="padan.ledger"):
        with ledger.stage(None, "20261128T020000-ab12cd34", "ingest", batch_id="p3ke-b1") as rec:
            rec.row_counts.update(read=3, standardised=2, rejected=1)
        with pytest.raises(RuntimeError):
            with ledger.stage(None, "20261128T020000-ab12cd34", "predict"):
                raise RuntimeError("boom")
    lines = [r.getMessage() for r in caplog.records if r.name == "padan.ledger"]
    assert len(lines) == 2
    assert re.fullmatch(r"run=20261128T020000-ab12cd34 stage=ingest status=succeeded seconds=\d+\.\d "
                        r"rows=read:3,rejected:1,standardised:2", lines[0])
    assert re.fullmatch(r"run=20261128T020000-ab12cd34 stage=predict status=failed seconds=\d+\.\d rows=-",
                        lines[1])
    assert ledger.stage_line("r", "marts", "skipped", None, {"persons": 5}) == (
        "run=r stage=marts status=skipped seconds=- rows=persons:5")


def test_the_outcome_is_read_from_the_result_line_not_from_log_text(tmp_path, stub, monkeypatch):
    """Only the job's JSON result line says "already processed"; a log line with those words
    (a library's, or one quoting data) does not."""
    monkeypatch.setenv("STUB_CODES", json.dumps({"b1": "says-already", "b2": "already"}))
    script = tmp_path / "stub.py"
    res1 = schedule.run_job([sys.executable, str(script), "increment", "--batch", "b1"], echo=lambda line: None)
    res2 = schedule.run_job([sys.executable, str(script), "increment", "--batch", "b2"], echo=lambda line: None)
    assert res1.exit_code == 0 and res1.already_processed is False
    assert res2.exit_code == 0 and res2.already_processed is True
    assert schedule.job_outcome('{"padan_result": {"status": "processed"}}') == {"status": "processed"}
    assert schedule.job_outcome('{"padan_result": not json') is None
    assert schedule.job_outcome("already processed") is None
