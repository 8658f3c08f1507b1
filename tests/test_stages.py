"""The declared stage graph (padan.stages) is the one the runners follow: each stage records in
the ledger exactly the tables it declares, reads only what exists before the run or an earlier
stage wrote, and `padan stages` prints it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from padan import stages
from padan.tables import FIXED_BY_NAME, RUNS

REPO = Path(__file__).resolve().parents[1]
ALL = {s for run in (stages.PIPELINE, stages.INCREMENT, stages.OTHER) for s in run}


def _is_table(name: str) -> bool:
    return name in FIXED_BY_NAME or name == stages.BRONZE


def test_every_declared_table_is_a_lake_table_and_every_lake_table_has_a_writer():
    for s in ALL:
        for t in (*s.reads, *s.writes):
            assert _is_table(t) or t.startswith(("files:", "models/")), (s.name, t)
        assert all(_is_table(t) for t in s.writes), s.name
    written = {t for s in ALL for t in s.writes} | {RUNS.name}      # the ledger writes ops.runs
    assert written == {*FIXED_BY_NAME, stages.BRONZE}


@pytest.mark.parametrize("run", [stages.PIPELINE, stages.INCREMENT])
def test_a_stage_reads_only_what_exists_before_the_run_or_an_earlier_stage_wrote(run):
    available = set(stages.BEFORE_A_RUN)
    for s in run:
        assert set(s.reads) <= available, (s.name, set(s.reads) - available)
        available |= {*s.writes, *s.files}


def test_padan_stages_prints_the_graph(capsys):
    from padan.cli import main

    assert main(["stages"]) == 0
    out = capsys.readouterr().out
    for s in ALL:
        assert f"  {s.name} " in out
        for t in (*s.reads, *s.writes):
            assert t in out
    assert out.index("padan pipeline:") < out.index("padan increment")


def test_architecture_page_names_every_stage_and_table():
    page = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    for s in ALL:
        assert f"`{s.name}`" in page, s.name
    for t in (*FIXED_BY_NAME, stages.BRONZE):
        assert t in page, t


def _declared_writes(name: str, run: tuple) -> set[str]:
    (s,) = [s for s in run if s.name == name]
    return set(s.writes)


def ledger_matches_declaration(lake, run_ids: list[str], run: tuple) -> int:
    """Every succeeded ledger row of these runs records exactly its stage's declared tables (bronze
    as bronze.<source>); returns how many rows were checked."""
    rows = (lake.read(RUNS.name).where(F.col("run_id").isin(run_ids) & (F.col("status") == "succeeded"))
            .select("stage", "output_versions").collect())
    for r in rows:
        got = {stages.BRONZE if t.startswith("bronze.") else t for t in (r["output_versions"] or {})}
        assert got == _declared_writes(r["stage"], run), r["stage"]
    return len(rows)


@pytest.mark.integration
def test_the_pipelines_ledger_records_what_each_stage_declares(pipeline_run):
    ctx, result, _ = pipeline_run
    batches = [i.batch_id for i in result.ingest]
    trains = [r[0] for r in ctx.lake.read(RUNS.name).where(F.col("stage") == "train").select("run_id").collect()]
    checked = ledger_matches_declaration(ctx.lake, [result.run_id, *batches, *trains], stages.PIPELINE)
    assert checked >= 7       # two ingests, train, plan, predict, cluster, marts (report: no table)


def test_every_stage_a_module_declares_is_in_the_graph_and_the_runs_are_its_lists():
    """A stage module's declaration (beside its code, used by the runner) is the one the graph
    prints; a full run and an increment run exactly the declared lists."""
    import importlib
    import pkgutil

    from padan.stages import pipeline
    from padan.stages.runner import Stage

    declared = set()
    for info in pkgutil.iter_modules(stages.__path__):
        module = importlib.import_module(f"padan.stages.{info.name}")
        declared |= {v for k, v in vars(module).items() if isinstance(v, Stage) and k.isupper()}
    assert declared == ALL
    assert stages.PIPELINE == tuple(s for s, _ in pipeline.FULL_RUN)
    assert stages.INCREMENT == tuple(s for s, _ in pipeline.INCREMENT_RUN)
