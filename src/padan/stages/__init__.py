"""The stages of a run as a declared graph: what each reads and writes, and the order of a full
pipeline and of an increment. `padan stages` prints it; docs/ARCHITECTURE.md draws it.

Each stage is a module of this package and declares itself (a `runner.Stage`) beside its code; the
runner (`runner.run_stage`) records in the ledger the versions of exactly the tables a stage
declares it writes, and `pipeline` runs a full run and an increment as lists of these stages. Tests
check that every stage reads only what an earlier stage of its run writes or what exists before the
run (inputs, a model, the state an increment adds to).
"""

from __future__ import annotations

from padan.stages.cluster import (CLUSTER, CLUSTER_INCREMENT, CLUSTER_THRESHOLDS, run_cluster, run_cluster_increment,
                                  run_cluster_thresholds)
from padan.stages.evaluate import EVALUATE, run_evaluate
from padan.stages.ingest import INGEST, IngestResult, run_ingest
from padan.stages.marts import MARTS, run_marts
from padan.stages.pipeline import FULL_RUN, INCREMENT_RUN, IncrementResult, PipelineResult, run_increment, run_pipeline
from padan.stages.plan import PLAN, current_run_id, increment_run_id, link_run_id, run_chain
from padan.stages.predict import PREDICT, run_predict
from padan.stages.report import REPORT, run_report_html
from padan.stages.runner import BRONZE, Ctx, FaultInjected, Stage
from padan.stages.train import TRAIN, run_train

# The graph, and what callers (the CLI, notebooks, benchmarks, tests) run: the context and each
# stage's entry point, a full run and an increment.
__all__ = ["BEFORE_A_RUN", "BRONZE", "CLUSTER", "CLUSTER_INCREMENT", "CLUSTER_THRESHOLDS", "EVALUATE", "INCREMENT",
           "INGEST", "MARTS", "OTHER", "PIPELINE", "PLAN", "PREDICT", "REPORT", "Stage", "TRAIN", "describe",
           "Ctx", "FaultInjected", "IncrementResult", "IngestResult", "PipelineResult", "current_run_id",
           "increment_run_id", "link_run_id", "run_chain", "run_cluster", "run_cluster_increment",
           "run_cluster_thresholds", "run_evaluate", "run_increment", "run_ingest", "run_marts", "run_pipeline",
           "run_predict", "run_report_html", "run_train"]

# `padan pipeline` (train only with --train or when the lake has no model; the report last) and
# `padan increment`: the stages their runs go through, in order.
PIPELINE = tuple(stage for stage, _ in FULL_RUN)
INCREMENT = tuple(stage for stage, _ in INCREMENT_RUN)
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
