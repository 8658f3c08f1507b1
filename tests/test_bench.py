"""The benchmark harness (bench/harness.py) on a few hundred records: padan, plain Splink on DuckDB and on Spark, timed and scored."""

from __future__ import annotations

import json

import pytest

from bench.harness import LINK_STEPS, PIPELINE_STEPS, parse_size, run_bench, update_docs, write_result

pytestmark = pytest.mark.integration


def test_parse_size():
    assert [parse_size(s) for s in ("600", "100k", "1M", "10M", "2.5M")] == [600, 100_000, 1_000_000, 10_000_000,
                                                                          2_500_000]
    with pytest.raises(ValueError):
        parse_size("lots")


def test_bench_smoke(spark, cfg, tmp_path):
    cfg = cfg.with_overrides({"model": {"training": {"u_max_pairs": 20000}}})
    # Plain Splink on Spark is left to `make bench`: its training calls are minutes of Spark jobs
    # even on 600 records, and DuckDB's arm runs the same harness code for a baseline.
    result = run_bench(spark, cfg, records=600, work_dir=tmp_path / "work", heartbeat=5,
                       systems=("padan", "splink_duckdb"))
    path = write_result(result, tmp_path / "results")
    data = json.loads(path.read_text())

    assert set(data["systems"]) == {"padan", "splink_duckdb"}
    for system, s in data["systems"].items():
        expected = {*LINK_STEPS[system], *PIPELINE_STEPS.get(system, ())}
        assert expected <= set(s["steps"]), system
        assert all(s["steps"][k]["seconds"] > 0 for k in expected), system
        assert s["link_seconds"] > 0 and s["pairs_kept"] > 0
        for key, value in s["accuracy"].items():
            if key not in ("threshold", "best_f1_threshold"):
                assert 0 <= value <= 1, (system, key)
        assert s["accuracy"]["pairwise_f1"] > 0.5, system
    assert data["systems"]["padan"]["peak_jvm_rss_mib"] > 0
    padan_steps = data["systems"]["padan"]["steps"]
    # CPU and jobs per step: padan's Spark stages run jobs and burn JVM CPU; DuckDB runs in the driver
    assert all(padan_steps[k]["spark_jobs"] > 0 and padan_steps[k]["jvm_cpu_seconds"] > 0
               for k in ("ingest_p3ke", "train", "predict", "cluster")), padan_steps
    duck = data["systems"]["splink_duckdb"]["steps"]
    assert duck["predict"]["spark_jobs"] == 0 and sum(v["driver_cpu_seconds"] for v in duck.values()) > 0
    assert data["candidate_pairs"] > 0 and all(v > 0 for v in data["ratios"].values())
    assert data["records"] == 600 and data["machine"]["cores"] >= 1

    doc = tmp_path / "BENCHMARKS.md"
    update_docs(tmp_path / "results", doc)
    text = doc.read_text()
    assert "splink_duckdb" in text and "<!-- bench-results:end -->" in text
    assert "CPU-seconds and Spark jobs per step" in text
    update_docs(tmp_path / "results", doc)           # regenerating replaces the tables, never appends
    assert doc.read_text() == text
