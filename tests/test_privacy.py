"""Personal data at rest: what padan writes to the lake is readable by its owner only, and the
Delta logs (clear-text JSON with per-file column statistics) carry no personal value."""

from __future__ import annotations

import os
import stat

import pytest

from padan import cli
from tests.test_ingest import HEADER, row


def test_lake_files_and_folders_are_owner_only(tmp_path, monkeypatch):
    data = tmp_path / "p3ke"
    data.mkdir()
    canary = "ZZCANARY QWERTYUIOP"          # a name no rule changes; must never reach a Delta log
    (data / "part-0.csv").write_text("\n".join([HEADER, row("Q1", name=canary), row("Q2", name=canary),
                                                "Q3,bad"]) + "\n")
    lake = tmp_path / "lake"
    monkeypatch.setenv("PADAN_P3KE_PATH", str(data))
    assert cli.main(["ingest", "--env", "base", "--lake", str(lake), "--source", "p3ke",
                     "--run-date", "2026-11-28"]) == 0
    paths = [p for p in lake.rglob("*")]
    assert any(p.name.endswith(".parquet") for p in paths) and any(p.suffix == ".json" for p in paths)
    loose = [str(p.relative_to(lake)) for p in paths if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert not loose, loose[:10]
    logs = {p: p.read_bytes().decode("latin-1") for p in paths if "_delta_log" in p.parts and p.is_file()}
    assert any('"stats"' in text for text in logs.values())          # statistics are kept, but limited
    assert not [str(p.relative_to(lake)) for p, text in logs.items() if "ZZCANARY" in text]
    assert any("ZZCANARY" in p.read_bytes().decode("latin-1") for p in paths if p.suffix == ".parquet")


def test_statistics_columns_are_declared_non_partition_and_skippable(spark):
    """Delta refuses, at a table's creation, a statistics column that is a partition column or of a
    type it cannot skip on (boolean, array, map): checked here for every table, not at first write."""
    from pyspark.sql.types import ArrayType, BooleanType, MapType, StructType

    from padan.tables import ALL_FIXED, bronze_spec

    checked = 0
    for spec in [*ALL_FIXED, bronze_spec("any", ["a", "b"])]:
        for key, value in spec.properties:
            if key != "delta.dataSkippingStatsColumns":
                continue
            types = {f.name: f.dataType for f in StructType.fromDDL(spec.ddl).fields}
            for col in value.split(","):
                assert col in types and col not in spec.partition_by, (spec.name, col)
                assert not isinstance(types[col], (BooleanType, ArrayType, MapType)), (spec.name, col)
                checked += 1
    assert checked >= 15


@pytest.mark.integration
def test_a_command_leaves_no_checkpoint_files(tmp_path):
    """The checkpoint folder padan chose (Splink's Parquet copies of personal-data frames live there)
    is removed when a command ends; a folder the caller set (a notebook host, a test) is not padan's
    to remove. One process, as a command is."""
    import subprocess
    import sys

    script = tmp_path / "job.py"
    script.write_text(
        "from padan import spark as ps\n"
        f"spark = ps.get_spark('t', master='local[1]', driver_memory='1g')\n"
        f"spark.sparkContext.setCheckpointDir({str(tmp_path / 'theirs')!r})\n"
        "spark.range(3).write.parquet(spark.sparkContext.getCheckpointDir() + '/copy')\n"
        "assert ps.release_checkpoints() is None\n"          # set by the caller: kept
        f"ps.set_checkpoint_dir(spark, {str(tmp_path / 'ours')!r})\n"
        "folder = spark.sparkContext.getCheckpointDir()\n"
        "spark.range(3).write.parquet(folder + '/copy')\n"
        "assert ps.release_checkpoints() == folder\n"
        "print('released')\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "released" in proc.stdout
    assert any((tmp_path / "theirs").rglob("*.parquet"))
    assert not any((tmp_path / "ours").rglob("*.parquet"))
