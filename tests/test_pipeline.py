"""The whole pipeline on generated data into a temporary lake (integration)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from padan.evaluate.metrics import cluster_metrics
from padan.stages import Ctx, run_cluster, run_pipeline, run_predict
from padan.tables import ALL_FIXED
from tests.conftest import PIPELINE_P3KE_ROWS, PIPELINE_PRAKERJA_ROWS

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration

P3KE_ROWS, PRAKERJA_ROWS = PIPELINE_P3KE_ROWS, PIPELINE_PRAKERJA_ROWS


@pytest.fixture(scope="module")
def run(pipeline_run):
    """The session's pipeline lake (tests/conftest.py), shared with the report test."""
    return pipeline_run


def _snapshot(ctx):
    """Every table's version and sorted content (ops.runs aside: the ledger records each attempt)."""
    out = {}
    for spec in ALL_FIXED:
        if spec.name == "ops.runs" or not ctx.lake.exists(spec.name):
            continue
        df = ctx.lake.read(spec.name)
        out[spec.name] = (ctx.lake.version(spec.name), sorted(map(repr, df.collect())))
    return out


def test_tables_exist_with_their_declared_schemas(run, tmp_path):
    """Every table a full run writes exists with its declared schema; one it may not write
    (ops.evaluations before `padan evaluate`, gold.clusters_at_thresholds without extra thresholds)
    reads as empty with its declared schema, in this lake and in a lake no run has touched."""
    from padan.lake import Lake

    ctx, _, _ = run
    fresh = Lake(ctx.spark, str(tmp_path / "untouched"))
    for spec in ALL_FIXED:
        if spec.name not in ("ops.evaluations", "gold.clusters_at_thresholds"):
            assert ctx.lake.exists(spec.name), spec.name
        want = [(f.name, f.dataType.simpleString()) for f in StructType.fromDDL(spec.ddl).fields]
        empty = fresh.read(spec.name)
        assert [(f.name, f.dataType.simpleString()) for f in empty.schema.fields] == want and empty.count() == 0
        assert not fresh.exists(spec.name)
        got = [(f.name, f.dataType.simpleString()) for f in ctx.lake.read(spec.name).schema.fields]
        assert got == want, spec.name
    assert ctx.lake.exists("bronze.p3ke") and ctx.lake.exists("bronze.prakerja")


def test_every_input_row_is_standardised_or_rejected(run):
    ctx, result, truth = run
    persons = ctx.lake.read("silver.persons").groupBy("source_dataset").count().collect()
    rejects = ctx.lake.read("ops.rejects").groupBy("source").count().collect()
    per_source = {r[0]: r[1] for r in persons}
    for r in rejects:
        per_source[r[0]] = per_source.get(r[0], 0) + r[1]
    read = {r.source: r.rows_read for r in result.ingest}
    assert per_source == read
    assert read == {"p3ke": P3KE_ROWS, "prakerja": PRAKERJA_ROWS}
    # every generated record is accounted for by id too
    ids = ctx.lake.read("silver.persons").select("unique_id").unionByName(
        ctx.lake.read("ops.rejects").select(F.concat_ws(":", "source", "record_key").alias("unique_id")))
    assert truth.join(ids, "unique_id", "left_anti").count() == 0


def test_pairs_carry_weights_and_explanations(run):
    ctx, result, _ = run
    pairs = ctx.lake.read("gold.pairs").where(F.col("run_id") == result.run_id)
    assert result.pairs > 0 and pairs.count() == result.pairs
    bad = pairs.where(F.col("match_weight").isNull() | ~F.col("match_probability").between(0, 1)
                      | (F.size("gammas") != 8) | (F.size("weights") != 8) | (F.col("unique_id_l") >= F.col("unique_id_r")))
    assert bad.count() == 0


def test_same_person_records_end_in_the_same_cluster(run):
    ctx, _, truth = run
    m = cluster_metrics(ctx.lake.read("gold.clusters"), truth)
    assert m.pairwise_recall >= 0.95, m
    assert m.pairwise_precision >= 0.95, m


def test_first_cluster_counts_are_what_it_wrote(run):
    """The first cluster stage of a lake (no earlier state: every person new) reports its counts
    from its writes: they are the rows of the tables' first versions."""
    ctx, result, _ = run
    clusters = ctx.lake.read("gold.clusters", version=0)
    changes = ctx.lake.read("gold.id_changes", version=0)
    assert {r[0] for r in clusters.select("run_id").distinct().collect()} == {result.run_id}
    assert set(result.cluster) == {"records", "persons", "ids_new"}
    assert result.cluster["records"] == clusters.count() == ctx.lake.read("silver.persons").count()
    assert result.cluster["persons"] == clusters.select("person_id").distinct().count() < result.cluster["records"]
    assert result.cluster["ids_new"] == changes.where((F.col("run_id") == result.run_id) & (F.col("kind") == "new")).count()
    assert result.cluster["ids_new"] == changes.count() == result.cluster["persons"]


def test_marts_count_persons(run):
    ctx, result, _ = run
    overlap = ctx.lake.read("gold.overlap_by_region").where((F.col("level") == "national") & F.col("desil").isNull()).first()
    clusters = ctx.lake.read("gold.clusters")
    persons = clusters.select("person_id", "in_p3ke", "in_prakerja").distinct()
    assert overlap.persons_both == persons.where("in_p3ke AND in_prakerja").count()
    assert overlap.persons_p3ke == persons.where("in_p3ke").count() < ctx.lake.read("silver.persons").where(
        "source_dataset = 'p3ke'").count()
    assert 0 < overlap.persons_both < overlap.persons_prakerja


def test_rerun_with_same_inputs_changes_no_table(run):
    ctx, result, _ = run
    before = _snapshot(ctx)
    again = run_pipeline(ctx, train=True)
    assert again.run_id == result.run_id and again.model_version == result.model_version
    assert _snapshot(ctx) == before


def test_forced_relink_reproduces_pairs_and_clusters(run):
    ctx, result, _ = run
    tables = ["gold.pairs", "gold.clusters", "gold.id_changes"]
    before = {t: sorted(map(repr, ctx.lake.read(t).collect())) for t in tables}
    forced = Ctx.create(ctx.spark, ctx.cfg, force=True, run_date=ctx.run_date)
    run_predict(forced, result.run_id, result.model_version)
    run_cluster(forced, result.run_id)
    after = {t: sorted(map(repr, ctx.lake.read(t).collect())) for t in tables}
    assert after == before


# Levels the generator gives (almost) no true matches for: Prakerja has no kecamatan, and movers stay
# in their regency, so these are rarely seen among matches and their m may sit below u.
# Levels that may be weak or negative evidence: kecamatan and province (rare among matches on
# these extracts), and with the "one name a single token of the other" level above it, a name
# sharing only its first or last token is what siblings with one family name have.
RARE_AMONG_MATCHES = {("region", "same kecamatan"), ("region", "same province"),
                      ("name", "first or last token sound alike")}


def test_m_above_u_for_every_agreeing_level(run):
    """Every level but the last ('all other') is agreement of some degree and must be evidence for a
    match wherever the labels observed it (m above the floor of unobserved levels)."""
    from padan.model.train import M_FLOOR

    ctx, result, _ = run
    params = ctx.lake.read("gold.model_params").where(F.col("model_version") == result.model_version).collect()
    assert params, "model parameters were saved"
    by_comp = {}
    for p in params:
        if p.level >= 0:
            by_comp.setdefault(p.comparison, []).append(p)
    assert {"name", "birth_date", "nik", "sex"} <= set(by_comp)
    checked = 0
    for comp, levels in by_comp.items():
        top = max(levels, key=lambda p: p.level)
        assert top.m_probability > top.u_probability, (comp, top.label)
        for p in levels:
            if p.level > 0 and p.m_probability > M_FLOOR and (comp, p.label) not in RARE_AMONG_MATCHES:
                assert p.m_probability > p.u_probability, (comp, p.label, p.m_probability, p.u_probability)
                checked += 1
    assert checked >= len(by_comp)


def test_birth_date_m_comes_from_labels_that_let_dates_disagree(spark):
    """NIK-anchored labels need a birth date consistent with the NIK, so their dates always agree;
    the birth date's own m comes from pairs sharing NIK and name, where a typed date may differ."""
    import datetime as dt

    from padan.model.train import nik_anchored_labels, nik_name_anchored_labels

    rows = [("p3ke:1", "p3ke", "3201014508900001", True, False, False, "SITI AMINAH", dt.date(1990, 8, 5)),
            ("prakerja:1", "prakerja", "3201014508900001", True, True, False, "SITI AMINAH", dt.date(1990, 5, 8)),
            ("prakerja:2", "prakerja", "3201014508900001", True, False, False, "BUDI", dt.date(1990, 8, 5))]
    persons = spark.createDataFrame(rows, "unique_id string, source_dataset string, nik string, nik_valid boolean, "
                                          "nik_dob_mismatch boolean, nik_sex_mismatch boolean, name_clean string, "
                                          "birth_date date").withColumn("sex", F.lit("P"))
    pairs = lambda df: {(r.unique_id_l, r.unique_id_r) for r in df.collect()}  # noqa: E731
    assert pairs(nik_anchored_labels(persons, 100, 1)) == {("p3ke:1", "prakerja:2")}
    assert pairs(nik_name_anchored_labels(persons, 100, 1)) == {("p3ke:1", "prakerja:1")}


def test_saved_model_round_trips(run):
    from padan.model.store import load_model

    ctx, result, _ = run
    settings = load_model(ctx.lake, result.model_version)
    rows = {(p.comparison, p.level): (p.m_probability, p.u_probability) for p in
            ctx.lake.read("gold.model_params").where(F.col("model_version") == result.model_version).collect()}
    for comp in settings["comparisons"]:
        levels = [lvl for lvl in comp["comparison_levels"] if not lvl.get("is_null_level")]
        for i, lvl in enumerate(levels):
            m, u = rows[(comp["output_column_name"], len(levels) - 1 - i)]
            assert m == pytest.approx(lvl["m_probability"]) and u == pytest.approx(lvl["u_probability"])


def test_true_pairs_rank_above_non_pairs(run):
    """Average precision of the scored pairs ranked by match weight, against the truth."""
    ctx, result, truth = run
    t = truth.withColumnRenamed("unique_id", "u").withColumnRenamed("true_id", "t")
    scored = (ctx.lake.read("gold.pairs").where(F.col("run_id") == result.run_id)
              .join(t.withColumnRenamed("u", "unique_id_l").withColumnRenamed("t", "t_l"), "unique_id_l")
              .join(t.withColumnRenamed("u", "unique_id_r").withColumnRenamed("t", "t_r"), "unique_id_r")
              .select("match_weight", (F.col("t_l") == F.col("t_r")).alias("y")).collect())
    ranked = sorted(scored, key=lambda r: -r.match_weight)
    hits, ap = 0, 0.0
    for i, r in enumerate(ranked, 1):
        if r.y:
            hits += 1
            ap += hits / i
    ap /= max(hits, 1)
    assert hits > 100 and ap >= 0.95, ap


def test_explain_prints_the_waterfall(run):
    from padan.explain import explain_pair

    ctx, result, _ = run
    pair = ctx.lake.read("gold.pairs").where(F.col("run_id") == result.run_id).orderBy(F.desc("match_weight")).first()
    text = explain_pair(ctx.lake, pair.unique_id_r, pair.unique_id_l)
    assert pair.unique_id_l in text and "prior" in text and "name" in text and "nik" in text
    assert f"{pair.match_weight:+.2f}" in text


def test_evaluate_writes_curve_and_cluster_metrics(run, tmp_path_factory):
    from padan.stages import run_evaluate

    ctx, result, _ = run
    truth_path = str(Path(ctx.cfg.sources["p3ke"].path).parent / "truth")
    rows = run_evaluate(ctx, result.run_id, truth_path)
    stored = ctx.lake.read("ops.evaluations").where(F.col("run_id") == result.run_id).collect()
    assert len(stored) == len(rows)
    assert sum(r.is_best_f1 for r in stored) == 1
    configured = [r for r in stored if r.kind == "pairwise" and r.is_configured_threshold]
    assert len(configured) == 1 and configured[0].threshold == ctx.cfg.link.threshold_match_probability
    recalls = [r.recall for r in sorted((r for r in stored if r.kind == "pairwise"), key=lambda r: r.threshold)]
    assert recalls == sorted(recalls, reverse=True)        # recall never rises with the threshold
    bcubed = [r for r in stored if r.kind == "cluster_bcubed"][0]
    assert 0.9 < bcubed.f1 <= 1.0


def test_blocking_budget_counts_each_rule(run):
    from padan.model.blocking import count_comparisons

    ctx, result, _ = run
    budget = count_comparisons(ctx, ctx.cfg.model)
    assert [r for r, _ in budget] == list(ctx.cfg.model.blocking_rules)
    assert all(n >= 0 for _, n in budget) and budget[0][1] > 0
    # every scored pair came from some rule, so the budget covers at least the pairs written
    assert sum(n for _, n in budget) >= result.pairs
    # padan's engine counts exactly what Splink's own counter counts, rule by rule
    from pyspark.sql import functions as F
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    from padan.model.settings import model_columns
    from padan.model.splink_io import spark_api

    persons = ctx.lake.read("silver.persons")
    cols = [c for c in model_columns(ctx.cfg.model) if c != "source_dataset"]
    db_api = spark_api(ctx.spark)
    tables = [db_api.register(persons.where(F.col("source_dataset") == s).select(*cols), dataset_display_name=s,
                              table_name=f"__test_budget_{s}") for s in ("p3ke", "prakerja")]
    splink = count_comparisons_from_blocking_rules(
        tables, blocking_rules=list(ctx.cfg.model.blocking_rules), link_type=ctx.cfg.model.link_type,
        unique_id_column_name="unique_id", source_dataset_column_name="source_dataset", record_sample_proportion=1.0)
    assert [n for _, n in budget] == [int(r["marginal_comparison_count"]) for r in splink]


def test_clusters_at_extra_thresholds(run):
    """Each extra threshold clusters every record; a higher threshold keeps fewer edges so never
    gives fewer persons; at the configured threshold the partition is gold.clusters'."""
    from padan.stages import run_cluster_thresholds

    ctx, result, _ = run
    configured = ctx.cfg.link.threshold_match_probability
    sens = Ctx.create(ctx.spark, ctx.cfg.with_overrides({"link": {"extra_thresholds": [0.5, configured, 0.99]}}),
                      run_date=ctx.run_date)
    counts = run_cluster_thresholds(sens, result.run_id)
    table = ctx.lake.read("gold.clusters_at_thresholds")
    records = ctx.lake.read("silver.persons").count()
    per_t = {r["threshold"]: (r["n"], r["persons"]) for r in table.groupBy("threshold").agg(
        F.count("*").alias("n"), F.countDistinct("cluster_id").alias("persons")).collect()}
    assert set(per_t) == {0.5, configured, 0.99} and all(n == records for n, _ in per_t.values())
    assert per_t[0.5][1] <= per_t[configured][1] <= per_t[0.99][1]
    assert per_t[0.5][1] < per_t[0.99][1]                                   # the threshold matters here
    assert counts[f"persons_at_{configured:g}"] == per_t[configured][1]

    def partition(df, key):
        return {frozenset(r["ids"]) for r in df.groupBy(key).agg(F.collect_list("unique_id").alias("ids")).collect()}

    assert partition(table.where(F.col("threshold") == configured), "cluster_id") == \
        partition(ctx.lake.read("gold.clusters"), "person_id")
    sizes = table.groupBy("threshold", "cluster_id").agg(F.count("*").alias("n"), F.first("cluster_size").alias("s"))
    assert sizes.where("n != s").count() == 0
