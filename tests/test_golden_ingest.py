"""Golden test of ingest + standardisation: a fixed, committed input of nasty rows through the real
`run_ingest` into a temporary lake must give exactly the committed `silver.persons`, `ops.rejects`
and `ops.quality` rows (every column; file paths reduced to the file name).

Input: tests/fixtures/golden/input/{p3ke,prakerja}/part-*.csv, written by
tests/fixtures/golden/make_inputs.py (deterministic, generated, obviously synthetic). Expected:
tests/fixtures/golden/expected/*.jsonl.gz (sorted JSON lines, gzip without a timestamp) and
counts.json.

To regenerate the expected files after a change that is MEANT to change the output (say so in the
commit message, and look at the diff of the decompressed files):

    PADAN_UPDATE_GOLDEN=1 pytest tests/test_golden_ingest.py

The test then writes the files and fails, so a regeneration never passes silently.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from padan.stages import Ctx, run_ingest

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "golden"
EXPECTED = FIXTURES / "expected"
SOURCES = ("p3ke", "prakerja")
UPDATE = os.environ.get("PADAN_UPDATE_GOLDEN") == "1"


def _plain(v):
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, float):
        return round(v, 9)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in sorted(v.items())}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _lines(df, drop: tuple[str, ...] = ()) -> list[str]:
    out = []
    for row in df.collect():
        d = {k: _plain(v) for k, v in row.asDict(recursive=True).items() if k not in drop}
        if d.get("source_file"):
            d["source_file"] = d["source_file"].rsplit("/", 1)[-1]
        out.append(json.dumps(d, ensure_ascii=False, sort_keys=True))
    return sorted(out)


def _write(name: str, lines: list[str]) -> None:
    EXPECTED.mkdir(parents=True, exist_ok=True)
    (EXPECTED / name).write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0))


def _read(name: str) -> list[str]:
    return gzip.decompress((EXPECTED / name).read_bytes()).decode("utf-8").splitlines()


def _compare(name: str, got: list[str]) -> None:
    want = _read(name)
    if got == want:
        return
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    shown = "\n".join(["expected but not produced:", *missing[:3], "produced but not expected:", *extra[:3]])
    pytest.fail(f"{name}: {len(got)} rows produced, {len(want)} expected; {len(missing)} expected rows missing, "
                f"{len(extra)} unexpected\n{shown}", pytrace=False)


@pytest.fixture(scope="module")
def golden_lake(spark, tmp_path_factory):
    from padan import config

    root = tmp_path_factory.mktemp("golden")
    repo = Path(__file__).resolve().parents[1]
    cfg = config.load(env="base", conf_dir=repo / "conf", overrides={"lake": {"root": str(root / "lake")}})
    ctx = Ctx.create(spark, cfg, run_date="2026-11-28")
    counts = {}
    # The suite builds projections interpreted (tests/conftest.py); this check runs the generated
    # code that a user's ingest runs (Spark's default mode), then puts the suite's mode back.
    mode = spark.conf.get("spark.sql.codegen.factoryMode", None)
    spark.conf.set("spark.sql.codegen.factoryMode", "FALLBACK")
    try:
        for source in SOURCES:
            data = root / "input" / source
            shutil.copytree(FIXTURES / "input" / source, data)
            r = run_ingest(ctx, source, path=str(data), batch_id="golden")
            counts[source] = {"read": r.rows_read, "standardised": r.rows_standardised, "rejected": r.rows_rejected}
    finally:
        if mode is None:
            spark.conf.unset("spark.sql.codegen.factoryMode")
        else:
            spark.conf.set("spark.sql.codegen.factoryMode", mode)
    return ctx, counts


def test_golden_ingest_reproduces_committed_rows(golden_lake):
    ctx, counts = golden_lake
    produced = {
        "persons.jsonl.gz": _lines(ctx.lake.read("silver.persons")),
        "rejects.jsonl.gz": _lines(ctx.lake.read("ops.rejects")),
        "quality.jsonl.gz": _lines(ctx.lake.read("ops.quality")),
    }
    if UPDATE:
        for name, lines in produced.items():
            _write(name, lines)
        (EXPECTED / "counts.json").write_text(json.dumps(counts, indent=1, sort_keys=True) + "\n")
        pytest.fail("PADAN_UPDATE_GOLDEN=1: expected files rewritten; rerun without it", pytrace=False)
    assert counts == json.loads((EXPECTED / "counts.json").read_text())
    for name, lines in produced.items():
        _compare(name, lines)


def test_golden_counts_add_up_and_every_line_is_accounted_for(golden_lake):
    """rows in = standardised + rejected, per source; every non-blank data line of every file is in
    silver or rejects exactly once, under its own file and line number."""
    ctx, counts = golden_lake
    for source in SOURCES:
        c = counts[source]
        assert c["read"] == c["standardised"] + c["rejected"] > 1000
        persons = ctx.lake.read("silver.persons").where(F.col("source_dataset") == source).select("source_file", "line")
        rejects = ctx.lake.read("ops.rejects").where(F.col("source") == source).select("source_file", "line")
        got = sorted((f.rsplit("/", 1)[-1], n) for f, n in persons.union(rejects).collect())
        want = []
        for f in sorted((FIXTURES / "input" / source).glob("*.csv")):
            numbered = [ln for ln in f.read_bytes().split(b"\n") if ln.strip(b" \r")]
            want += [(f.name, i) for i in range(2, len(numbered) + 1)]   # line 1 is the header
        assert got == want


def test_keyless_record_keys_are_unique_without_a_second_window(spark):
    """A source without a record key gets digest-occurrence keys: unique by construction, so no
    row is a duplicate (the window that looked for duplicates is skipped for such sources)."""
    from padan import config
    from padan.ingest.read import list_files, read_source
    from padan.standardise.persons import with_record_keys

    repo = Path(__file__).resolve().parents[1]
    contract = config.load(env="base", conf_dir=repo / "conf").sources["p3ke"]
    files = list_files(spark, "p3ke", str(FIXTURES / "input" / "p3ke"))
    keyed = with_record_keys(read_source(spark, "p3ke", contract, files).rows, None)
    got = keyed.agg(F.count("*").alias("n"), F.countDistinct("_record_key").alias("keys"),
                    F.sum(F.col("_duplicate_key").cast("int")).alias("dups"),
                    F.sum(F.col("_record_key").rlike("^[0-9a-f]{24}-[0-9]+$").cast("int")).alias("shaped")).first()
    assert got.n == got.keys == got.shaped > 1000 and got.dups == 0
