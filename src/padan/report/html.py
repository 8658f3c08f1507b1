"""The run report: one self-contained HTML file per link run, under `<lake>/reports/<run_id>/`.

Spark does every grouping; only small aggregates reach the driver (per source, per reason, per
histogram bin, per province, per model level, per stage). The file holds no personal values: no
NIK, names, dates of birth, phones, e-mails, record or person ids. Charts are Altair (Vega-Lite)
specs drawn by vega-embed, whose JavaScript is inlined once, so the file opens offline.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from importlib import resources
from typing import Any

import jinja2
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from padan import ledger
from padan.ledger import model_version_of
from padan.tables import CLUSTERS, EVALUATIONS, MODEL_PARAMS, OVERLAP_BY_REGION, PAIRS, PERSONS, QUALITY, REJECTS

logger = logging.getLogger(__name__)

MEMBERSHIP = ["both", "P3KE only", "Prakerja only"]
MEMBERSHIP_COLOURS = ["#54a24b", "#4c78a8", "#f58518"]
WEIGHT_BIN = 1.0          # width of a match-weight histogram bin
MAX_CLUSTER_SIZE_SHOWN = 20   # larger clusters are pooled into one bar ("20+")


@dataclass
class ReportData:
    """Everything the report shows: small lists of plain dicts, aggregates only."""
    run_id: str
    model_version: str | None
    threshold: float
    sources: list[dict] = field(default_factory=list)          # source, rows, standardised, rejected, valid_nik_share
    rejects: list[dict] = field(default_factory=list)          # source, reason, rows
    weights: list[dict] = field(default_factory=list)          # bin, link, pairs
    cluster_sizes: list[dict] = field(default_factory=list)    # size, membership, persons
    overlap: list[dict] = field(default_factory=list)          # province, membership, persons
    national: dict | None = None                               # persons_p3ke, persons_prakerja, persons_both, shares
    params: list[dict] = field(default_factory=list)           # comparison, level, label, m, u, match_weight
    curve: list[dict] = field(default_factory=list)            # threshold, metric, value, best, configured
    cluster_metrics: list[dict] = field(default_factory=list)  # kind, precision, recall, f1
    timings: list[dict] = field(default_factory=list)          # run_id, stage, status, seconds, started_at
    batches: list[str] = field(default_factory=list)
    suppress_below: int = 0                                    # person counts below this are shown as "<k"


# ---------------------------------------------------------------- small-cell suppression

def suppress_counts(rows: list[dict], key: str, k: int) -> list[dict]:
    """Person counts below k withheld (None) in small aggregate rows, with a `<key>_label` ("<k" or
    the number) for tooltips. Counts the mart already withheld (None) stay withheld. k <= 1: off."""
    for r in rows:
        v = r.get(key)
        if v is not None and k > 1 and v < k:
            r[key] = v = None
        r[f"{key}_label"] = f"<{k}" if v is None else f"{int(v):,}"
    return rows


# ---------------------------------------------------------------- reading (aggregates only)

def _rows(df: DataFrame, *order: str) -> list[dict]:
    """The rows of a small aggregate, as dicts; sorted here by `order` (column names, "-name" for
    descending) as Spark's ORDER BY would sort them: ascending with NULLs first, descending with
    NULLs last, NaN above every number. Sorting a few hundred rows on the driver spares the query a
    range-partitioning shuffle (under adaptive execution, a sampling job and a shuffle stage)."""
    rows = [r.asDict(recursive=True) for r in df.collect()]
    for name in reversed(order):
        col = name.lstrip("-")
        rows.sort(key=lambda r: _order_key(r[col]), reverse=name.startswith("-"))
    return rows


def _order_key(v) -> tuple:
    if v is None:
        return (0, 0, 0)
    if isinstance(v, float) and math.isnan(v):
        return (1, 1, 0)
    return (1, 0, v)


def _ledger(ctx, run_id: str) -> dict[str, dict]:
    """Succeeded stage rows of this run, by stage (from the ledger's rows this process holds: no
    Spark job while ops.runs has not moved)."""
    keys = ("stage", "input_versions", "output_versions", "message", "model_version")
    return {r["stage"]: {k: r.get(k) for k in keys} for r in ledger.select(ctx.lake, run_id=run_id, status="succeeded")}


def _batches(ctx, version: int | None) -> list[str]:
    """silver.persons' batch ids at `version` (None: the newest), once per version in this process
    (the plan stage's memo of the same fact: batch ids are per source)."""
    def read(v):
        return sorted(r[0] for r in ctx.lake.read(PERSONS.name, version=v).select("batch_id").distinct().collect())

    if ctx.lake.catalog:    # Lake.memo reads a catalog table's newest version: read the one asked for
        return read(version)
    return list(ctx.lake.memo(PERSONS.name, "batch_ids", read, version=version))


def _round1(value: float | None) -> float | None:
    """Spark's `round(x, 1)` of a double (half up on its decimal representation)."""
    if value is None or not math.isfinite(value):
        return value
    return float(Decimal(repr(float(value))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _utc_text(ts: dt.datetime | None) -> str | None:
    """Spark's `date_format(ts, 'yyyy-MM-dd HH:mm:ss')` in the session's UTC of a collected timestamp
    (naive: local time, as PySpark returns it)."""
    return None if ts is None else ts.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _timings(ctx, run_id: str, batches: list[str], model_version: str | None) -> list[dict]:
    """This run's stages (but the report), the ingests of its batches and the training of its model
    version, from the ledger's rows this process holds, in start order."""
    def wanted(r: dict) -> bool:
        if r["run_id"] == run_id and r["stage"] != "report_html":
            return True
        if r["stage"] == "ingest" and r["run_id"] in batches:
            return True
        return r["stage"] == "train" and model_version is not None and (
            r["model_version"] == model_version or r["message"] == f"model_version={model_version}")

    rows = sorted((r for r in ledger.rows(ctx.lake) if wanted(r)), key=lambda r: r["started_at"])
    return [{"run_id": r["run_id"], "stage": r["stage"], "status": r["status"], "seconds": _round1(r["seconds"]),
             "started_at": _utc_text(r["started_at"])} for r in rows]


def _versioned(ctx, table: str, stage_row: dict | None, key: str) -> DataFrame:
    """The table as the stage saw (input) or left (output) it, else its current state."""
    version = ((stage_row or {}).get(key) or {}).get(table)
    return ctx.lake.read(table, version=int(version)) if version is not None else ctx.lake.read(table)


def _model_version(ctx, run_id: str, ledger_rows: dict[str, dict]) -> str | None:
    for stage in ("predict", "plan"):
        version = model_version_of(ledger_rows.get(stage))
        if version:
            return version
    row = ctx.lake.read(PAIRS.name).where(F.col("run_id") == run_id).select("model_version").limit(1).collect()
    return row[0][0] if row else None


def collect_report_data(ctx, run_id: str) -> ReportData:
    """Read the lake's tables for one link run and reduce them, in Spark, to the report's aggregates."""
    ledger_rows = _ledger(ctx, run_id)
    threshold = float(ctx.cfg.link.threshold_match_probability)
    data = ReportData(run_id=run_id, model_version=_model_version(ctx, run_id, ledger_rows), threshold=threshold)

    # The ingest batches behind this run: those in silver.persons as predict read it.
    version = ((ledger_rows.get("predict") or {}).get("input_versions") or {}).get(PERSONS.name)
    data.batches = _batches(ctx, None if version is None else int(version))

    quality = ctx.lake.read(QUALITY.name).where(F.col("batch_id").isin(data.batches))
    per_batch = (quality.where(F.col("field").isNull())
                 .groupBy("source", "batch_id").pivot("metric", ["rows", "standardised", "rejected", "valid_nik_share"])
                 .agg(F.first("value")))
    data.sources = _rows(per_batch.groupBy("source").agg(
        F.sum("rows").cast("long").alias("rows"), F.sum("standardised").cast("long").alias("standardised"),
        F.sum("rejected").cast("long").alias("rejected"),
        F.try_divide(F.sum(F.col("valid_nik_share") * F.col("rows")), F.sum("rows")).alias("valid_nik_share"),
    ), "source")
    data.rejects = _rows(
        ctx.lake.read(REJECTS.name).where(F.col("batch_id").isin(data.batches))
        .select("source", F.explode("reasons").alias("reason")).groupBy("source", "reason")
        .agg(F.count("*").alias("rows")), "source", "reason")

    pairs = ctx.lake.read(PAIRS.name).where(F.col("run_id") == run_id)
    link = (F.when(F.col("source_dataset_l") == F.col("source_dataset_r"),
                   F.concat(F.lit("within "), F.col("source_dataset_l")))
            .otherwise(F.concat_ws(" – ", F.least("source_dataset_l", "source_dataset_r"),
                                   F.greatest("source_dataset_l", "source_dataset_r"))))
    data.weights = _rows(
        pairs.select((F.floor(F.col("match_weight") / WEIGHT_BIN) * WEIGHT_BIN).alias("bin"), link.alias("link"))
        .groupBy("bin", "link").agg(F.count("*").alias("pairs")), "bin", "link")

    clusters = _versioned(ctx, CLUSTERS.name, ledger_rows.get("cluster"), "output_versions")
    per_person = clusters.groupBy("person_id").agg(
        F.count("*").alias("size"), F.max("in_p3ke").alias("p"), F.max("in_prakerja").alias("k"))
    membership = (F.when(F.col("p") & F.col("k"), F.lit("both")).when(F.col("p"), F.lit("P3KE only"))
                  .otherwise(F.lit("Prakerja only")))
    size_label = F.when(F.col("size") >= MAX_CLUSTER_SIZE_SHOWN, F.lit(f"{MAX_CLUSTER_SIZE_SHOWN}+")).otherwise(
        F.col("size").cast("string"))
    data.cluster_sizes = _rows(
        per_person.select(F.least(F.col("size"), F.lit(MAX_CLUSTER_SIZE_SHOWN)).alias("size"),
                          size_label.alias("size_label"), membership.alias("membership"))
        .groupBy("size", "size_label", "membership").agg(F.count("*").alias("persons")), "size", "membership")

    # One read of the run's province and national rows; the stacking is done here on those few rows.
    overlap = _rows(ctx.lake.read(OVERLAP_BY_REGION.name).where(
        (F.col("run_id") == run_id) & F.col("desil").isNull() & F.col("level").isin("province", "national"))
        .select("level", "province_name", "province_code", "persons_p3ke", "persons_prakerja", "persons_both",
                "share_p3ke_in_prakerja", "share_prakerja_in_p3ke", "suppression_k"))
    data.overlap = sorted(
        ({"province": next((v for v in (r["province_name"], r["province_code"]) if v is not None), "(unknown)"),
          "share": r["share_p3ke_in_prakerja"], "membership": membership, "persons": persons}
         for r in overlap if r["level"] == "province"
         for membership, persons in (("both", r["persons_both"]),
                                     ("P3KE only", _minus(r["persons_p3ke"], r["persons_both"])),
                                     ("Prakerja only", _minus(r["persons_prakerja"], r["persons_both"])))),
        key=lambda r: (r["province"], r["membership"]))
    national = [{k: r[k] for k in ("persons_p3ke", "persons_prakerja", "persons_both", "share_p3ke_in_prakerja",
                                   "share_prakerja_in_p3ke", "suppression_k")}
                for r in overlap if r["level"] == "national"]
    data.national = national[0] if national else None
    # Person counts: the mart withheld its small cells with the k of its run; the report withholds
    # with the larger of that and the configured k (rows, rejects and pairs are counts of records
    # and pairs, quality figures about the data, and are shown as they are).
    k = max(int(ctx.cfg.marts.suppress_below), int((data.national or {}).get("suppression_k") or 0))
    data.suppress_below = k if k > 1 else 0
    suppress_counts(data.cluster_sizes, "persons", k)
    suppress_counts(data.overlap, "persons", k)
    hidden_both = {r["province"] for r in data.overlap if r["membership"] == "both" and r["persons"] is None}
    for r in data.overlap:
        if r["province"] in hidden_both:
            r["share"] = None       # the share with a visible P3KE total would give the withheld count
    if data.national:
        for key in ("persons_p3ke", "persons_prakerja", "persons_both"):
            suppress_counts([data.national], key, k)
        if data.national["persons_both"] is None:
            data.national["share_p3ke_in_prakerja"] = data.national["share_prakerja_in_p3ke"] = None

    if data.model_version:
        data.params = _rows(
            ctx.lake.read(MODEL_PARAMS.name)
            .where((F.col("model_version") == data.model_version) & (F.col("level") >= 0))
            .select("comparison", "level", "label", F.col("m_probability").alias("m"),
                    F.col("u_probability").alias("u"), "match_weight"), "comparison", "-level")

    # One read of the run's evaluation rows; the pairwise curve is stacked here.
    evaluations = _rows(ctx.lake.read(EVALUATIONS.name).where(F.col("run_id") == run_id).select(
        "kind", "threshold", "precision", "recall", "f1", "is_best_f1", "is_configured_threshold"))
    data.curve = sorted(
        ({"threshold": r["threshold"], "best": r["is_best_f1"], "configured": r["is_configured_threshold"],
          "metric": metric, "value": r[key]}
         for r in evaluations if r["kind"] == "pairwise"
         for metric, key in (("precision", "precision"), ("recall", "recall"), ("F1", "f1"))),
        key=lambda r: (_nulls_first(r["threshold"]), r["metric"]))
    data.cluster_metrics = sorted(
        ({k: r[k] for k in ("kind", "threshold", "precision", "recall", "f1")}
         for r in evaluations if r["kind"] != "pairwise"), key=lambda r: _nulls_first(r["kind"]))

    data.timings = _timings(ctx, run_id, data.batches, data.model_version)
    for r in data.timings:
        r["step"] = f"{r['stage']} ({r['run_id'][:14]})" if r["stage"] in ("ingest", "train") else r["stage"]
    return data


def _minus(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a - b


def _nulls_first(v):
    """A sort key putting None first, as Spark's ascending order does."""
    return (v is not None, v if v is not None else 0)


# ---------------------------------------------------------------- charts

def _charts(data: ReportData) -> dict[str, dict]:
    """Vega-Lite specs (as dicts) by chart id; a chart without data is left out."""
    import altair as alt    # here, not at the top: importing altair takes ~1.5 s, which only the report pays

    specs: dict[str, Any] = {}
    if data.rejects:
        specs["rejects"] = alt.Chart(alt.Data(values=data.rejects)).mark_bar().encode(
            x=alt.X("rows:Q", title="rejected rows"), y=alt.Y("reason:N", title=None),
            color=alt.Color("source:N", title="source"), yOffset="source:N",
            tooltip=["source:N", "reason:N", "rows:Q"]).properties(width=520, title="Rejected rows by reason")
    if data.sources:
        specs["valid_nik"] = alt.Chart(alt.Data(values=data.sources)).mark_bar().encode(
            x=alt.X("valid_nik_share:Q", title="share of rows with a valid NIK", axis=alt.Axis(format="%"),
                    scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("source:N", title=None), color=alt.Color("source:N", legend=None),
            tooltip=["source:N", alt.Tooltip("valid_nik_share:Q", format=".1%"), "rows:Q"],
        ).properties(width=520, title="Valid NIK share per source")
    if data.weights:
        weight_at_threshold = _weight(data.threshold)
        bars = alt.Chart(alt.Data(values=data.weights)).mark_bar().encode(
            x=alt.X("bin:Q", bin=alt.BinParams(binned=True, step=WEIGHT_BIN), title="match weight"),
            x2="bin_end:Q", y=alt.Y("sum(pairs):Q", title="pairs"),
            color=alt.Color("link:N", title="pair"),
            tooltip=["bin:Q", "link:N", "pairs:Q"],
        ).transform_calculate(bin_end=f"datum.bin + {WEIGHT_BIN}")
        rule = alt.Chart(alt.Data(values=[{"w": weight_at_threshold}])).mark_rule(color="black", strokeDash=[4, 3]).encode(
            x="w:Q", tooltip=[alt.Tooltip("w:Q", title="match weight at the threshold", format=".2f")])
        specs["weights"] = (bars + rule).properties(
            width=620, height=260, title=f"Match weight of scored pairs (dashed: threshold {data.threshold:g})")
    if data.cluster_sizes:
        specs["cluster_sizes"] = alt.Chart(alt.Data(values=data.cluster_sizes)).mark_bar().encode(
            x=alt.X("size_label:O", sort=alt.EncodingSortField("size", order="ascending"),
                    title="records per person (cluster size)"),
            y=alt.Y("persons:Q", title="persons", scale=alt.Scale(type="symlog")), xOffset="membership:N",
            color=alt.Color("membership:N", title="person is in",
                            scale=alt.Scale(domain=MEMBERSHIP, range=MEMBERSHIP_COLOURS)),
            tooltip=["size_label:O", "membership:N", alt.Tooltip("persons_label:N", title="persons")],
        ).properties(width=520, height=260, title="Persons by cluster size (log scale)")
    if data.overlap:
        specs["overlap"] = alt.Chart(alt.Data(values=data.overlap)).mark_bar().encode(
            y=alt.Y("province:N", sort="-x", title=None), x=alt.X("sum(persons):Q", title="persons"),
            color=alt.Color("membership:N", title="person is in",
                            scale=alt.Scale(domain=MEMBERSHIP, range=MEMBERSHIP_COLOURS)),
            order=alt.Order("membership:N"),
            tooltip=["province:N", "membership:N", alt.Tooltip("persons_label:N", title="persons"),
                     alt.Tooltip("share:Q", title="share of P3KE persons in Prakerja", format=".1%")],
        ).properties(width=560, title="Overlap ('irisan') of persons by province")
    if data.params:
        rows = []
        for comparison in sorted({p["comparison"] for p in data.params}):
            values = [p for p in data.params if p["comparison"] == comparison]
            levels, height = alt.Data(values=values), 30 * len(values)
            y = alt.Y("level_label:N", title=comparison, sort=alt.EncodingSortField("level", order="descending"))
            base = alt.Chart(levels).transform_calculate(level_label="datum.level + ': ' + datum.label")
            mu = base.transform_fold(["m", "u"], as_=["probability", "value"]).mark_bar().encode(
                y=y, x=alt.X("value:Q", title="m and u probability", scale=alt.Scale(domain=[0, 1])),
                yOffset="probability:N", color=alt.Color("probability:N", title=None),
                tooltip=["label:N", "probability:N", alt.Tooltip("value:Q", format=".4f")],
            ).properties(width=300, height=height)
            weight = base.mark_bar().encode(
                y=y.axis(None), x=alt.X("match_weight:Q", title="match weight"),
                color=alt.condition("datum.match_weight >= 0", alt.value("#4c78a8"), alt.value("#e45756")),
                tooltip=["label:N", alt.Tooltip("match_weight:Q", format=".2f")],
            ).properties(width=220, height=height)
            rows.append(alt.hconcat(mu, weight))
        specs["model"] = alt.vconcat(*rows).properties(
            title=f"Model {data.model_version}: m and u per comparison level, and its match weight")
    if data.curve:
        line = alt.Chart(alt.Data(values=data.curve)).mark_line(point=True).encode(
            x=alt.X("threshold:O", title="match probability threshold"), y=alt.Y("value:Q", title=None,
                                                                             scale=alt.Scale(zero=False)),
            color=alt.Color("metric:N", title=None),
            tooltip=["threshold:O", "metric:N", alt.Tooltip("value:Q", format=".4f"), "best:N", "configured:N"])
        best = alt.Chart(alt.Data(values=[r for r in data.curve if r["best"] and r["metric"] == "F1"])).mark_point(
            shape="diamond", size=160, filled=True, color="black").encode(
            x="threshold:O", y="value:Q", tooltip=[alt.Tooltip("value:Q", title="best F1", format=".4f"), "threshold:O"])
        specs["accuracy"] = (line + best).properties(
            width=560, height=260, title="Pairwise precision, recall and F1 by threshold (diamond: best F1)")
    if data.timings:
        specs["timings"] = alt.Chart(alt.Data(values=data.timings)).mark_bar().encode(
            y=alt.Y("step:N", sort=alt.EncodingSortField("started_at", order="ascending"), title=None),
            x=alt.X("seconds:Q", title="seconds"), color=alt.Color("status:N", title=None),
            tooltip=["step:N", "status:N", "seconds:Q", "started_at:N"],
        ).properties(width=520, title="Seconds per stage")
    return {name: chart.to_dict() for name, chart in specs.items()}


def _weight(probability: float) -> float:
    p = min(max(probability, 1e-12), 1 - 1e-12)
    return math.log2(p / (1 - p))


# ---------------------------------------------------------------- HTML

def _cell(v: Any, fmt: str, k: int = 0) -> str:
    """One table value as text (the template escapes it): fmt '' text, 'n' integer, '%' share,
    'f' number, 'c' person count (withheld (None) or below k shown as "<k")."""
    if fmt == "c":
        return f"<{k}" if v is None or (k > 1 and v < k) else f"{int(v):,}"
    if v is None:
        return "–"
    if fmt == "n":
        return f"{int(v):,}"
    if fmt == "%":
        return f"{100 * float(v):.1f}%"
    if fmt == "f":
        return f"{float(v):.4f}"
    return str(v)


@functools.cache
def _template() -> jinja2.Template:
    """templates/report.html.j2, read through the package (a wheel or spark-submit's --py-files zip)."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["cell"] = _cell
    return env.from_string(resources.files("padan.report").joinpath("templates", "report.html.j2").read_text("utf-8"))


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("</", "<\\/").replace("<!--", "<\\!--")


def render_report(data: ReportData) -> str:
    """The report as one HTML string (templates/report.html.j2): inline vega-embed bundle, the chart
    specs, tables of aggregates."""
    from altair.utils._importers import import_vl_convert, vl_version_for_vl_convert   # ~1.5 s: see _charts

    specs = _charts(data)
    bundle = import_vl_convert().javascript_bundle(vl_version=vl_version_for_vl_convert())
    return _template().render(d=data, specs=specs, specs_json=_script_json(specs), bundle=bundle,
                              scored_pairs=f"{sum(r['pairs'] for r in data.weights):,}",
                              threshold_weight=_weight(data.threshold))


def report_uri(path: str) -> str:
    """A link to the report: object-store and `file:` paths as they are, local paths as file:// URIs."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", path):
        return path
    return Path(path).resolve().as_uri()


def write_run_report(ctx, run_id: str) -> str:
    """Write `<lake>/reports/<run_id>/report.html` for one link run; returns its path."""
    data = collect_report_data(ctx, run_id)
    page = render_report(data)
    path = ctx.lake.write_bytes(f"reports/{run_id}/report.html", page.encode("utf-8"))
    logger.info("run=%s report written: %s (%d bytes, %d charts)", run_id, path, len(page.encode("utf-8")),
                page.count('class="chart"'))
    return path
