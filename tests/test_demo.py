"""`padan demo`'s extracts written from the driver are the files Spark's writers write."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

pytestmark = pytest.mark.synth


def _texts(folder: Path) -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(folder.glob("part-*.csv"))]


def test_demo_extracts_from_the_driver_equal_sparks_byte_for_byte(spark, tmp_path):
    from padan.demo import ensure_demo_extracts, write_in_driver
    from padan_synth import write_extracts

    params = dict(p3ke_rows=900, prakerja_rows=600, seed=20241, profile="typical")
    write_extracts(spark, str(tmp_path / "spark"), fmt="csv", **params)
    assert ensure_demo_extracts(spark, str(tmp_path / "driver"), **params)
    for source in ("p3ke", "prakerja"):
        want, got = _texts(tmp_path / "spark" / source), _texts(tmp_path / "driver" / source)
        assert len(got) == spark.sparkContext.defaultParallelism and got == want, source
        assert sum(t.count("\n") - 1 for t in got) == params[f"{source}_rows"]
        assert any('"' in t for t in got) or source == "p3ke"       # quoted values (commas) are compared
    truth = lambda name: sorted(tuple(r) for r in spark.read.parquet(str(tmp_path / name / "truth")).collect())  # noqa: E731
    assert truth("driver") == truth("spark") and len(truth("driver")) == 1500
    # the same parameters again: reused, not regenerated
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "driver").rglob("part-*")}
    assert not ensure_demo_extracts(spark, str(tmp_path / "driver"), **params)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "driver").rglob("part-*")} == before
    assert write_in_driver(spark, str(tmp_path / "again"), **params)


def test_a_value_spark_would_trim_or_escape_leaves_the_writing_to_spark():
    import pyarrow.compute as pc

    from padan.demo import _NOT_PLAIN, _csv_cell

    values = ["BUDI", "JL. X NO. 1, RT 2", " BUDI", "BUDI ", "A\tB", 'SAID "X"', "C:\\X", "A\nB", "", None]
    flagged = pc.match_substring_regex(pa.array(values, pa.string()), _NOT_PLAIN).to_pylist()
    assert flagged == [False, False, True, True, True, True, True, True, True, None]
    assert [_csv_cell(v) for v in ("BUDI", "JL. X NO. 1, RT 2", None)] == ["BUDI", '"JL. X NO. 1, RT 2"', ""]
