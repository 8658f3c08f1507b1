"""padan's scoring engine: Splink's Fellegi-Sunter prediction as one Spark plan.

From a saved Splink 5 settings dict (the model the lake stores) it builds the candidate pairs of
the blocking rules, each comparison's gamma (one CASE WHEN over its ordered levels), the
per-comparison weights, Splink's term-frequency adjustments from the model's pinned frequencies,
the match weight and probability, and keeps the pairs at or above the minimum probability. The
output has the columns Splink's `predict()` returns with `retain_intermediate_calculation_columns`
(unique_id_l/r, source_dataset_l/r, match_key, gamma_*, mw_*, mw_tf_adj_*, match_weight,
match_probability), so `padan.link.predict.to_pairs_rows` shapes both into gold.pairs.

It follows Splink's semantics exactly (tests/test_engine.py compares the two on generated data):
- pairs of rule k exclude those an earlier rule finds (`NOT coalesce(rule_j, false)` for j < k),
  match_key is k;
- link_and_dedupe / dedupe_only: one table joined with itself, l the record whose
  `source_dataset || '-__-' || unique_id` is smaller; link_only: records of different sources (with
  exactly two sources, the first source in sorted order is always l, as Splink's two-dataset
  optimisation does); between two sets of records (an increment's existing x new), every pair of
  left x right with the left record as l;
- a level's weight is log2(m/u) of Splink's own parameter reading (defaults, 'level not observed',
  clamping), summed in Splink's order after the prior's weight;
- a term-frequency level adds `w * (log2(u_exact) - log2(greatest(tf_l, tf_r, tf_minimum_u)))`
  when either side has a frequency, 0 otherwise;
- pairs are kept where match_weight >= log2(p / (1 - p)) for the minimum probability p.

The level and blocking SQL is the model's (Spark dialect), run through the same sqlglot
transpilation Splink applies before Spark sees it. The rules with equi-join keys share one join
(records meet on a hash of a distinct key set and its values; see `_blocked`), so the records
are shuffled once, not once per rule. Nothing is materialised: the caller's write runs the whole
plan. An optional block-size cap (`model.block_size_cap`, saved beside the Splink settings) leaves
a rule's over-size blocks to the other rules (see `_blocked`); without it the pairs are Splink's.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
from dataclasses import dataclass
from typing import Any, Sequence

import splink.internals.spark.database_api  # noqa: F401  (registers sqlglot's 'customspark' dialect)
import sqlglot
from sqlglot import exp
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from splink.internals.misc import prob_to_match_weight
from splink.internals.settings_creator import SettingsCreator
from splink.internals.spark.jar_location import get_scala_udfs

from padan.link.predict import equi_join_keys, existing_candidates
from padan.model.settings import model_columns_from_settings

logger = logging.getLogger(__name__)

SEPARATOR = "-__-"   # Splink's separator in composite record ids (source_dataset || sep || unique_id)


@dataclass(frozen=True)
class Level:
    gamma: int
    condition: str | None     # None: the ELSE level
    weight: float             # log2(m/u); 0 for the null level
    tf_column: str | None = None
    tf_weight: float = 0.0
    tf_minimum_u: float = 0.0
    log2_u_exact: float = 0.0


@dataclass(frozen=True)
class ComparisonSpec:
    name: str
    levels: tuple[Level, ...]

    @property
    def has_tf(self) -> bool:
        return any(lvl.tf_column for lvl in self.levels)


@dataclass(frozen=True)
class Model:
    link_type: str
    prior_weight: float
    comparisons: tuple[ComparisonSpec, ...]
    rules: tuple[str, ...]
    tf_columns: tuple[str, ...]


def _transpile(sql: str) -> str:
    """The SQL Spark runs for `sql` under Splink (its Spark backend transpiles every statement)."""
    return sqlglot.transpile(sql, read="spark", write="customspark")[0]


# Splink's `damerau_levenshtein` (a Java function in its similarity jar) costs about 90 us per call
# on 12-letter names on this project's 2-core machine (C1 JIT): most of the CPU of a pair's gamma
# vector (the demo's 230,181 u-sample pairs: `damerau_levenshtein(name_l, name_r) <= 1` alone 26.7
# JVM CPU-s, the expression below 2.9; docs/BENCHMARKS.md). Every level padan's model uses it in
# asks only whether the distance is at most 1 (or exactly 1), and that has an exact answer in
# Spark's own functions: equal, or one Levenshtein edit, or one transposition of two adjacent
# characters (same length, Levenshtein 2, and swapping some two adjacent characters of one gives
# the other: the lambda runs only for such rare pairs). Splink's function counts UTF-16 code
# units, Spark's `levenshtein` and `substr` count characters: they agree where no character lies
# outside the Basic Multilingual Plane, so strings with such a character keep Splink's function.
# A null input gives Splink's function 100 (not within 1), hence the `coalesce`.
# tests/test_engine_plan.py holds the rewrite to Splink's function on adversarial strings;
# tests/test_engine.py holds the engine to Splink's predict and training.
_DL_WITHIN_ONE = (
    "coalesce(CASE WHEN octet_length(encode(__x, 'UTF-16BE')) = 2 * length(__x) "
    "AND octet_length(encode(__y, 'UTF-16BE')) = 2 * length(__y) "
    "THEN __x = __y OR __lev(__x, __y, 1) = 1 OR (length(__x) = length(__y) AND __lev(__x, __y, 2) = 2 "
    "AND exists(sequence(1, length(__x) - 1), __dl_i -> substr(__x, __dl_i, 1) = substr(__y, __dl_i + 1, 1) "
    "AND substr(__x, __dl_i + 1, 1) = substr(__y, __dl_i, 1) AND concat(substr(__x, 1, __dl_i - 1), "
    "substr(__x, __dl_i + 1, 1), substr(__x, __dl_i, 1), substr(__x, __dl_i + 2)) = __y)) "
    "ELSE damerau_levenshtein(__x, __y) <= 1 END, false)")
# (`__lev`: Spark's levenshtein with a threshold, which stops at it; written as a function sqlglot
# does not know, as it reads a third argument of `levenshtein` as an insertion cost.)
_DL_WITHIN_ONE_TREE = sqlglot.parse_one(_DL_WITHIN_ONE, read="spark")    # parsed once, filled per use


def _fill(x: exp.Expression, y: exp.Expression):
    """A sqlglot transform filling `_DL_WITHIN_ONE`'s placeholders with the two compared expressions."""
    def fill(n):
        if isinstance(n, exp.Column) and n.name in ("__x", "__y"):
            return (x if n.name == "__x" else y).copy()
        if isinstance(n, exp.Anonymous) and n.name == "__lev":
            return exp.Anonymous(this="levenshtein", expressions=[e.copy().transform(fill) for e in n.expressions])
        return n
    return fill


def _level_sql(sql: str) -> str:
    """A comparison level's condition as the engine runs it: Splink's transpilation, with each
    `damerau_levenshtein(a, b) <= 1` (or `< 2`, or `= 1`) computed by Spark's own functions
    (`_DL_WITHIN_ONE`: the same truth value for every pair of strings, at a tenth of the cost)."""
    tree = sqlglot.parse_one(sql, read="spark")

    def rewrite(node):
        if not isinstance(node, (exp.LTE, exp.LT, exp.EQ)):
            return node
        fn, bound = node.this, node.expression
        if not (isinstance(fn, exp.Anonymous) and fn.name.lower() == "damerau_levenshtein"
                and len(fn.expressions) == 2 and isinstance(bound, exp.Literal) and not bound.is_string):
            return node
        try:
            limit = float(bound.this)
        except ValueError:
            return node
        if (limit, type(node)) not in ((1.0, exp.LTE), (2.0, exp.LT), (1.0, exp.EQ)):
            return node
        x, y = fn.expressions
        within = _DL_WITHIN_ONE_TREE.transform(_fill(x, y))      # (transform copies the tree)
        if isinstance(node, exp.EQ):           # exactly one edit: within one, and not equal
            within = exp.and_(within, exp.not_(exp.func("coalesce", exp.EQ(this=x.copy(), expression=y.copy()),
                                                        exp.false())))
        return exp.paren(within)

    return tree.transform(rewrite).sql(dialect="customspark")


def parse_model(settings: dict[str, Any]) -> Model:
    """The parts of a Splink settings dict that scoring needs, read by Splink's own settings classes
    so that defaults, 'level not observed', clamping and the exact-match level a term-frequency
    adjustment refers to are Splink's."""
    obj = SettingsCreator.from_path_or_dict(copy.deepcopy(settings)).get_settings("spark")
    comparisons = []
    tf_cols: list[str] = []
    for comp in obj.comparisons:
        levels = []
        for cl in comp.comparison_levels:
            weight = cl._match_weight
            if weight is None:
                raise ValueError(f"comparison {comp.output_column_name}: a level has no m or u probability")
            kw: dict[str, Any] = {}
            if (cl.comparison_vector_value != -1 and cl._has_tf_adjustments and cl._tf_adjustment_weight != 0
                    and not cl._is_else_level):
                col = cl._tf_adjustment_input_column_name
                kw = dict(tf_column=col, tf_weight=float(cl._tf_adjustment_weight),
                          tf_minimum_u=float(cl._tf_minimum_u_value),
                          log2_u_exact=math.log2(cl._u_probability_corresponding_to_exact_match(
                              comp.comparison_levels)))
                if col not in tf_cols:
                    tf_cols.append(col)
            cond = None if cl._is_else_level else _level_sql(cl.sql_condition)
            levels.append(Level(gamma=cl.comparison_vector_value, condition=cond, weight=float(weight), **kw))
        comparisons.append(ComparisonSpec(comp.output_column_name.replace(" ", "_"), tuple(levels)))
    rules = tuple(_transpile(br.blocking_rule_sql) for br in obj._blocking_rules_to_generate_predictions) or ("1=1",)
    prior = obj.core_model_settings.probability_two_random_records_match
    return Model(link_type=obj._link_type, prior_weight=float(prob_to_match_weight(prior)),
                 comparisons=tuple(comparisons), rules=rules, tf_columns=tuple(tf_cols))


def register_similarity_functions(spark: SparkSession) -> None:
    """jaro_winkler, damerau_levenshtein, ... from Splink's jar (Java functions, not Python UDFs)."""
    for udf in get_scala_udfs():
        spark.udf.registerJavaFunction(*udf)


# ---------------------------------------------------------------- candidate pairs

def _with_tf(df: DataFrame, model: Model, tf_tables: dict[str, DataFrame] | None) -> DataFrame:
    """Each record with tf_<column> for the model's term-frequency columns (null: value not pinned)."""
    for col in model.tf_columns:
        table = (tf_tables or {}).get(col)
        if table is None:
            raise ValueError(f"no term-frequency table for column {col}: pass the model's pinned frequencies")
        table = table.select(F.col(col).alias(f"__tf_key_{col}"), F.col(f"tf_{col}"))
        df = df.join(table, df[col] == table[f"__tf_key_{col}"], "left").drop(f"__tf_key_{col}")
    return df


def _composite_id(side: str | None = None) -> Column:
    """Splink's composite record id, of a pair's side ("l"/"r") or, without a side, of a record."""
    prefix = f"{side}." if side else ""
    return F.concat(F.col(f"{prefix}source_dataset"), F.lit(SEPARATOR), F.col(f"{prefix}unique_id"))


def _first_rule_only(k: int, model: Model, met: dict[int, Column] | None = None) -> Column:
    """Rule k holds and no earlier rule does (Splink: `AND NOT (coalesce((rule_j), false) OR ...)`).
    With `met` (rule -> "the pair met under the rule's key set", for a block-size cap), an earlier
    rule j excludes the pair only where it met under j's key set, i.e. where j's block was not over
    the cap; without a cap the two are the same (equal, set keys always meet)."""
    cond = F.expr(model.rules[k])
    for j, earlier in enumerate(model.rules[:k]):
        held = F.coalesce(F.expr(f"({earlier})"), F.lit(False))
        if met is not None and j in met:
            held = met[j] & held
        cond = cond & ~held
    return cond


def _pair_columns(columns: Sequence[str], match_key: Column) -> list[Column]:
    return [match_key.cast("string").alias("match_key"),
            *[F.col(f"l.{c}").alias(f"{c}_l") for c in columns], *[F.col(f"r.{c}").alias(f"{c}_r") for c in columns]]


def _key_sets(rule_keys: list[tuple[int, list[str] | None]]) -> list[list[str]]:
    """The distinct equi-join key sets of the rules, in rule order (rules that differ only in
    other conditions, such as 'placeholder date' / 'not a placeholder date', share one)."""
    sets: list[list[str]] = []
    for _, keys in rule_keys:
        if keys and keys not in sets:
            sets.append(keys)
    return sets


def _keys_only(df: DataFrame, key_sets: list[list[str]]) -> DataFrame:
    """One narrow row per record and key set whose columns are all set: the record's composite id
    __cid, __s (the key set's position), __b (its bit, 1 << __s) and __h, a 64-bit hash of the
    key set's position and values (one long: the join sorts on it)."""
    entries = [F.when(~F.greatest(*[F.col(c).isNull() for c in keys], F.lit(False)),
                      F.struct(F.lit(s).alias("__s"), F.xxhash64(F.lit(s), *[F.col(c) for c in keys]).alias("__h"),
                               F.lit(1 << s).cast("long").alias("__b")))
               for s, keys in enumerate(key_sets)]
    return (df.select(_composite_id().alias("__cid"), F.explode(F.array(*entries)).alias("__k"))
            .where(F.col("__k").isNotNull()).select("__cid", "__k.__s", "__k.__h", "__k.__b"))


def _capped(keyed: DataFrame, right: DataFrame | None, counted: DataFrame | None,
            cap: int | None) -> tuple[DataFrame, DataFrame | None]:
    """The keyed rows of blocks holding at most `cap` records (a block: the records sharing one hash
    __h, i.e. one value of a key set). The count is over the rows of `keyed`, `right` and `counted`
    (records that are counted in a block but not paired here: an increment's existing records when
    its new records are paired among themselves). No cap: the rows unchanged.

    One window count partitioned by __h: its shuffle is the one the join on __h needs, so the
    capped join shuffles the keyed rows once, as the uncapped one does (with `right` or `counted`,
    their rows are shuffled with `keyed`'s in one exchange and split after the count)."""
    if cap is None:
        return keyed, right
    parts = [(keyed, 0), (right, 1), (counted, 2)]
    rows = [df.select("*", F.lit(side).alias("__side")) for df, side in parts if df is not None]
    allrows = functools.reduce(lambda a, b: a.unionByName(b), rows)
    sized = allrows.select("*", F.count(F.lit(1)).over(Window.partitionBy("__h")).alias("__n"))
    kept = sized.where(F.col("__n") <= F.lit(cap))
    if len(rows) == 1:
        return kept.drop("__side", "__n"), None
    side = lambda v: kept.where(F.col("__side") == v).drop("__side", "__n")  # noqa: E731
    return side(0), (side(1) if right is not None else None)


def _meetings(keyed: DataFrame, right: DataFrame | None, *, ordered: bool) -> DataFrame:
    """(__cid_l, __cid_r, __sets): each pair of records whose keyed rows share a hash __h, once,
    with the bits of the key sets it met under (bit_or). `right` None: `keyed` joined with itself
    (with `ordered`, only as l < r by composite id); else `keyed` (l) x `right` (r).

    The join is on __h alone, a single long: __h already hashes the key set's position with its
    values, and a single-long sort key lets Spark radix-sort it. Both sides read the same columns,
    bits included, so the self-join's two sides are one plan and Spark shuffles the keyed rows
    once and reuses the exchange (joining on (__h, __s) and taking the bits of one side made the
    sides differ, and each was built and shuffled apart). A collision of __h across key sets only
    adds a bit: a pair is still kept only for a rule whose full condition holds."""
    lk = keyed.alias("lk")
    rk = (keyed if right is None else right).alias("rk")
    meet = F.col("lk.__h") == F.col("rk.__h")
    if ordered:
        meet = meet & (F.col("lk.__cid") < F.col("rk.__cid"))
    return (lk.join(rk, meet, "inner")
            .groupBy(F.col("lk.__cid").alias("__cid_l"), F.col("rk.__cid").alias("__cid_r"))
            .agg(F.bit_or(F.col("lk.__b").bitwiseOR(F.col("rk.__b"))).alias("__sets")))


def _blocked(left: DataFrame, right: DataFrame, model: Model, where: Column | None, columns: Sequence[str],
             *, ordered: bool = False, cap: int | None = None, counted: DataFrame | None = None) -> DataFrame:
    """The pairs of the blocking rules, each once with the first rule that finds it as match_key,
    every column as <column>_l / <column>_r.

    The rules with equi-join keys (`l.x = r.x` conjuncts) share one narrow step: each record
    enters once per distinct key set as (composite id, key set bit, 64-bit hash of the set and its
    values), records meet on the hash (`_meetings`: with `ordered`, only as l < r by composite
    id), and each meeting pair is kept once with the bit set of the key sets it met under (an
    aggregate on the two ids, code-generated). Only then are the full records joined to the pairs
    (on a hash of the id, then the id), and a pair is kept for the first rule whose key set it met
    under that holds on its full columns while no earlier rule does (which also drops hash
    collisions): Splink's semantics exactly. A pair that an earlier rule would find is always
    met under that rule's key set, since its keys are equal and set. So the wide records are
    shuffled once per side to the kept pairs, not once per rule and record. A rule without such
    keys gets a join of its own. `where` is checked on the full pair.

    `cap` (a block-size cap): a key set's block (the records sharing its values) holding more than
    `cap` records produces no pairs under the rules of that key set; its pairs are left to the
    other rules (a pair is kept for the first rule that holds and met under its key set). Blocks
    are counted over `left`, `right` and `counted` (see `_capped`). Every rule needs equi-join keys
    then."""
    rule_keys = [(k, equi_join_keys(rule)) for k, rule in enumerate(model.rules)]
    key_sets = _key_sets(rule_keys)
    if cap is not None and any(keys is None for _, keys in rule_keys):
        raise ValueError("a block-size cap needs every prediction blocking rule to have equi-join keys "
                         "(l.x = r.x conjuncts)")
    parts = []
    if key_sets:
        keyed_l, keyed_r = _capped(_keys_only(left, key_sets), None if right is left else _keys_only(right, key_sets),
                                   None if counted is None else _keys_only(counted, key_sets), cap)
        met = _meetings(keyed_l, keyed_r, ordered=ordered)
        met = met.select("*", F.xxhash64("__cid_l").alias("__hid_l"), F.xxhash64("__cid_r").alias("__hid_r"))
        lt = left.select("*", _composite_id().alias("__cid"), F.xxhash64(_composite_id()).alias("__hid")).alias("l")
        rt = right.select("*", _composite_id().alias("__cid"), F.xxhash64(_composite_id()).alias("__hid")).alias("r")
        pairs = (met.join(lt, (F.col("__hid_l") == F.col("l.__hid")) & (F.col("__cid_l") == F.col("l.__cid")), "inner")
                 .join(rt, (F.col("__hid_r") == F.col("r.__hid")) & (F.col("__cid_r") == F.col("r.__cid")), "inner"))
        if where is not None:
            pairs = pairs.where(where)
        bit = {k: F.col("__sets").bitwiseAND(F.lit(1 << key_sets.index(keys))) != 0 for k, keys in rule_keys if keys}
        first = F.coalesce(*[F.when(bit[k] & _first_rule_only(k, model, bit if cap is not None else None), F.lit(k))
                             for k, keys in rule_keys if keys])
        pairs = pairs.select("*", first.alias("__first")).where(F.col("__first").isNotNull())
        parts.append(pairs.select(*_pair_columns(columns, F.col("__first"))))
    lt, rt = left.alias("l"), right.alias("r")
    for k, keys in rule_keys:
        if keys:
            continue
        cond = _first_rule_only(k, model)
        if where is not None:
            cond = cond & where
        parts.append(lt.join(rt, cond, "inner").select(*_pair_columns(columns, F.lit(k))))
    return functools.reduce(lambda a, b: a.unionAll(b), parts)


# ---------------------------------------------------------------- scores

def _gamma(comp: ComparisonSpec) -> Column:
    expr = None
    for lvl in comp.levels:
        if lvl.condition is None:
            return expr.otherwise(F.lit(lvl.gamma)) if expr is not None else F.lit(lvl.gamma)
        cond = F.expr(lvl.condition)
        expr = F.when(cond, F.lit(lvl.gamma)) if expr is None else expr.when(cond, F.lit(lvl.gamma))
    return expr


def _by_gamma(comp: ComparisonSpec, value) -> Column:
    g = F.col(f"gamma_{comp.name}")
    expr = None
    for lvl in comp.levels:
        v = value(lvl)
        expr = F.when(g == lvl.gamma, v) if expr is None else expr.when(g == lvl.gamma, v)
    return expr


def _tf_adjustment(lvl: Level) -> Column:
    if lvl.tf_column is None:
        return F.lit(0.0)
    tf_l, tf_r = F.col(f"tf_{lvl.tf_column}_l"), F.col(f"tf_{lvl.tf_column}_r")
    u = F.greatest(F.coalesce(tf_l, tf_r), F.coalesce(tf_r, tf_l), F.lit(lvl.tf_minimum_u))
    return (F.when(F.coalesce(tf_l, tf_r).isNotNull(), F.lit(lvl.tf_weight) * (F.lit(lvl.log2_u_exact) - F.log2(u)))
            .otherwise(F.lit(0.0)))


def _scored(pairs: DataFrame, model: Model, min_probability: float | None) -> DataFrame:
    pairs = pairs.select("*", *[_gamma(c).alias(f"gamma_{c.name}") for c in model.comparisons])
    weight_cols, terms = [], []
    for c in model.comparisons:
        weight_cols.append(_by_gamma(c, lambda lvl: F.lit(lvl.weight)).alias(f"mw_{c.name}"))
        terms.append(f"mw_{c.name}")
        if c.has_tf:
            weight_cols.append(_by_gamma(c, _tf_adjustment).alias(f"mw_tf_adj_{c.name}"))
            terms.append(f"mw_tf_adj_{c.name}")
    tf_cols = [f"tf_{t}_{s}" for t in model.tf_columns for s in ("l", "r")]
    gammas = [f"gamma_{c.name}" for c in model.comparisons]
    parts = pairs.select("unique_id_l", "unique_id_r", "source_dataset_l", "source_dataset_r", "match_key",
                         *gammas, *tf_cols, *weight_cols)
    mw = functools.reduce(lambda a, b: a + b, [F.col(t) for t in terms], F.lit(model.prior_weight))
    two = F.lit(2.0)
    prob = F.when(mw >= 0, F.lit(1.0) / (F.lit(1.0) + F.pow(two, -mw))).otherwise(
        F.pow(two, mw) / (F.lit(1.0) + F.pow(two, mw)))
    out = parts.select(mw.alias("match_weight"), prob.alias("match_probability"), *parts.columns)
    if min_probability:
        out = out.where(F.col("match_weight") >= F.lit(math.log2(min_probability / (1 - min_probability))))
    return out


# ---------------------------------------------------------------- entry points

def _inputs(df: DataFrame, model: Model, settings: dict[str, Any], tf_tables) -> tuple[DataFrame, list[str]]:
    cols = ["source_dataset", *[c for c in model_columns_from_settings(settings) if c != "source_dataset"]]
    df = _with_tf(df.select(*cols), model, tf_tables)
    return df, [*cols, *[f"tf_{c}" for c in model.tf_columns]]


def _candidates_within(df: DataFrame, model: Model, cols: list[str], sources: Sequence[str] | None,
                       cap: int | None = None, counted: DataFrame | None = None) -> DataFrame:
    """The candidate pairs among the records of `df` (see `_blocked`), as Splink's `predict()`
    pairs them over one table per source. `cap`, `counted`: a block-size cap, and other records
    its blocks count (see `_blocked`)."""
    if model.link_type == "link_only":
        if sources is None:
            sources = sorted(r[0] for r in df.select("source_dataset").distinct().collect())
        if len(sources) == 2:
            left = df.where(F.col("source_dataset") == sources[0])
            right = df.where(F.col("source_dataset") == sources[1])
            return _blocked(left, right, model, None, cols, cap=cap, counted=counted)
        where = (_composite_id("l") < _composite_id("r")) & (F.col("l.source_dataset") != F.col("r.source_dataset"))
    else:
        where = _composite_id("l") < _composite_id("r")
    return _blocked(df, df, model, where, cols, ordered=True, cap=cap, counted=counted)


def score_within(spark: SparkSession, persons: DataFrame, settings: dict[str, Any], *, min_probability: float | None,
                 tf_tables: dict[str, DataFrame] | None, sources: Sequence[str] | None = None,
                 block_size_cap: int | None = None, counted_with: DataFrame | None = None) -> DataFrame:
    """Scored candidate pairs among `persons` (silver.persons rows), as Splink's `predict()` /
    `predict_within()` over one table per source. `sources` (sorted source names) is only read for
    link_only (taken from the data when not given). `block_size_cap`: a block (records sharing a
    rule's equi-join key values) over this many records gives no pairs under that rule;
    `counted_with`: records counted in the blocks but not paired (an increment's existing ones)."""
    register_similarity_functions(spark)
    model = parse_model(settings)
    df, cols = _inputs(persons, model, settings, tf_tables)
    return _scored(_candidates_within(df, model, cols, sources, block_size_cap, counted_with), model, min_probability)


def candidate_pairs(spark: SparkSession, persons: DataFrame, settings: dict[str, Any], *,
                    block_size_cap: int | None = None) -> DataFrame:
    """(unique_id_l, unique_id_r, match_key): the pairs `score_within` scores, unscored."""
    register_similarity_functions(spark)
    model = parse_model(settings)
    cols = ["source_dataset", *[c for c in model_columns_from_settings(settings) if c != "source_dataset"]]
    pairs = _candidates_within(persons.select(*cols), model, cols, None, block_size_cap)
    return pairs.select("unique_id_l", "unique_id_r", F.col("match_key").cast("int").alias("match_key"))


def candidate_counts(spark: SparkSession, persons: DataFrame, settings: dict[str, Any], *,
                     block_size_cap: int | None = None) -> list[int]:
    """Candidate pairs per blocking rule among `persons`, each pair counted for the first rule that
    finds it (Splink's marginal count): exactly the pairs `score_within` scores, counted in one
    aggregate instead of scored."""
    pairs = candidate_pairs(spark, persons, settings, block_size_cap=block_size_cap)
    counts = {int(r[0]): int(r[1]) for r in pairs.groupBy("match_key").count().collect()}
    return [counts.get(k, 0) for k in range(len(parse_model(settings).rules))]


def score_between(spark: SparkSession, left: DataFrame, right: DataFrame, settings: dict[str, Any], *,
                  min_probability: float | None, tf_tables: dict[str, DataFrame] | None,
                  block_size_cap: int | None = None) -> DataFrame:
    """Scored candidate pairs of `left` x `right` (left as l), as Splink's `predict_between()`;
    `block_size_cap` as in `score_within`, blocks counted over `left` and `right`."""
    register_similarity_functions(spark)
    model = parse_model(settings)
    lf, cols = _inputs(left, model, settings, tf_tables)
    rf, _ = _inputs(right, model, settings, tf_tables)
    where = (F.col("l.source_dataset") != F.col("r.source_dataset")) if model.link_type == "link_only" else None
    return _scored(_blocked(lf, rf, model, where, cols, cap=block_size_cap), model, min_probability)


def predict_pairs(spark: SparkSession, persons: DataFrame, settings: dict[str, Any], *, min_probability: float,
                  tf_tables: dict[str, DataFrame] | None = None, block_size_cap: int | None = None,
                  **_: Any) -> DataFrame:
    """The engine's `padan.link.predict.predict_pairs`: all candidate pairs of `persons`."""
    return score_within(spark, persons, settings, min_probability=min_probability, tf_tables=tf_tables,
                        block_size_cap=block_size_cap)


def predict_increment(spark: SparkSession, existing: DataFrame, new: DataFrame, settings: dict[str, Any], *,
                      min_probability: float, tf_tables: dict[str, DataFrame], n_new: int | None = None,
                      stats: dict[str, int] | None = None, block_size_cap: int | None = None,
                      **_: Any) -> DataFrame:
    """The engine's `padan.link.predict.predict_increment`: the pairs a batch of `new` records adds
    (new x new, and new x the existing records sharing a blocking key with the batch).

    With `block_size_cap`, a block's size counts its existing and new records (the existing
    records sharing a key with the batch are all among the candidates), so the pairs with a new
    record are exactly those a full run over existing + new would score. Pairs among existing
    records that an earlier run scored in a block the batch has now pushed over the cap stay
    in gold.pairs (a full run would leave them to the other rules): an increment adds pairs, it
    does not take any back."""
    rules = [r["blocking_rule"] if isinstance(r, dict) else str(r)
             for r in settings.get("blocking_rules_to_generate_predictions", [])]
    existing = existing_candidates(existing, new, rules, n_new=n_new)
    if stats is not None:
        existing = existing.persist(StorageLevel.MEMORY_AND_DISK)
        stats["existing_compared"] = existing.count()
    within = score_within(spark, new, settings, min_probability=min_probability, tf_tables=tf_tables,
                          block_size_cap=block_size_cap, counted_with=existing if block_size_cap is not None else None)
    between = score_between(spark, existing, new, settings, min_probability=min_probability, tf_tables=tf_tables,
                            block_size_cap=block_size_cap)
    return within.unionByName(between)
