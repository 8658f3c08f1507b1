"""A job through the real spark-submit, with padan shipped as a --py-files zip as a cluster gets it."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.test_ingest import HEADER, row

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.submit


def make_submit(tmp_path, *, job: str, args: list[str], env_extra: dict, master: str = "local[2]",
                submit_conf: list[str] = ()) -> subprocess.CompletedProcess:
    """`make submit` exactly as a user types it (which runs `make package` first), into a
    temporary dist folder: a broken packaging or submit path fails here."""
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", **env_extra}
    conf = ["--conf", "spark.sql.shuffle.partitions=2", "--conf", "spark.ui.enabled=false",
            "--conf", "spark.databricks.delta.snapshotPartitions=2", *submit_conf]
    cmd = ["make", "--no-print-directory", "-C", str(REPO), "submit", f"DIST={tmp_path / 'dist'}",
           f"SUBMIT_JOB={job}", f"SUBMIT_MASTER={master}", "ENV=base", f"SUBMIT_CONF={' '.join(conf)}",
           f"ARGS={' '.join(args)}"]
    return subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)


def test_ingest_job_through_make_submit(tmp_path):
    data = tmp_path / "p3ke"
    data.mkdir()
    (data / "part-0.csv").write_text("\n".join([HEADER, row("S1"), row("S2", name="BUDI SANTOSO"), "S3,bad"]) + "\n")
    lake = tmp_path / "lake"
    proc = make_submit(tmp_path, job="ingest", args=["--conf-dir", str(REPO / "conf"), "--source", "p3ke",
                                                     "--run-date", "2026-11-28"],
                       env_extra={"PADAN_P3KE_PATH": str(data), "PADAN_LAKE_ROOT": str(lake)})
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    assert "padan_pyfiles.zip" in proc.stderr          # the package came from the shipped zip
    assert "ingest p3ke:" in proc.stdout and "read=3 standardised=2 rejected=1" in proc.stdout
    assert (lake / "silver" / "persons" / "_delta_log").is_dir()
    assert (lake / "ops" / "rejects" / "_delta_log").is_dir()
    assert list((lake / "_tmp").iterdir()) == []        # the job's run folder (padan.scratch) is gone
    wheel = next((tmp_path / "dist").glob("padan-*.whl"))
    with zipfile.ZipFile(wheel) as whl, zipfile.ZipFile(tmp_path / "dist" / "padan_pyfiles.zip") as pyfiles:
        in_wheel = {n for n in whl.namelist() if n.startswith("padan/")}
        assert "padan/cli.py" in in_wheel and "padan/reference/provinces.csv" in in_wheel
        assert "padan/report/templates/report.html.j2" in in_wheel      # the report's template ships
        assert {n for n in pyfiles.namelist() if n.endswith(".py")} == {n for n in in_wheel if n.endswith(".py")}
        assert set(pyfiles.namelist()) >= {n for n in in_wheel if not n.startswith("padan-")}
