"""Blocking recall against a truth table: per rule alone, per rule beyond the earlier ones, union."""

from __future__ import annotations

import json

import pytest

from padan.evaluate.blocking import blocking_recall, format_report

RULES = ["l.nik_cmp = r.nik_cmp", "l.name_phonetic = r.name_phonetic AND l.kabupaten = r.kabupaten"]


def test_recall_per_rule_first_found_and_union(spark):
    persons = spark.createDataFrame([
        ("a1", "3201010101900001", "BUDI", "BOGOR"),
        ("a2", "3201010101900001", "SITI", "BOGOR"),     # a1-a2: same NIK
        ("a3", None, "SITI", "BOGOR"),                   # a2-a3: name + kabupaten; a1-a3: nothing
        ("b1", "3201010101900002", "ANI", "DEPOK"),      # b2 was rejected: not in persons
        ("d1", None, None, None),
        ("d2", None, None, None),                        # nulls never block together
        ("e1", "3201010101900003", "AGUS", "BOGOR"),
        ("e2", "3201010101900003", "AGUS", "BOGOR"),     # both rules: first found by the NIK rule
        ("x1", "3201010101900001", "BUDI", "BOGOR"),     # a different person: not a true pair
    ], "unique_id string, nik_cmp string, name_phonetic string, kabupaten string")
    truth = spark.createDataFrame([("a1", "A"), ("a2", "A"), ("a3", "A"), ("b1", "B"), ("b2", "B"), ("d1", "D"),
                                   ("d2", "D"), ("e1", "E"), ("e2", "E"), ("x1", "X"), ("c1", "C")],
                                  "unique_id string, true_id string")
    got = blocking_recall(persons, truth, RULES)
    assert (got.true_pairs, got.true_pairs_in_silver, got.union_found) == (6, 5, 3)
    assert got.union_recall == pytest.approx(0.5)
    assert [(r.true_pairs_found, r.true_pairs_first_found) for r in got.rules] == [(2, 2), (2, 1)]
    assert [r.cumulative_recall for r in got.rules] == pytest.approx([2 / 6, 3 / 6])
    report = format_report(got, [10, 20])
    assert "30 candidate pairs" in report and "recall 0.5000" in report


@pytest.mark.integration
def test_cli_reports_blocking_recall_on_the_committed_extracts(pipeline_run, tmp_path, capsys):
    """The shipped rules on the committed pipeline extracts (the shared pipeline run's lake), through
    `padan blocking --truth`, with an overlay-only --conf-dir."""
    from pathlib import Path

    from padan import config
    from padan.cli import main

    ctx = pipeline_run[0]
    data = Path(ctx.cfg.sources["p3ke"].path).parent
    overlay = tmp_path / "conf"
    (overlay / "sources").mkdir(parents=True)
    for source in ("p3ke", "prakerja"):
        (overlay / "sources" / f"{source}.yml").write_text(f"path: {data / source}\n")
    lake = ctx.cfg.lake.root
    cfg = config.load(env="base", conf_dir=overlay, overrides={"lake": {"root": lake}})
    out = tmp_path / "recall.json"
    code = main(["blocking", "--env", "base", "--conf-dir", str(overlay), "--lake", lake, "--truth",
                 str(data / "truth"), "--json", str(out), "--run-date", "2026-11-28"])
    assert code == 0
    report = json.loads(out.read_text())
    assert [r["rule"] for r in report["rules"]] == list(cfg.model.blocking_rules)
    assert report["candidate_pairs"] == sum(report["pairs_added"]) > 0
    assert report["true_pairs_in_silver"] <= report["true_pairs"]
    assert report["union_found"] == sum(r["true_pairs_first_found"] for r in report["rules"])
    assert report["union_recall"] >= 0.98
    assert "union:" in capsys.readouterr().out
