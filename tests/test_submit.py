"""A job through the real spark-submit, with padan shipped as a --py-files zip as a cluster gets it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_ingest import HEADER, row

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.submit


def test_ingest_job_through_spark_submit(tmp_path):
    from padan.spark import submit_jars

    zip_base = tmp_path / "dist" / "padan_pyfiles"
    shutil.make_archive(str(zip_base), "zip", str(REPO / "src"), "padan")
    data = tmp_path / "p3ke"
    data.mkdir()
    (data / "part-0.csv").write_text("\n".join([HEADER, row("S1"), row("S2", name="BUDI SANTOSO"), "S3,bad"]) + "\n")
    lake = tmp_path / "lake"
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable, "PADAN_P3KE_PATH": str(data), "PADAN_LAKE_ROOT": str(lake)}
    cmd = [str(Path(sys.executable).parent / "spark-submit"), "--master", "local[2]",
           "--jars", ",".join(submit_jars()),
           "--conf", "spark.sql.shuffle.partitions=2", "--conf", "spark.ui.enabled=false",
           "--conf", "spark.databricks.delta.snapshotPartitions=2",
           "--py-files", f"{zip_base}.zip", str(REPO / "jobs" / "ingest.py"),
           "--env", "base", "--conf-dir", str(REPO / "conf"), "--source", "p3ke", "--run-date", "2026-11-28"]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "padan_pyfiles.zip" in proc.stderr          # the package came from the shipped zip
    assert "ingest p3ke:" in proc.stdout and "read=3 standardised=2 rejected=1" in proc.stdout
    assert (lake / "silver" / "persons" / "_delta_log").is_dir()
    assert (lake / "ops" / "rejects" / "_delta_log").is_dir()
