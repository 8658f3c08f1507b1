"""Name, region and coded-text rules once per distinct value, joined back (`padan.standardise.lookup`),
give exactly the rows the per-row rules give: on the golden input (every name, region and bad-input
rule) and on names that differ only in case and spaces (one lookup key)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from padan.standardise import lookup as L

REPO = Path(__file__).resolve().parents[1]
GOLDEN_INPUT = REPO / "tests" / "fixtures" / "golden" / "input"


def _std(spark, cfg, source: str, max_values: int, min_rows: int = 0):
    from padan.ingest.derive import field_columns
    from padan.ingest.read import list_files, read_source
    from padan.standardise.persons import standardise_rows, with_record_keys

    contract = cfg.sources[source]
    s = cfg.standardise
    raw = read_source(spark, source, contract, list_files(spark, source, str(GOLDEN_INPUT / source)))
    keyed = with_record_keys(raw.rows, contract.record_key).cache()
    columns = field_columns(contract)
    rules = {"titles": s.name_titles, "muhammad_variants": s.muhammad_variants}
    tables = L.lookup_tables(keyed, columns, keyed.count(), max_values, min_rows=min_rows, **rules)
    std = standardise_rows(
        keyed, source=source, batch_id="b1", columns=columns, date_formats=contract.date_formats,
        value_maps=contract.value_maps, key_column=contract.record_key, titles=s.name_titles,
        muhammad_variants=s.muhammad_variants, placeholder_dates=s.placeholder_dates,
        day15_placeholder=s.day15_placeholder, placeholder_niks=s.placeholder_niks, min_birth_year=s.min_birth_year,
        reference_date="2026-11-28", required=contract.required, valid_ranges=contract.valid_ranges,
        identifying_regions=s.identifying_regions, lookups=tables)
    return std, tables


@pytest.fixture(scope="module")
def cfg():
    from padan import config

    return config.load(env="base", conf_dir=REPO / "conf")


@pytest.mark.integration    # two whole standardisations per source: full suite, not the fast tier
@pytest.mark.parametrize("source", ["p3ke", "prakerja"])
def test_lookup_rows_equal_per_row_rows_on_the_golden_input(spark, cfg, source):
    per_row, none = _std(spark, cfg, source, max_values=0)
    looked_up, tables = _std(spark, cfg, source, max_values=1_000_000)
    assert none == {}
    assert sorted(tables) == ["name", "regions", "texts"]
    # fewer keys than rows (the golden input repeats names and regions), so the lookup does less work
    n = per_row.count()
    assert all(t.count() < n for t in tables.values())
    plans = [df._jdf.queryExecution().executedPlan().toString() for df in (per_row, looked_up)]
    assert "_k_name_name" not in plans[0] and "_k_name_name" in plans[1]   # the rows' name key: looked up
    assert per_row.columns == looked_up.columns
    a, b = per_row.exceptAll(looked_up), looked_up.exceptAll(per_row)
    assert (a.count(), b.count()) == (0, 0)


def test_a_group_with_more_distinct_values_than_allowed_gets_no_table(spark, cfg):
    # more rows (1,321) than max_values: the distinct keys are estimated, and the groups with more are dropped
    _, tables = _std(spark, cfg, "p3ke", max_values=3)
    assert "name" not in tables and "regions" not in tables
    # ~1,220 name keys, ~1,250 region key combinations, ~820 coded-text combinations
    _, tables = _std(spark, cfg, "p3ke", max_values=1_000)
    assert sorted(tables) == ["texts"]


def test_few_rows_take_the_per_row_path_and_the_decision_runs_no_spark_job(spark, cfg):
    from padan.ingest.derive import field_columns

    contract = cfg.sources["p3ke"]
    s = cfg.standardise
    rules = {"titles": s.name_titles, "muhammad_variants": s.muhammad_variants}
    rows = spark.createDataFrame([("1", "Budi", "Bogor")], "id STRING, nama STRING, kab STRING")
    columns = {"record_key": "id", "name": "nama", "kabupaten": "kab"}
    sc = spark.sparkContext
    sc.setJobGroup("lookup-decision", "lookup-decision")
    try:
        assert L.lookup_tables(rows, columns, 1_000, 500_000, min_rows=1_001, **rules) == {}
        tables = L.lookup_tables(rows, columns, 1_001, 500_000, min_rows=1_001, **rules)
        assert sorted(tables) == ["name", "regions"]   # no coded-text column in this contract
        assert list(sc.statusTracker().getJobIdsForGroup("lookup-decision")) == []
    finally:
        sc.setJobGroup("other", "other")
    assert L.lookup_tables(rows, field_columns(contract), 10, 0, **rules) == {}


def test_name_keys_fold_case_and_spaces_of_ascii_names_only(spark, cfg):
    s = cfg.standardise
    rules = {"titles": s.name_titles, "muhammad_variants": s.muhammad_variants}
    names = [" budi  santoso ", "BUDI SANTOSO", "Budi Santoso", "H. Budi Santoso, S.Pd.", "budi santoso bin saleh",
             "José María", "JOSÉ MARÍA", "ıbrahim djojo", "IBRAHIM DJOJO", "Ahmad 2", "", "   ", None, "Ѓорги", "ѓорги"]
    rows = spark.createDataFrame([(i, n) for i, n in enumerate(names)], "i INT, nama STRING")
    columns = {"name": "nama"}
    raw = lambda f: L.raw_value(columns, f)  # noqa: E731
    table = L.lookup_table(rows, L.NAME, columns, raw, **rules)
    assert table is not None
    # ' budi  santoso ', 'BUDI SANTOSO', 'Budi Santoso' share one key; the non-ASCII names keep their own
    assert table.count() == len(set(names)) - 2
    outs = [f"_o_{o}" for o in L.NAME.outputs]
    per_row = L.with_group(rows, L.NAME, columns, raw, None, **rules).select("i", *outs)
    looked_up = L.with_group(rows, L.NAME, columns, raw, table, **rules).select("i", *outs)
    got, want = sorted(looked_up.collect()), sorted(per_row.collect())
    assert got == want and len(got) == len(names)
    by_i = {r.i: r for r in got}
    assert by_i[0]["_o_name_clean"] == by_i[1]["_o_name_clean"] == by_i[3]["_o_name_clean"] == "BUDI SANTOSO"
    assert by_i[12]["_o_name_clean"] is None and by_i[10]["_o_name_clean"] is None
    assert rows.where(F.col("nama").isNull()).count() == 1


def test_repeated_keys_flag_the_same_rows_as_the_window(spark):
    """`flag_duplicates` with `repeated_keys` (a grouping of the keys, a broadcast of the repeated
    ones) flags exactly the rows the window over all rows flags: every repeat after the first by
    file, then line; null keys never."""
    from padan.standardise.persons import flag_duplicates, record_keys, repeated_keys

    rows = [("b.csv", 2, "K1"), ("a.csv", 9, "K1"), ("a.csv", 10, "K1"), ("a.csv", 3, "K2"), ("b.csv", 1, "K2"),
            ("a.csv", 4, None), ("a.csv", 5, None), ("a.csv", 6, " "), ("b.csv", 7, " "), ("a.csv", 11, "K3"),
            ("a.csv", 12, "k3")]
    raw = spark.createDataFrame(rows, "_source_file STRING, _line BIGINT, id STRING")
    keyed = record_keys(raw, "id")
    repeated = repeated_keys(keyed, 10)
    assert sorted(r[0] for r in repeated.collect()) == ["K1", "K2"]   # blank is no key; keys are case-sensitive
    got = flag_duplicates(keyed, "id", repeated).select("_source_file", "_line", "_duplicate_key")
    want = flag_duplicates(keyed, "id", None).select("_source_file", "_line", "_duplicate_key")
    assert sorted(got.collect()) == sorted(want.collect())
    assert sorted((f, n) for f, n, d in got.collect() if d) == [("a.csv", 10), ("b.csv", 1), ("b.csv", 2)]
    assert repeated_keys(keyed, 1) is None
    repeated.unpersist()
