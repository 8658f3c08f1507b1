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


def test_damerau_levenshtein_within_one_as_splinks_function(spark):
    """The engine computes `damerau_levenshtein(a, b) <= 1` (and `< 2`, `= 1`) with Spark's own
    functions (`engine._level_sql`): the same truth value as Splink's Java function for every pair
    of strings, here edits, adjacent transpositions and random pairs over small alphabets (so that
    near misses are common), characters outside the Basic Multilingual Plane, empty strings and
    nulls."""
    import random

    from padan.link.engine import _level_sql, register_similarity_functions

    register_similarity_functions(spark)
    rnd = random.Random(20261202)
    alphabets = ["AB", "ABC ", "0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ '-", "aé日😀 ", "0123456789abcdef"]

    def edited(s: str) -> str:
        chars = list(s)
        for _ in range(rnd.choice([0, 1, 1, 1, 2, 2, 3])):
            op, alphabet = rnd.choice("sidt"), rnd.choice(alphabets)
            if op == "s" and chars:
                chars[rnd.randrange(len(chars))] = rnd.choice(alphabet)
            elif op == "i":
                chars.insert(rnd.randrange(len(chars) + 1), rnd.choice(alphabet))
            elif op == "d" and chars:
                del chars[rnd.randrange(len(chars))]
            elif op == "t" and len(chars) > 1:
                i = rnd.randrange(len(chars) - 1)
                chars[i], chars[i + 1] = chars[i + 1], chars[i]
        return "".join(chars)

    rows = []
    for _ in range(6000):
        alphabet = rnd.choice(alphabets)
        x = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 9)))
        rows.append((x, edited(x) if rnd.random() < 0.8 else "".join(rnd.choice(alphabet) for _ in range(len(x)))))
    rows += [(None, "A"), ("A", None), (None, None), ("", ""), ("", "A"), ("AB", "BA"), ("ABC", "CBA"), ("CA", "ABC"),
             ("SITI", "STII"), ("😀A", "A😀"), ("A😀", "A")]
    df = spark.createDataFrame(rows, "x string, y string")
    conditions = {"le1": "damerau_levenshtein(x, y) <= 1", "lt2": "damerau_levenshtein(x, y) < 2",
                  "eq1": "damerau_levenshtein(x, y) = 1"}
    for name, cond in conditions.items():
        rewritten = _level_sql(cond)
        assert "LEVENSHTEIN(x, y, 1)" in rewritten, rewritten        # the rewrite happened
        df = df.withColumn(f"{name}_splink", F.coalesce(F.expr(cond), F.lit(False))) \
               .withColumn(f"{name}_padan", F.expr(rewritten))
    out = df.collect()
    for name in conditions:
        differ = [(r.x, r.y) for r in out if r[f"{name}_splink"] != r[f"{name}_padan"] or r[f"{name}_padan"] is None]
        assert not differ, (name, differ[:5])
    # the cases that matter occur: within one by a transposition, exactly one, and not within one
    assert sum(r.le1_padan and not r.eq1_padan for r in out) > 100
    assert sum(r.eq1_padan for r in out) > 1000 and sum(not r.le1_padan for r in out) > 1000
    assert sum(r.x is not None and r.y is not None and len(r.x) == len(r.y) and r.x != r.y and r.eq1_padan
               and sum(a != b for a, b in zip(r.x, r.y)) == 2 for r in out) > 100       # transpositions
    # other comparisons of the function are left to it
    assert "DAMERAU_LEVENSHTEIN(x, y) <= 2" == _level_sql("damerau_levenshtein(x, y) <= 2")
