"""A real Spark standalone cluster on loopback: start it, submit a job to it, check the lake, stop it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_ingest import HEADER, row
from tests.test_submit import make_submit

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.cluster, pytest.mark.submit]


@pytest.fixture
def standalone(tmp_path):
    env = {**os.environ, "PADAN_CLUSTER_DIR": str(tmp_path / "cluster"), "PADAN_MASTER_PORT": "7177",
           "PADAN_MASTER_UI_PORT": "8180", "VENV": str(Path(sys.executable).parent.parent),
           "PYSPARK_PYTHON": sys.executable}
    up = subprocess.run([str(REPO / "scripts" / "cluster.sh"), "up", "2"], env=env, capture_output=True, text=True,
                        timeout=180)
    if up.returncode != 0:
        subprocess.run([str(REPO / "scripts" / "cluster.sh"), "down"], env=env, timeout=60)
        pytest.fail(f"cluster did not start: {up.stderr[-2000:]}")
    yield "spark://127.0.0.1:7177"
    down = subprocess.run([str(REPO / "scripts" / "cluster.sh"), "down"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert down.returncode == 0
    assert not list((tmp_path / "cluster").glob("*.pid"))


def test_submit_to_standalone_cluster(standalone, tmp_path):
    data = tmp_path / "p3ke"
    data.mkdir()
    lines = [HEADER] + [row(f"C{i}", name=f"ORANG CONTOH {chr(65 + i % 26)}") for i in range(40)] + ["C99,bad"]
    (data / "part-0.csv").write_text("\n".join(lines) + "\n")
    lake = tmp_path / "lake"
    proc = make_submit(tmp_path, job="ingest", master=standalone,
                       args=["--conf-dir", str(REPO / "conf"), "--source", "p3ke", "--run-date", "2026-11-28"],
                       env_extra={"PADAN_P3KE_PATH": str(data), "PADAN_LAKE_ROOT": str(lake),
                                  "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable},
                       submit_conf=["--total-executor-cores", "2", "--executor-memory", "1g",
                                    "--conf", f"spark.pyspark.python={sys.executable}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "spark://127.0.0.1:7177" in proc.stderr      # the job ran on the cluster, not local
    assert "read=41 standardised=40 rejected=1" in proc.stdout
    assert (lake / "silver" / "persons" / "_delta_log").is_dir()
