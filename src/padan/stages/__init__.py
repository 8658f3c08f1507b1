"""The stages of a run as a declared graph: what each reads and writes, and the order of a full
pipeline and of an increment. `padan stages` prints it; docs/ARCHITECTURE.md draws it.

The runners are in `padan.runs`; this module only declares them. Tests hold the two together: the
tables a stage records in the ledger (`ops.runs.output_versions`) are exactly the tables it
declares here, and every stage reads only what an earlier stage of its run writes or what exists
before the run (inputs, a model, the state an increment adds to).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str               # the stage's name in ops.runs
    runner: str             # its function in padan.runs
    reads: tuple[str, ...]  # tables (and `files:` / `models/` inputs) it reads
    writes: tuple[str, ...]  # tables it writes, as its ledger row records them
    what: str
    files: tuple[str, ...] = ()    # what it writes besides tables (under the lake root)
    ledger: bool = True     # recorded in ops.runs (every stage but evaluate)


BRONZE = "bronze.<source>"

INGEST = Stage("ingest", "run_ingest", ("files:<source>",), (BRONZE, "silver.persons", "ops.rejects", "ops.quality"),
               "read one batch of a source, standardise it; every row to silver.persons or ops.rejects")
TRAIN = Stage("train", "run_train", ("silver.persons",), ("gold.model_params", "gold.model_tf"),
              "prior, u and m (NIK-anchored labels or EM) on pattern counts; a new model version",
              files=("models/<version>.json",))
PLAN = Stage("plan", "link_run_id", ("ops.runs",), (),
             "name the run (or find the one these inputs already have) and the model version it uses")
PREDICT = Stage("predict", "run_predict", ("silver.persons", "gold.model_tf", "models/<version>.json"),
                ("gold.pairs",), "candidate pairs of the blocking rules, scored in one plan (the run's slice)")
CLUSTER = Stage("cluster", "run_cluster", ("silver.persons", "gold.pairs", "gold.clusters"),
                ("gold.clusters", "gold.id_changes"),
                "connected components at the threshold; stable person ids carried over from the previous state")
CLUSTER_THRESHOLDS = Stage("cluster_thresholds", "run_cluster_thresholds", ("gold.pairs",),
                           ("gold.clusters_at_thresholds",), "components at link.extra_thresholds (if any)")
MARTS = Stage("marts", "run_marts", ("gold.clusters", "silver.persons", "gold.id_changes"),
              ("gold.person_profile", "gold.overlap_by_region", "gold.targeting"),
              "one row per person, then the overlap ('irisan') and targeting marts of the run")
REPORT = Stage("report_html", "run_report_html",
               ("ops.runs", "ops.quality", "ops.rejects", "silver.persons", "gold.pairs", "gold.clusters",
                "gold.model_params", "gold.overlap_by_region", "ops.evaluations"), (),
               "the run's self-contained HTML report (aggregates only)", files=("reports/<run_id>/report.html",))
EVALUATE = Stage("evaluate", "run_evaluate", ("files:<truth>", "gold.pairs", "gold.clusters"), ("ops.evaluations",),
                 "precision, recall and F1 against a truth table (generated data)", ledger=False)
CLUSTER_INCREMENT = Stage("cluster", "run_cluster_increment", ("silver.persons", "gold.pairs", "gold.clusters"),
                          ("gold.clusters", "gold.id_changes"),
                          "re-cluster only the persons the batch touches; MERGE into gold.clusters")

# `padan pipeline` (train only with --train or when the lake has no model) and `padan increment`.
PIPELINE = (INGEST, TRAIN, PLAN, PREDICT, CLUSTER, CLUSTER_THRESHOLDS, MARTS, REPORT)
INCREMENT = (INGEST, PLAN, PREDICT, CLUSTER_INCREMENT, MARTS)
OTHER = (EVALUATE,)

# What exists before a run and its stages may read: the inputs, the ledger, a trained model (a
# pipeline without --train uses the lake's), the state a run builds on (the previous gold.clusters)
# and earlier evaluations (the report shows them).
BEFORE_A_RUN = ("files:<source>", "files:<truth>", "ops.runs", "models/<version>.json", "gold.model_tf",
                "gold.clusters", "ops.evaluations")


def describe() -> str:
    """The graph as text: one block per run kind, one line per stage with what it reads and writes."""
    lines = []
    for title, stages in (("padan pipeline", PIPELINE), ("padan increment --source S --path P", INCREMENT),
                          ("padan evaluate --truth T", OTHER)):
        lines.append(f"{title}:")
        for s in stages:
            lines.append(f"  {s.name:<19}{s.what}")
            lines.append(f"  {'':<19}reads  {', '.join(s.reads)}")
            writes = [*s.writes, *s.files]
            lines.append(f"  {'':<19}writes {', '.join(writes) if writes else '(the ledger only)'}")
        lines.append("")
    lines.append("Every stage but evaluate records one row in ops.runs (status, table versions, row counts).")
    return "\n".join(lines)
