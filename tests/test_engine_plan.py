"""The shape of the engine's candidate-pair plan: the keyed rows of a self-join are built and
shuffled once (both sides of the join are one plan, so Spark reuses the exchange), and the pairs
are exactly those a brute-force reading of the blocking rules gives."""

from __future__ import annotations

import itertools

from pyspark.sql import functions as F

RULES = ("l.a = r.a", "l.b = r.b AND l.c = r.c", "l.b = r.b AND l.flag")
COLUMNS = ["source_dataset", "unique_id", "a", "b", "c", "flag"]


def _records(spark):
    """Generated records: small blocks on a, on (b, c) and some nulls (a record without a key set
    enters no block for it)."""
    rows = []
    for i in range(60):
        rows.append(("src_x" if i % 3 else "src_y", f"id{i:03d}",
                     None if i % 11 == 0 else f"a{i % 17}", f"b{i % 6}", None if i % 7 == 0 else f"c{i % 4}",
                     i % 2 == 0))
    return spark.createDataFrame(rows, "source_dataset string, unique_id string, a string, b string, c string, "
                                       "flag boolean")


def _expected(rows) -> dict[tuple[str, str], int]:
    """Each pair (l < r by composite id) with the first rule that holds, Splink's match_key."""
    def rule(k, l, r):
        if k == 0:
            return l["a"] is not None and l["a"] == r["a"]
        if k == 1:
            return l["b"] is not None and l["b"] == r["b"] and l["c"] is not None and l["c"] == r["c"]
        return l["b"] is not None and l["b"] == r["b"] and bool(l["flag"])

    def cid(x):
        return f"{x['source_dataset']}-__-{x['unique_id']}"

    out = {}
    for x, y in itertools.combinations(rows, 2):
        l, r = (x, y) if cid(x) < cid(y) else (y, x)
        for k in range(len(RULES)):
            if rule(k, l, r):
                out[(l["unique_id"], r["unique_id"])] = k
                break
    return out


def test_self_join_shuffles_the_keyed_rows_once_and_finds_the_rules_pairs(spark):
    from padan.link import engine

    records = _records(spark)
    model = engine.Model(link_type="dedupe_only", prior_weight=0.0, comparisons=(), rules=RULES, tf_columns=())
    where = engine._composite_id("l") < engine._composite_id("r")
    pairs = engine._blocked(records, records, model, where, COLUMNS, ordered=True)
    pairs = pairs.select("unique_id_l", "unique_id_r", F.col("match_key").cast("int").alias("k"))
    old = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")   # the shuffled plan of real sizes
    try:
        got = pairs.collect()
        plan = pairs._jdf.queryExecution().executedPlan().toString()
    finally:
        spark.conf.set("spark.sql.autoBroadcastJoinThreshold", old)
    expected = _expected([r.asDict() for r in records.collect()])
    assert len(expected) > 20 and set(expected.values()) == {0, 1, 2}   # the data exercises every rule
    assert {(r["unique_id_l"], r["unique_id_r"]): r["k"] for r in got} == expected
    assert len(got) == len(expected)
    # the keyed rows (composite id, key hash, key-set bit) are shuffled once and the exchange reused
    reused = [line for line in plan.splitlines() if "ReusedExchange" in line]
    assert any("__h" in line for line in reused), plan
