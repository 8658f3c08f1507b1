"""Term frequencies pinned with a model version: what save_tf reports and what load_tf finds are
what gold.model_tf holds, without reading the table back after the write."""

from __future__ import annotations

from pyspark.sql import functions as F

from padan.lake import Lake
from padan.model.tf import load_tf, save_tf, stored_columns
from padan.tables import MODEL_TF, PERSONS


def _settings(*columns: str) -> dict:
    return {"comparisons": [{"output_column_name": c, "comparison_levels": [
        {"sql_condition": f"{c}_l = {c}_r", "tf_adjustment_column": c}, {"sql_condition": "ELSE"}]}
        for c in columns]}


def test_saved_frequencies_are_the_tables_and_found_without_a_read(spark, tmp_path):
    root = str(tmp_path / "lake")
    lake = Lake(spark, root)
    persons = spark.createDataFrame(
        [("a", "SITI", "1990"), ("b", "SITI", None), ("c", "AYU", "1990"), ("d", None, "1991")],
        "unique_id STRING, name_first STRING, birth_year STRING")
    counts = save_tf(lake, "v1", persons, _settings("name_first", "birth_year"))
    save_tf(lake, "v2", persons.select("unique_id", "name_first"), _settings("name_first"))

    table = Lake(spark, root).read(MODEL_TF.name)
    got = {r["column_name"]: r["count"] for r in table.where(F.col("model_version") == "v1")
           .groupBy("column_name").count().collect()}
    assert counts == got == {"name_first": 2, "birth_year": 2}
    tf = {(r["column_name"], r["value"]): r["tf"] for r in table.where(F.col("model_version") == "v1").collect()}
    assert tf[("name_first", "SITI")] == 2 / 3 and tf[("birth_year", "1991")] == 1 / 3

    # v2's write moved the table, so v1's columns are read again; v2's are known from its own write.
    assert stored_columns(lake, "v1") == {"name_first", "birth_year"}
    sc = spark.sparkContext
    sc.setJobGroup("tf-columns", "tf-columns")
    try:
        assert stored_columns(lake, "v2") == {"name_first"}
        assert stored_columns(lake, "v1") == {"name_first", "birth_year"}       # now held for this version
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    assert len(sc.statusTracker().getJobIdsForGroup("tf-columns")) == 0
    assert stored_columns(Lake(spark, root), "v2") == {"name_first"}           # a fresh process reads it

    # load_tf: the stored frequencies, typed as the persons column they adjust
    lake.overwrite(spark.createDataFrame([], PERSONS.ddl), PERSONS, quiet=True)
    loaded = load_tf(lake, "v1", _settings("name_first", "birth_year"))
    assert {r["name_first"]: r["tf_name_first"] for r in loaded["name_first"].collect()} == {"SITI": 2 / 3, "AYU": 1 / 3}
    assert dict(loaded["birth_year"].dtypes)["birth_year"] == "int"


def test_a_predict_after_train_takes_the_frequencies_from_memory_until_released(spark, tmp_path):
    """The rows save_tf wrote stay cached while gold.model_tf is at that write's version: load_tf in
    the same process scans them in memory (no read of the new table version back); release_tf drops
    them, and load_tf then reads the same values from the table. A later write of the table also
    ends their use."""
    from padan.model.tf import release_tf

    root = str(tmp_path / "lake")
    lake = Lake(spark, root)
    persons = spark.createDataFrame([("a", "SITI"), ("b", "SITI"), ("c", "AYU")], "unique_id STRING, name_first STRING")
    settings = _settings("name_first")
    save_tf(lake, "v1", persons, settings)

    def loaded():
        frame = load_tf(lake, "v1", settings, persons)["name_first"]
        plan = frame._jdf.queryExecution().optimizedPlan().toString()
        return {r["name_first"]: r["tf_name_first"] for r in frame.collect()}, "InMemoryRelation" in plan

    assert loaded() == ({"SITI": 2 / 3, "AYU": 1 / 3}, True)
    release_tf(lake, "v1")
    assert loaded() == ({"SITI": 2 / 3, "AYU": 1 / 3}, False)

    save_tf(lake, "v1", persons, settings)
    lake.overwrite(spark.createDataFrame([], PERSONS.ddl), PERSONS, quiet=True)      # another table: no effect
    assert loaded()[1] is True
    save_tf(lake, "v2", persons, settings)          # gold.model_tf moved: v1's rows come from the table
    assert loaded() == ({"SITI": 2 / 3, "AYU": 1 / 3}, False)
    release_tf(lake)
