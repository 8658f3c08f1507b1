"""The `padan` command: the pipeline's stages, the demo, and tools around the model.

Exit status fits a scheduler: 0 done (also when the work was already done: `padan increment` says which in
one `{"padan_result": ...}` JSON line on stdout),
non-zero with one clear message otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from typing import Callable

from padan import config as config_mod
from padan import logs
from padan.errors import PadanError
from padan.ids import check_id

logger = logging.getLogger("padan.cli")



RESULT_KEY = "padan_result"


def print_result(command: str, **fields) -> None:
    """The one machine-readable line of a job's outcome, for schedulers: `{"padan_result": {...}}`
    on stdout (ids, counts and status only, never a data value). `padan.schedule` reads this line,
    not the human-readable ones."""
    print(json.dumps({RESULT_KEY: {"command": command, **fields}}, sort_keys=True, default=str), flush=True)

def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", default=None, help="config env overlaying conf/base (default: $PADAN_ENV or 'local')")
    p.add_argument("--conf-dir", default=None, help="config folder (default: ./conf or $PADAN_CONF_DIR)")
    p.add_argument("--lake", default=None, help="override lake.root")
    p.add_argument("--force", action="store_true", help="redo stages that already succeeded for the same inputs")
    p.add_argument("--run-date", default=None, help="reference date yyyy-MM-dd (default: today)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="padan", description="Link P3KE and Prakerja registers on Spark.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        _common(p)
        return p

    p = add("ingest", "read and standardise sources into silver.persons and rejects")
    p.add_argument("--source", action="append", help="only this source (repeatable)")
    p.add_argument("--path", default=None, help="read this path instead of the contract's (one --source)")
    p.add_argument("--batch", default=None, help="batch id (default: fingerprint of the files)")
    p.add_argument("--mode", choices=["snapshot", "increment"], default="snapshot")

    p = add("train", "train the model on silver.persons and save a new version")
    p.add_argument("--m-method", choices=["nik_anchored", "em"], default=None)

    add("link", "score pairs with the pinned model and cluster them into persons")
    p = add("increment", "add one new batch of a source: ingest, score against the lake and within "
                         "itself, re-cluster only the persons it touches, refresh the marts")
    p.add_argument("--source", required=True, help="the source the batch belongs to")
    p.add_argument("--path", required=True, help="the batch's file or folder")
    p.add_argument("--batch", default=None, help="batch id (default: fingerprint of the files)")
    add("report", "refresh the overlap and targeting marts and print the run summary")
    p = add("pipeline", "ingest, standardise, (train), predict, cluster, marts")
    p.add_argument("--train", action="store_true", help="train a model first (default: only if none exists)")

    p = add("demo", "generate demo extracts and run the whole pipeline on them")
    p.add_argument("--p3ke-rows", type=int, default=None)
    p.add_argument("--prakerja-rows", type=int, default=None)

    p = add("synth", "generate synthetic P3KE and Prakerja extracts with ground truth")
    p.add_argument("--p3ke-rows", type=int, required=True)
    p.add_argument("--prakerja-rows", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--format", choices=["csv", "parquet"], default="csv")
    p.add_argument("--profile", default="typical")

    p = add("explain", "print the waterfall of one scored pair from gold.pairs")
    p.add_argument("id_l")
    p.add_argument("id_r")
    p.add_argument("--run-id", default=None)

    p = add("blocking", "count the comparisons each prediction blocking rule generates (with --truth: and the "
                        "share of true pairs each rule and their union produce)")
    p.add_argument("--truth", default=None, help="Parquet truth (source, record_id, person_id): report blocking recall")
    p.add_argument("--json", default=None, help="also write the report as JSON to this file")

    sub.add_parser("stages", help="print the stages of a pipeline and of an increment: what each reads and writes",
                   description="print the stages of a pipeline and of an increment: what each reads and writes")

    p = add("evaluate", "precision, recall and F1 of the current run against a truth table")
    p.add_argument("--truth", required=True, help="Parquet truth: source, record_id, person_id")

    return parser


def _load(args) -> config_mod.Config:
    overrides = {"lake": {"root": args.lake}} if args.lake else None
    cfg = config_mod.load(env=args.env, conf_dir=args.conf_dir, overrides=overrides)
    logs.configure_from(cfg.logging)
    import padan

    logger.info("padan %s (package at %s), env %s", padan.__version__, padan.__file__, cfg.env)
    return cfg


# Commands that write the lake hold its lock (padan.lock) from before their Spark session starts
# until they end; explain and blocking only read.
WRITING = frozenset({"ingest", "train", "link", "increment", "report", "pipeline", "demo", "evaluate"})
_held = contextlib.ExitStack()     # the lake lock of the running command, released when main() ends
# Whether this main() call is the whole process (see main), and its run folder in the lake (padan.scratch).
_run: dict = {"program": False, "folder": None}


def _lock(cfg, args, app: str) -> None:
    from padan.lock import lock_for

    if app in WRITING:
        source = getattr(args, "source", None)
        ids = {"batch": getattr(args, "batch", None),
               "source": ",".join(source) if isinstance(source, list) else source}
        _held.enter_context(lock_for(cfg.lake.root, app, wait_seconds=cfg.lake.lock_wait_seconds, ids=ids))


def _start(cfg, args, app: str):
    """The lake lock (writing commands), the check that no lake table is damaged (writing commands:
    exit 7 before anything is written), the run's temporary folder (a whole-process command on a
    local lake: padan.scratch) and the Spark session, in that order."""
    from padan.lakecheck import check_lake
    from padan.lock import local_root
    from padan.spark import spark_from_config

    _lock(cfg, args, app)
    local = local_root(cfg.lake.root) is not None
    if app in WRITING and local:
        check_lake(cfg.lake.root, catalog=cfg.lake.catalog)         # plain file reads, before the JVM starts
    if _run["program"] and _run["folder"] is None:
        from padan.scratch import open_run_folder

        _run["folder"] = open_run_folder(cfg.lake.root, app)
    spark = spark_from_config(cfg, f"padan-{app}", run_folder=_run["folder"])
    if app in WRITING and not local:
        check_lake(cfg.lake.root, spark=spark, catalog=cfg.lake.catalog)   # through Hadoop's file system
    return spark


def _ctx(cfg, args, app: str):
    from padan.stages import Ctx

    spark = _start(cfg, args, app)
    return Ctx.create(spark, cfg, force=args.force, run_date=args.run_date)


def _current_run(args, app: str, *, latest: bool = False):
    """(cfg, ctx, model version, run id) of the run linking the current silver state with the pinned
    model; with `latest`, of the run that last wrote gold.clusters (a full run or an increment)."""
    from padan.model.store import resolve_version
    from padan.stages import current_run_id, link_run_id

    cfg = _load(args)
    ctx = _ctx(cfg, args, app)
    version = resolve_version(ctx.lake, cfg.link.model_version)
    run_id = current_run_id(ctx) if latest else None
    return cfg, ctx, version, run_id or link_run_id(ctx, version)


def cmd_ingest(args) -> int:
    from padan.stages import run_ingest

    cfg = _load(args)
    ctx = _ctx(cfg, args, "ingest")
    sources = args.source or sorted(cfg.sources)
    unknown = [s for s in sources if s not in cfg.sources]
    if unknown:
        raise PadanError(f"unknown source(s) {unknown}; configured: {sorted(cfg.sources)}")
    if args.path and len(sources) != 1:
        raise PadanError("--path needs exactly one --source")
    for s in sources:
        r = run_ingest(ctx, s, path=args.path, batch_id=args.batch, mode=args.mode)
        print(f"ingest {s}: batch={r.batch_id} read={r.rows_read} standardised={r.rows_standardised} "
              f"rejected={r.rows_rejected}{' (already done)' if r.skipped else ''}")
    return 0


def cmd_train(args) -> int:
    from padan.stages import run_train

    cfg = _load(args)
    version = run_train(_ctx(cfg, args, "train"), m_method=args.m_method)
    print(f"model version {version} (pin it as link.model_version for scheduled runs)")
    return 0


def cmd_link(args) -> int:
    from padan.stages import run_cluster, run_cluster_thresholds, run_predict

    _, ctx, version, run_id = _current_run(args, "link")
    pairs = run_predict(ctx, run_id, version)
    counts = run_cluster(ctx, run_id)
    run_cluster_thresholds(ctx, run_id)
    print(f"link run {run_id}: pairs={pairs} persons={counts.get('persons')} records={counts.get('records')}")
    return 0


def cmd_increment(args) -> int:
    from padan.stages import run_increment

    cfg = _load(args)
    ctx = _ctx(cfg, args, "increment")
    r = run_increment(ctx, args.source, path=args.path, batch_id=args.batch)
    state = "already processed" if r.already_done else "done"
    print(f"increment {args.source}: batch={r.ingest.batch_id} run={r.run_id} ({state}) read={r.ingest.rows_read} "
          f"standardised={r.ingest.rows_standardised} rejected={r.ingest.rows_rejected} pairs={r.pairs} "
          f"persons_touched={r.cluster.get('touched_persons', 0)} ids_new={r.cluster.get('ids_new', 0)} "
          f"ids_merged={r.cluster.get('ids_merged', 0)}")
    print_result("increment", status="already_processed" if r.already_done else "processed", source=args.source,
                 batch_id=r.ingest.batch_id, run_id=r.run_id, model_version=r.model_version,
                 rows_read=r.ingest.rows_read, rows_standardised=r.ingest.rows_standardised,
                 rows_rejected=r.ingest.rows_rejected, pairs=r.pairs)
    if not r.already_done:       # an already-processed batch writes nothing, not even its report again
        _print_report(ctx, r.run_id)
    return 0


def cmd_report(args) -> int:
    from padan.stages import run_marts

    _, ctx, _, run_id = _current_run(args, "report", latest=True)
    counts = run_marts(ctx, run_id)
    print(json.dumps({"run_id": run_id, **counts}, indent=2))
    _print_report(ctx, run_id)
    return 0


def _print_report(ctx, run_id: str) -> None:
    """Write the run's HTML report and print where it is (the command's last line)."""
    from padan.report.html import report_uri
    from padan.stages import run_report_html

    print(f"report: {report_uri(run_report_html(ctx, run_id))}")


def _print_summary(result, lake_root: str, seconds: float) -> None:
    print()
    print("padan run summary")
    print("=================")
    for r in result.ingest:
        print(f"  {r.source:<10} rows in {r.rows_read:>9,}   standardised {r.rows_standardised:>9,}   "
              f"rejected {r.rows_rejected:>7,}")
    print(f"  model version         {result.model_version}")
    print(f"  run id                {result.run_id}")
    print(f"  pairs scored          {result.pairs:,}")
    print(f"  persons (clusters)    {result.cluster.get('persons', 0):,} from {result.cluster.get('records', 0):,} records")
    print(f"  persons in P3KE       {result.marts.get('persons_p3ke', 0):,}")
    print(f"  persons in Prakerja   {result.marts.get('persons_prakerja', 0):,}")
    print(f"  persons in both       {result.marts.get('persons_both', 0):,}")
    print(f"  seconds               {seconds:.0f}")
    print(f"  lake                  {lake_root}  (tables: bronze/, silver/persons, gold/pairs, gold/clusters, "
          f"gold/person_profile, gold/overlap_by_region, gold/targeting, ops/runs, ops/rejects, ops/quality; models/)")


def cmd_pipeline(args) -> int:
    from padan.report.html import report_uri
    from padan.stages import run_pipeline

    cfg = _load(args)
    t = time.monotonic()
    ctx = _ctx(cfg, args, "pipeline")
    result = run_pipeline(ctx, train=args.train, report=True)
    _print_summary(result, cfg.lake.root, time.monotonic() - t)
    print(f"report: {report_uri(result.report)}")
    return 0


def cmd_demo(args) -> int:
    from padan.demo import ensure_demo_extracts
    from padan.report.html import report_uri
    from padan.stages import Ctx, run_pipeline

    cfg = _load(args)
    d = cfg.demo
    rows_p, rows_k = args.p3ke_rows or d.p3ke_rows, args.prakerja_rows or d.prakerja_rows
    cfg = cfg.with_overrides({"sources": {"p3ke": {"path": f"{d.out}/p3ke"}, "prakerja": {"path": f"{d.out}/prakerja"}},
                              "model": {"training": {"u_max_pairs": d.u_max_pairs}}})
    t = time.monotonic()
    _python_workers()
    spark = _start(cfg, args, "demo")
    ensure_demo_extracts(spark, d.out, p3ke_rows=rows_p, prakerja_rows=rows_k, seed=d.seed, profile=d.profile)
    ctx = Ctx.create(spark, cfg, force=args.force, run_date=args.run_date)
    result = run_pipeline(ctx, train=True, report=True)
    _print_summary(result, cfg.lake.root, time.monotonic() - t)
    print(f"  demo extracts         {d.out} (p3ke/, prakerja/, truth/)")
    print(f"report: {report_uri(result.report)}")
    return 0


def _python_workers() -> None:
    """The generator runs numpy inside Spark's Python workers: they must use this interpreter (its
    environment has numpy and pyarrow), unless PYSPARK_PYTHON says otherwise. Set before the
    session starts."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def cmd_synth(args) -> int:
    from padan.spark import spark_from_config
    from padan.demo import load_generator

    write_extracts = load_generator()

    cfg = _load(args)
    _python_workers()
    spark = spark_from_config(cfg, "padan-synth")
    t = time.monotonic()
    out = write_extracts(spark, args.out, p3ke_rows=args.p3ke_rows, prakerja_rows=args.prakerja_rows, seed=args.seed,
                         profile=args.profile, fmt=args.format)
    secs = time.monotonic() - t
    print(f"wrote p3ke={out['p3ke']} prakerja={out['prakerja']} truth={out['truth']} rows to {args.out} "
          f"in {secs:.0f}s")
    return 0


def cmd_stages(args) -> int:
    from padan.stages import describe

    print(describe())
    return 0


def cmd_explain(args) -> int:
    from padan.explain import explain_pair

    cfg = _load(args)
    ctx = _ctx(cfg, args, "explain")
    print(explain_pair(ctx.lake, args.id_l, args.id_r, run_id=args.run_id))
    return 0


def cmd_blocking(args) -> int:
    from padan.model.blocking import count_comparisons

    cfg = _load(args)
    ctx = _ctx(cfg, args, "blocking")
    counts = count_comparisons(ctx, cfg.model)
    if not args.truth:
        for rule, n in counts:
            print(f"{n:>15,}  {rule}")
        return 0
    from padan.evaluate.blocking import blocking_recall, format_report
    from padan.evaluate.metrics import truth_as_unique_ids
    from padan.tables import PERSONS

    truth = truth_as_unique_ids(ctx.spark.read.parquet(args.truth))
    recall = blocking_recall(ctx.lake.read(PERSONS.name), truth, cfg.model.blocking_rules)
    print(format_report(recall, [n for _, n in counts]))
    if args.json:
        import json

        report = {**recall.as_dict(), "pairs_added": [n for _, n in counts], "candidate_pairs": sum(n for _, n in counts)}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    return 0


def cmd_evaluate(args) -> int:
    from padan.stages import run_evaluate

    _, ctx, _, run_id = _current_run(args, "evaluate", latest=True)
    rows = run_evaluate(ctx, run_id, args.truth)
    print(f"evaluation of run {run_id}")
    print(f"  {'kind':<17}{'threshold':>10}{'precision':>11}{'recall':>9}{'f1':>8}")
    for r in rows:
        mark = " <- best F1" if r["is_best_f1"] else (" <- configured" if r["is_configured_threshold"] and r["kind"] == "pairwise" else "")
        print(f"  {r['kind']:<17}{r['threshold']:>10.3f}{r['precision']:>11.4f}{r['recall']:>9.4f}{r['f1']:>8.4f}{mark}")
    return 0


COMMANDS: dict[str, Callable] = {
    "ingest": cmd_ingest, "train": cmd_train, "link": cmd_link, "increment": cmd_increment, "report": cmd_report, "pipeline": cmd_pipeline,
    "demo": cmd_demo, "synth": cmd_synth, "explain": cmd_explain, "blocking": cmd_blocking,
    "evaluate": cmd_evaluate, "stages": cmd_stages,
}


def main(argv: list[str] | None = None, *, program: bool | None = None) -> int:
    """Run one command. `program` (default: when `argv` is None, i.e. the `padan` executable or
    `python -m padan.cli`; jobs/*.py pass it): this call is the whole process, so the Spark
    checkpoint files padan made are removed at the end, and on a local lake its temporary files go
    to a run folder in the lake (padan.scratch) that is removed then too, after the Spark session
    padan started is stopped. A caller that goes on using the Spark session (a test, a notebook)
    keeps them."""
    program = argv is None if program is None else program
    _run.update(program=program, folder=None)
    args = build_parser().parse_args(argv)
    import padan

    logger.debug("padan %s loaded from %s", padan.__version__, padan.__file__)
    previous_umask = os.umask(0o077)     # files padan or its Spark JVM create: owner-only (personal data)
    try:
        _check_ids(args)
        return COMMANDS[args.command](args) or 0
    except PadanError as exc:
        return _failed(args.command, exc.exit_code, str(exc))
    except Exception as exc:  # Spark's messages can quote data values: keep them out of the log line
        from padan.ledger import safe_message

        trace = _write_trace(args.command, exc)
        if _jvm_died(exc):
            return _failed(args.command, JVM_DIED, "failed: the Spark JVM died (often the kernel's OOM killer: "
                           "give Spark more memory, spark.driver_memory in conf/<env>/spark.yml or "
                           f"--driver-memory, or run on a larger machine); stack trace in {trace}")
        return _failed(args.command, 1, f"failed: {safe_message(exc)}; stack trace in {trace}")
    finally:
        if program:
            _release_checkpoints()
            _remove_run_folder()
        _held.close()           # the lake lock, last: after the run's own cleanup
        os.umask(previous_umask)


def _release_checkpoints() -> None:
    """A command that started its own Spark session leaves no checkpoint files behind (they hold
    copies of personal data): see padan.spark.release_checkpoints."""
    if "pyspark" not in sys.modules:
        return
    try:
        from padan.spark import release_checkpoints

        release_checkpoints()
    except Exception:  # noqa: BLE001 -- cleanup must not hide the command's own outcome
        logger.debug("could not remove the session's checkpoint folder", exc_info=True)


def _remove_run_folder() -> None:
    """Stop the session padan started (its JVM closes its shuffle and temp files), then remove the
    run's folder in the lake (padan.scratch)."""
    folder = _run["folder"]
    if folder is None:
        return
    _run["folder"] = None
    if "pyspark" in sys.modules:
        try:
            from padan.spark import stop_own_session

            stop_own_session()
        except Exception:  # noqa: BLE001 -- e.g. the JVM died: nothing left to stop
            logger.debug("could not stop the Spark session", exc_info=True)
    folder.remove()


JVM_DIED = 8    # exit code: the Spark JVM went away under the command (retryable, with more memory)


def _jvm_died(exc: BaseException) -> bool:
    """Py4J lost its connection to the JVM: the JVM exited or was killed."""
    from py4j.protocol import Py4JNetworkError

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (Py4JNetworkError, ConnectionRefusedError, ConnectionResetError, BrokenPipeError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _write_trace(command: str, exc: BaseException) -> str:
    """The stack trace of an unexpected failure, in an owner-only file (Spark's messages can quote
    data values, so it is kept out of stderr and the log): `$PADAN_LOG_DIR` or the temp folder."""
    import tempfile
    import traceback

    folder = os.environ.get("PADAN_LOG_DIR") or tempfile.gettempdir()
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=f"padan-{command}-", suffix=".trace", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(traceback.format_exception(exc)))
    return path


def _check_ids(args) -> None:
    """Ids from the command line are checked before any config, Spark or table is touched."""
    for attr, kind in (("batch", "batch id"), ("run_id", "run id"), ("source", "source")):
        value = getattr(args, attr, None)
        for v in value if isinstance(value, list) else [value]:
            if v is not None:
                check_id(kind, v)


def _failed(command: str, code: int, message: str) -> int:
    """The message once, last on stderr (`padan <command>: ...`); when logging is
    configured, a status line before it for log search (not the message again)."""
    log = logging.getLogger("padan")
    if log.handlers:
        log.error("command=%s status=failed exit=%d", command, code)
    print(f"padan {command}: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
