"""padan's scoring engine gives exactly Splink's predictions: the same pairs, gammas and match
weights (within 1e-9) from the same settings JSON and pinned term frequencies, for a full run and
for an increment (new x new and new x existing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from padan.tables import PERSONS
from tests.conftest import install_extracts, install_test_model

# Splink's own predict and EM on 2,200 records beside the engine's: a whole-stage comparison, so
# not in the fast tier.
pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
MIN_PROBABILITY = 0.01


def _model_settings(cfg) -> dict:
    """The base model's settings with fixed, varied m/u (any parameters must score alike) and
    term-frequency adjustments on several kinds of level: the exact-name level (with a minimum u),
    a fuzzy name level (weight 0.5, whose u comes from the exact level), phone and e-mail."""
    from padan.model.settings import untrained_settings

    settings = untrained_settings(cfg.model)
    settings["probability_two_random_records_match"] = 0.00037
    for ci, comp in enumerate(settings["comparisons"]):
        levels = [lvl for lvl in comp["comparison_levels"] if not lvl.get("is_null_level")]
        n = len(levels)
        m = [0.9 ** (i * (ci + 2)) + 0.01 * ci for i in range(n)]
        u = [0.3 ** (n - 1 - i) * (1 + 0.1 * ci) for i in range(n)]
        for lvl, mi, ui in zip(levels, m, u):
            lvl["m_probability"] = mi / sum(m)
            lvl["u_probability"] = ui / sum(u)
        for lvl in comp["comparison_levels"]:
            cond = lvl["sql_condition"]
            if cond == "name_clean_l = name_clean_r":
                lvl["tf_minimum_u_value"] = 0.002
            elif cond.startswith("jaro_winkler(name_clean_l, name_clean_r) >= 0.94"):
                lvl.update(tf_adjustment_column="name_clean", tf_adjustment_weight=0.5)
            elif cond in ("phone_l = phone_r", "email_l = email_r"):
                lvl.update(tf_adjustment_column=cond.split("_l")[0], tf_adjustment_weight=1.0)
    return settings


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    from padan import config
    from padan.model.tf import frequencies, tf_columns
    from padan.stages import Ctx, run_ingest

    root = tmp_path_factory.mktemp("engine")
    data = install_extracts("increment", root / "data")      # 2,200 generated records
    cfg = config.load(env="base", conf_dir=REPO / "conf", overrides={
        "lake": {"root": str(root / "lake")},
        "sources": {"p3ke": {"path": str(data / "p3ke")}, "prakerja": {"path": str(data / "prakerja")}},
    })
    ctx = Ctx.create(spark, cfg, run_date="2026-11-28")
    for s in ("p3ke", "prakerja"):
        run_ingest(ctx, s)
    persons = ctx.lake.read(PERSONS.name).cache()
    settings = _model_settings(cfg)
    # Frequencies pinned from four fifths of the records: values of the others may have none
    # (no adjustment), as for records first seen after training.
    trained_on = persons.where(F.pmod(F.xxhash64("unique_id"), F.lit(5)) != 0)
    types = dict(persons.dtypes)
    tf = {c: frequencies(trained_on, c).select(F.col("value").cast(types[c]).alias(c), F.col("tf").alias(f"tf_{c}"))
          .cache() for c in tf_columns(settings)}
    yield {"spark": spark, "persons": persons, "settings": settings, "tf": tf, "ctx": ctx}
    persons.unpersist()


def _rows(scored, settings) -> dict:
    from padan.link.predict import to_pairs_rows

    rows = to_pairs_rows(scored, settings, run_id="r", model_version="v").collect()
    out = {}
    for r in rows:
        key = (r["unique_id_l"], r["unique_id_r"])
        assert key not in out, "a pair scored twice"
        out[key] = r
    return out


def _assert_same(ours: dict, theirs: dict) -> None:
    assert theirs, "the fixture produced no pairs: the comparison would prove nothing"
    assert set(ours) == set(theirs)
    for key, a in ours.items():
        b = theirs[key]
        assert (a["source_dataset_l"], a["source_dataset_r"], a["match_key"]) == \
               (b["source_dataset_l"], b["source_dataset_r"], b["match_key"])
        assert a["gammas"] == b["gammas"]
        assert a["match_weight"] == pytest.approx(b["match_weight"], abs=1e-9)
        assert a["match_probability"] == pytest.approx(b["match_probability"], abs=1e-12)
        assert set(a["weights"]) == set(b["weights"])
        for name, w in a["weights"].items():
            assert w == pytest.approx(b["weights"][name], abs=1e-9), name


def test_full_run_scores_as_splink(world):
    from padan.link import engine
    from padan.link.predict import predict_pairs

    spark, persons, settings, tf = world["spark"], world["persons"], world["settings"], world["tf"]
    theirs = _rows(predict_pairs(spark, persons, settings, min_probability=MIN_PROBABILITY, tf_tables=tf), settings)
    ours = _rows(engine.predict_pairs(spark, persons, settings, min_probability=MIN_PROBABILITY, tf_tables=tf),
                 settings)
    _assert_same(ours, theirs)
    # The fixture exercises what it claims to: several blocking rules, term-frequency adjustments
    # with and without a pinned frequency, and pairs below the minimum left out.
    assert len({r["match_key"] for r in ours.values()}) >= 4
    tf_weights = [r["weights"]["name"] for r in ours.values() if r["gammas"]["name"] == 7]
    assert len(set(round(w, 9) for w in tf_weights)) > 2
    everything = _rows(engine.predict_pairs(spark, persons, settings, min_probability=0.0, tf_tables=tf), settings)
    assert len(everything) > len(ours)
    assert min(r["match_probability"] for r in everything.values()) < MIN_PROBABILITY


def test_pinned_model_scores_as_splink(world):
    """The trained model the tests pin, with its stored term frequencies, as run_predict loads them."""
    from padan.link import engine
    from padan.link.predict import predict_pairs
    from padan.model.store import load_model
    from padan.model.tf import load_tf

    spark, persons, ctx = world["spark"], world["persons"], world["ctx"]
    version = install_test_model(ctx.lake)
    settings = load_model(ctx.lake, version)
    tf = load_tf(ctx.lake, version, settings)
    assert tf, "the pinned model has term-frequency adjustments"
    theirs = _rows(predict_pairs(spark, persons, settings, min_probability=MIN_PROBABILITY, tf_tables=tf), settings)
    ours = _rows(engine.predict_pairs(spark, persons, settings, min_probability=MIN_PROBABILITY, tf_tables=tf),
                 settings)
    _assert_same(ours, theirs)


def test_increment_scores_as_splink(world):
    from padan.link import engine
    from padan.link.predict import predict_increment

    spark, persons, settings, tf = world["spark"], world["persons"], world["settings"], world["tf"]
    is_new = F.pmod(F.xxhash64("unique_id", F.lit(3)), F.lit(7)) == 0
    existing, new = persons.where(~is_new), persons.where(is_new)
    s_theirs, s_ours = {}, {}
    theirs = _rows(predict_increment(spark, existing, new, settings, min_probability=MIN_PROBABILITY, tf_tables=tf,
                                     stats=s_theirs), settings)
    ours = _rows(engine.predict_increment(spark, existing, new, settings, min_probability=MIN_PROBABILITY,
                                          tf_tables=tf, stats=s_ours), settings)
    _assert_same(ours, theirs)
    assert s_ours == s_theirs
    new_ids = {r[0] for r in new.select("unique_id").collect()}
    assert any(l in new_ids and r in new_ids for l, r in ours)           # new x new
    assert any((l in new_ids) != (r in new_ids) for l, r in ours)        # new x existing


EM_RULE = "l.name_phonetic = r.name_phonetic AND l.birth_date = r.birth_date"


def _levels(ours: dict, theirs: dict, before: dict):
    """(comparison, our level, Splink's level, the level before training) for every non-null level."""
    for name in ours:
        for a, b, o in zip(ours[name]["comparison_levels"], theirs[name]["comparison_levels"],
                           before[name]["comparison_levels"]):
            if not a.get("is_null_level"):
                yield name, a, b, o


def test_em_on_pattern_counts_matches_splink_em(world):
    """One EM session on pattern counts (driver, numpy) gives Splink's EM parameters on the same
    pairs (its session with estimate_without_term_frequencies) within 1e-6."""
    import copy

    from padan.model.patterns import em_session
    from padan.model.settings import model_columns_from_settings
    from padan.model.splink_io import make_linker

    spark, persons, settings = world["spark"], world["persons"], world["settings"]
    settings = copy.deepcopy(settings)
    settings["max_iterations"] = 25
    settings["em_convergence"] = 1e-7
    linker, _ = make_linker(spark, persons, settings, model_columns_from_settings(settings), tag="em")
    linker.training.estimate_parameters_using_expectation_maximisation(EM_RULE,
                                                                       estimate_without_term_frequencies=True)
    theirs = {c["output_column_name"]: c for c in linker.misc.save_model_to_json()["comparisons"]}
    ours_settings, result = em_session(spark, persons, settings, EM_RULE)
    ours = {c["output_column_name"]: c for c in ours_settings["comparisons"]}
    before = {c["output_column_name"]: c for c in settings["comparisons"]}

    assert set(result.m) == {"sex", "nik", "no_kk", "region", "phone", "email"}   # name, birth_date: in the rule
    assert result.iterations > 1
    moved = 0
    for name, a, b, o in _levels(ours, theirs, before):
        assert a["m_probability"] == pytest.approx(b["m_probability"], abs=1e-6), name
        assert a["u_probability"] == pytest.approx(b["u_probability"], abs=1e-12), name
        moved += abs(a["m_probability"] - o["m_probability"]) > 1e-3
    assert moved >= 6      # EM changed the m of the active comparisons: the comparison is not vacuous


def test_em_sessions_on_pattern_counts_match_splinks_training_sessions(world):
    """Two EM sessions on pattern counts (`counts.em_sessions`, what `m_method: em` runs with
    `training.engine: padan`) end with the m Splink's linker ends with after the same two
    `estimate_parameters_using_expectation_maximisation` calls (without term frequencies): each
    session starts where the last left the model, and a comparison both sessions estimate ends
    with the median of their estimates. Within 1e-6."""
    import copy

    from padan.model.counts import em_sessions
    from padan.model.settings import model_columns_from_settings
    from padan.model.splink_io import make_linker

    spark, persons, settings = world["spark"], world["persons"], world["settings"]
    settings = copy.deepcopy(settings)
    settings["max_iterations"] = 25
    settings["em_convergence"] = 1e-7
    rules = ["l.nik_cmp = r.nik_cmp", EM_RULE]
    linker, _ = make_linker(spark, persons, settings, model_columns_from_settings(settings), tag="em2")
    for rule in rules:
        linker.training.estimate_parameters_using_expectation_maximisation(rule, estimate_without_term_frequencies=True)
    theirs = {c["output_column_name"]: c for c in linker.misc.save_model_to_json()["comparisons"]}
    ours_settings, iterations = em_sessions(spark, persons, settings, rules)
    ours = {c["output_column_name"]: c for c in ours_settings["comparisons"]}
    before = {c["output_column_name"]: c for c in settings["comparisons"]}

    assert len(iterations) == 2 and all(n > 1 for n in iterations.values())
    moved = {}
    for name, a, b, o in _levels(ours, theirs, before):
        assert a["m_probability"] == pytest.approx(b["m_probability"], abs=1e-6), name
        moved[name] = moved.get(name, False) or abs(a["m_probability"] - o["m_probability"]) > 1e-3
    # both sessions estimated sex and region (median of two); each estimated one of name / nik
    assert moved["sex"] and moved["region"] and moved["name"] and moved["nik"]


U_PAIRS = 50_000      # pairs of each engine's random u sample


def test_training_on_counts_matches_splink_training(world):
    """padan's training on counts (`training.engine: padan`) and Splink's training calls on the same
    records: the same prior and the same m from the same label pairs (to 1e-12), and u from two
    different random samples of pairs agreeing within sampling error."""
    import math

    from padan.model.train import train_model

    spark, persons, cfg = world["spark"], world["persons"], world["ctx"].cfg
    model = cfg.model.model_copy(update={"training": cfg.model.training.model_copy(update={"u_max_pairs": U_PAIRS})})
    ours = train_model(spark, persons, model.model_copy(update={
        "training": model.training.model_copy(update={"engine": "padan"})}))
    theirs = train_model(spark, persons, model.model_copy(update={
        "training": model.training.model_copy(update={"engine": "splink"})}))

    assert ours.label_pairs["nik_anchored"] == theirs.label_pairs["nik_anchored"] > 50
    assert ours.label_pairs["agreement_anchored"] == theirs.label_pairs["agreement_anchored"] > 10
    a, b = ours.settings, theirs.settings
    assert a["probability_two_random_records_match"] == pytest.approx(b["probability_two_random_records_match"],
                                                                      rel=1e-12)
    checked_u = 0
    for ca, cb in zip(a["comparisons"], b["comparisons"]):
        assert ca["output_column_name"] == cb["output_column_name"]
        for la, lb in zip(ca["comparison_levels"], cb["comparison_levels"]):
            if la.get("is_null_level"):
                continue
            assert la["m_probability"] == pytest.approx(lb["m_probability"], abs=1e-12), ca["output_column_name"]
            u = lb["u_probability"]
            if u > 3.0 / U_PAIRS:         # seen in Splink's sample: the two samples must agree
                # Five standard errors of a share in a sample of pairs, with the samples' pairs
                # counted at three quarters (pairs of one sampled record are not independent).
                tolerance = 5 * math.sqrt(u * (1 - u) / (0.75 * U_PAIRS)) + 0.002
                assert abs(la["u_probability"] - u) <= tolerance, (ca["output_column_name"], la["u_probability"], u)
                checked_u += 1
    assert checked_u >= 15


# ---------------------------------------------------------------- block-size cap

def _pair_keys(pairs) -> dict:
    """(unique_id, unique_id) in sorted order -> match_key, of engine.candidate_pairs' rows."""
    out = {}
    for r in pairs.collect():
        key = tuple(sorted((r["unique_id_l"], r["unique_id_r"])))
        assert key not in out, "a pair produced twice"
        out[key] = int(r["match_key"])
    return out


def _capped_reference(persons, rules: list[str], cap: int) -> dict:
    """The pairs a block-size cap keeps, computed rule by rule with plain joins (no hashing, no
    shared keyed join): rule k's pairs are those of records in blocks of at most `cap` records
    (records sharing the values of its l.x = r.x columns), each pair for the first such rule."""
    from padan.link.predict import equi_join_keys

    cid = lambda side: F.concat(F.col(f"{side}.source_dataset"), F.lit("-__-"), F.col(f"{side}.unique_id"))  # noqa: E731
    best: dict = {}
    for k, rule in enumerate(rules):
        keys = equi_join_keys(rule)
        complete = persons.where(" AND ".join(f"{c} IS NOT NULL" for c in keys))
        small = complete.groupBy(*keys).count().where(F.col("count") <= cap).drop("count")
        ok = complete.join(small, keys, "left_semi")
        found = (ok.alias("l").join(ok.alias("r"), F.expr(rule) & (cid("l") < cid("r")))
                 .select(F.col("l.unique_id").alias("a"), F.col("r.unique_id").alias("b")).collect())
        for a, b in found:
            best.setdefault(tuple(sorted((a, b))), k)
    return best


def test_block_size_cap_drops_exactly_the_pairs_of_oversize_blocks(world):
    from padan.link import engine

    spark, persons, settings = world["spark"], world["persons"], world["settings"]
    rules = [r["blocking_rule"] for r in settings["blocking_rules_to_generate_predictions"]]
    uncapped = _pair_keys(engine.candidate_pairs(spark, persons, settings))
    # A cap no block of the fixture reaches changes nothing.
    assert _pair_keys(engine.candidate_pairs(spark, persons, settings, block_size_cap=1_000_000)) == uncapped
    cap = 3
    capped = _pair_keys(engine.candidate_pairs(spark, persons, settings, block_size_cap=cap))
    assert capped == _capped_reference(persons, rules, cap)
    # The fixture reaches the cap: some pairs are dropped, and some a capped rule would have found
    # first are left to a later rule (their match_key moves on).
    assert set(capped) < set(uncapped)
    assert any(capped[p] > uncapped[p] for p in capped)


def test_block_size_cap_in_an_increment_as_in_a_full_run(world):
    """An increment's pairs under a cap are the pairs with a new record that a full run over the
    existing and new records scores under that cap: a block counts both."""
    from padan.link import engine

    spark, persons, settings, tf = world["spark"], world["persons"], world["settings"], world["tf"]
    cap = 3
    # A third of the records new: blocks holding new and existing records are common.
    is_new = F.pmod(F.xxhash64("unique_id", F.lit(3)), F.lit(3)) == 0
    existing, new = persons.where(~is_new), persons.where(is_new)
    new_ids = {r[0] for r in new.select("unique_id").collect()}
    full = _rows(engine.predict_pairs(spark, persons, settings, min_probability=0.0, tf_tables=tf,
                                      block_size_cap=cap), settings)
    inc = _rows(engine.predict_increment(spark, existing, new, settings, min_probability=0.0, tf_tables=tf,
                                         block_size_cap=cap), settings)
    with_new = {k: v for k, v in full.items() if k[0] in new_ids or k[1] in new_ids}
    _assert_same(inc, with_new)
    # The cap took pairs with a new record away, and counting only the batch's records would have
    # kept some new x new pairs of blocks that the existing records fill over the cap.
    uncapped = _rows(engine.predict_increment(spark, existing, new, settings, min_probability=0.0, tf_tables=tf),
                     settings)
    assert set(inc) < set(uncapped)
    only_new = _rows(engine.predict_pairs(spark, new, settings, min_probability=0.0, tf_tables=tf,
                                          block_size_cap=cap), settings)
    assert set(only_new) - set(inc), "the fixture has new x new pairs in blocks over the cap with existing records"
