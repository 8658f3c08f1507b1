"""The HTML run report: drawn by a real browser (headless Chromium, offline), aggregates only."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pyspark.sql import functions as F

pytestmark = pytest.mark.integration

CHROMIUM = next((c for c in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")) if c
                 and Path(c).exists()), None)
# Every chart the report draws for a run with rejects, pairs, clusters, marts, a model and an evaluation.
EXPECTED_CHARTS = {"valid_nik", "rejects", "weights", "cluster_sizes", "overlap", "model", "accuracy", "timings"}


def dump_dom(page: Path, profile_dir: Path) -> str:
    """The DOM after the page's scripts ran, from headless Chromium with networking off."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
           f"--user-data-dir={profile_dir}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def drawn_marks(dom: str) -> dict[str, tuple[int, int]]:
    """Per chart container: (SVG canvases, drawn mark elements) in the rendered DOM."""
    out = {}
    pieces = re.split(r'data-chart="([a-z_]+)"', dom)
    for name, segment in zip(pieces[1::2], pieces[2::2]):
        out[name] = (len(re.findall(r'<svg[^>]*class="marks"', segment)),
                     len(re.findall(r'role="graphics-symbol"', segment)))
    return out


def without_bundle(text: str) -> str:
    """The report minus the inlined vega JavaScript (library code, not report content)."""
    return re.sub(r'<script type="text/javascript" id="vega-bundle">.*?</script>', "", text, flags=re.S)


@pytest.fixture(scope="module")
def report(pipeline_run):
    from padan.stages import run_evaluate, run_report_html

    ctx, result, _ = pipeline_run
    if ctx.lake.read("ops.evaluations").where(F.col("run_id") == result.run_id).count() == 0:
        run_evaluate(ctx, result.run_id, str(Path(ctx.cfg.sources["p3ke"].path).parent / "truth"))
    path = run_report_html(ctx, result.run_id)
    return ctx, result, Path(path.removeprefix("file:"))


def test_report_is_one_offline_file_under_the_run(report):
    ctx, result, page = report
    assert page == Path(ctx.lake.path("reports", result.run_id, "report.html"))
    text = page.read_text(encoding="utf-8")
    assert 200_000 < len(text) < 5_000_000
    content = without_bundle(text)
    assert "vegaEmbed" in text and "vega-bundle" in text
    # nothing is fetched: no external scripts, styles, images or frames
    assert not re.search(r"<(script|img|iframe)[^>]*\bsrc=|<link\b|@import", content, flags=re.I)
    assert set(re.findall(r'data-chart="([a-z_]+)"', content)) == _expected_charts(ctx, result)
    if "rejects" not in _expected_charts(ctx, result):
        assert "No rejected rows." in content
    for heading in ("Input rows and rejects", "Scored pairs", "Overlap by province", "Model",
                    "Accuracy against truth", "Timings"):
        assert heading in content
    assert result.run_id in content and result.model_version in content


@pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI") != "true",
                    reason="headless Chromium not installed (make setup installs it as root)")
def test_every_chart_draws_in_headless_chromium(report, tmp_path):
    assert CHROMIUM, "headless Chromium is missing: make setup installs it (CI must not skip this test)"
    ctx, result, page = report
    dom = dump_dom(page, tmp_path / "chromium-profile")
    assert 'data-failed="true"' not in dom
    marks = drawn_marks(dom)
    assert set(marks) == _expected_charts(ctx, result)
    for name, (svgs, drawn) in marks.items():
        assert svgs >= 1 and drawn >= 2, (name, svgs, drawn)
    assert marks["overlap"][1] >= 10          # a bar per province and membership


def _expected_charts(ctx, result) -> set[str]:
    """Every chart, but the rejects chart only when the run's batches had rejected rows (the report
    then says "No rejected rows." instead)."""
    from padan.tables import REJECTS

    has_rejects = ctx.lake.read(REJECTS.name).limit(1).count() > 0
    return EXPECTED_CHARTS if has_rejects else EXPECTED_CHARTS - {"rejects"}


@pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI") != "true",
                    reason="headless Chromium not installed (make setup installs it as root)")
def test_the_rejects_chart_draws(tmp_path):
    """The rejects chart (whatever the shared pipeline run happens to reject): a report of rejects
    only, rendered and drawn in headless Chromium."""
    from padan.report.html import ReportData, render_report

    assert CHROMIUM, "headless Chromium is missing: make setup installs it (CI must not skip this test)"
    data = ReportData(run_id="r1", model_version="v1", threshold=0.9, rejects=[
        {"source": "p3ke", "reason": "no_name", "rows": 3}, {"source": "prakerja", "reason": "bad_date", "rows": 5}])
    page = tmp_path / "report.html"
    page.write_text(render_report(data), encoding="utf-8")
    marks = drawn_marks(dump_dom(page, tmp_path / "chromium-profile"))
    assert marks["rejects"][0] >= 1 and marks["rejects"][1] >= 2


def test_report_holds_no_personal_values(report):
    ctx, result, page = report
    content = without_bundle(page.read_text(encoding="utf-8"))
    persons = ctx.lake.read("silver.persons")
    samples: dict[str, list[str]] = {}
    for column, cond in [("nik", "nik IS NOT NULL"), ("name_clean", "name_tokens >= 2"),
                         ("phone", "phone IS NOT NULL"), ("email", "email IS NOT NULL"),
                         ("unique_id", "true"), ("no_kk", "no_kk IS NOT NULL")]:
        rows = persons.where(cond).select(F.col(column).cast("string")).distinct().orderBy(F.rand(3)).limit(40)
        samples[column] = [r[0] for r in rows.collect() if r[0] and len(r[0]) >= 6]
    dates = persons.where("birth_date IS NOT NULL").select(F.date_format("birth_date", "yyyy-MM-dd")).limit(40)
    samples["birth_date"] = [r[0] for r in dates.collect()]
    ids = ctx.lake.read("gold.clusters").select("person_id").distinct().limit(40)
    samples["person_id"] = [r[0] for r in ids.collect()]
    for column, values in samples.items():
        assert values, column
        leaked = [v for v in values if v in content]
        assert not leaked, f"{len(leaked)} value(s) of {column} appear in the report"


def _person_counts(page_text: str) -> tuple[list, list[str]]:
    """Person counts the report shows: every `persons` value in the chart data (overlap, cluster
    sizes) and the cells of the national persons table."""
    import json

    specs = json.loads(re.search(r"const padanSpecs = (\{.*?\});\n", page_text, flags=re.S).group(1))
    values: list = []

    def walk(node):
        if isinstance(node, dict):
            if "persons" in node:
                values.append(node["persons"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(specs)
    national = re.search(r"<h2>Persons</h2>\s*<table>.*?<tbody>(.*?)</tbody>", page_text, flags=re.S).group(1)
    return values, re.findall(r"<td>([^<]*)</td>", national)[:3]


def _assert_no_count_below(page_text: str, k: int) -> int:
    """No person count below k in the report; returns how many were withheld."""
    values, national = _person_counts(page_text)
    assert values and national
    assert all(v is None or v >= k for v in values), sorted(v for v in values if v is not None and v < k)
    for cell in national:
        assert cell == f"&lt;{k}" or int(cell.replace(",", "")) >= k, cell
    return sum(v is None for v in values) + sum(c == f"&lt;{k}" for c in national)


def test_report_shows_no_person_count_below_k(report):
    """Small-cell suppression: person counts (overlap by province, cluster sizes, national) below
    `marts.suppress_below` (10) are shown as "<10", counts of 10 or more as they are; a report with
    a larger k withholds more, whatever k the mart was written with."""
    import dataclasses

    from padan.report.html import collect_report_data, render_report

    ctx, result, page = report
    assert ctx.cfg.marts.suppress_below == 10
    text = page.read_text(encoding="utf-8")
    withheld = _assert_no_count_below(text, 10)
    # The run has small cells (a few persons with many records), and they were withheld, not dropped.
    sizes = (ctx.lake.read("gold.clusters").groupBy("person_id").agg(F.count("*").alias("n"))
             .groupBy("n").count().where("count < 10").count())
    assert sizes > 0 and withheld > 0 and "Person counts below 10 are shown as &lt;10" in text
    wider = dataclasses.replace(ctx, cfg=ctx.cfg.with_overrides({"marts": {"suppress_below": 100}}))
    strict = render_report(collect_report_data(wider, result.run_id))
    assert _assert_no_count_below(strict, 100) > withheld
    visible, _ = _person_counts(strict)
    assert any(v is not None and v >= 100 for v in visible)      # large counts are still shown


def test_withheld_counts_render_as_below_k():
    """A hand-made report: counts below k are neither in the tables nor in the chart data."""
    from padan.report.html import ReportData, render_report, suppress_counts

    overlap = suppress_counts([{"province": "ACEH", "membership": "both", "persons": 7, "share": 0.5},
                               {"province": "ACEH", "membership": "P3KE only", "persons": 12, "share": 0.5}],
                              "persons", 10)
    national = {"persons_p3ke": 1234, "persons_prakerja": None, "persons_both": 3,
                "share_p3ke_in_prakerja": None, "share_prakerja_in_p3ke": None}
    text = render_report(ReportData(run_id="r1", model_version="v1", threshold=0.9, overlap=overlap,
                                    national=national, suppress_below=10))
    values, cells = _person_counts(text)
    assert sorted(values, key=str) == [12, None]
    assert cells == ["1,234", "&lt;10", "&lt;10"]
    assert [r["persons_label"] for r in overlap] == ["<10", "12"]


def test_small_aggregates_are_sorted_on_the_driver_as_spark_orders_them(spark):
    """The report sorts its small aggregates on the driver (`_rows`), in ORDER BY's order: ascending
    with NULLs first, descending with NULLs last, NaN above every number, strings by code point."""
    from padan.report.html import _rows

    nan = float("nan")
    df = spark.createDataFrame(
        [("b", 2, 1.5), ("a", None, -1.0), (None, 3, nan), ("É", 1, None), ("a", 7, 0.0), ("Z", 2, 2.5),
         ("b", None, nan), ("aa", 3, -0.5), (None, None, None), ("a", 1, 1e9)],
        "s STRING, i INT, d DOUBLE")
    for order in (["s", "-i"], ["-d", "s"], ["d"], ["i", "-s", "d"], ["-s", "-d"]):
        spark_order = [F.desc(o[1:]) if o.startswith("-") else F.col(o) for o in order]
        want = [r.asDict() for r in df.orderBy(*spark_order, "s", "i", "d").collect()]
        got = _rows(df, *order, "s", "i", "d")
        assert [repr(r) for r in got] == [repr(r) for r in want], order
