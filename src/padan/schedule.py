"""The daily schedule: find newly landed batches and run the increment job on each, in order.

Plain Python (no Spark, no Airflow), so the Airflow DAG (`jobs/airflow/padan_daily.py`), the cron
script (`scripts/daily.sh`) and the tests share one implementation. Folders:

    <landing>/<source>/<batch>/...     the files of one batch, as landed
    <state>/<source>/<batch>.done      written here once the increment job exited 0 for the batch

A batch is pending when its folder is ready (it holds `ready_marker`, e.g. `_SUCCESS`, when one
is set; else any file not starting with `.` or `_`) and has no done marker. The run ledger
(`ops.runs`) stays the authority: the increment job exits 0 saying "already processed" for a
batch it has done, so a lost marker costs one quick job, never a double load; the markers only
spare the scheduler a Spark job per old batch.

The batches of one source run in name order (name them so that they sort in landing order, e.g.
`2026-11-28` or `20261128T0200`); a failure stops the run, so a later batch never overtakes an
earlier one. Exit codes 2-7 of the job (config, source contract, schema, row-count invariant,
model, lake state) are permanent: retrying will not help, so they are not retried; exit 9 (the
lake is locked by another padan run, nothing written) is retried like 1 and 8.

    python -m padan.schedule pending      # list pending batches: source, batch, path
    python -m padan.schedule run          # increment each pending batch in order, then the report
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from padan.ids import SAFE_ID

logger = logging.getLogger(__name__)

PERMANENT_EXIT_CODES = frozenset({2, 3, 4, 5, 6, 7})  # padan.errors: a retry cannot fix these
LAKE_BUSY = 9     # padan.errors.LakeBusyError: another run holds the lake lock; retry later
DEFAULT_SOURCES = ("p3ke", "prakerja")
FAILURE_LINE = re.compile(r"^padan [a-z_-]+: ")


@dataclass(frozen=True)
class Batch:
    source: str
    batch_id: str
    path: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, str]) -> "Batch":
        return cls(d["source"], d["batch_id"], d["path"])


@dataclass(frozen=True)
class Settings:
    """Where batches land and which commands process them.

    `increment_cmd` gets `--source S --batch <S>-<folder> --path P` appended; `report_cmd` runs as is
    (None: no report step)."""

    landing: str
    sources: tuple[str, ...] = DEFAULT_SOURCES
    state_dir: str | None = None
    increment_cmd: tuple[str, ...] = ("padan", "increment")
    report_cmd: tuple[str, ...] | None = ("padan", "report")
    ready_marker: str | None = None

    @property
    def state(self) -> Path:
        return Path(self.state_dir) if self.state_dir else Path(self.landing) / "_padan_state"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """PADAN_LANDING (required), PADAN_SOURCES (comma-separated), PADAN_STATE_DIR,
        PADAN_INCREMENT_CMD, PADAN_REPORT_CMD (empty: none), PADAN_READY_MARKER; keyword
        arguments that are not None win."""
        env = os.environ if environ is None else environ
        values: dict = {
            "landing": env.get("PADAN_LANDING"),
            "sources": sources_from(env.get("PADAN_SOURCES")),
            "state_dir": env.get("PADAN_STATE_DIR") or None,
            "ready_marker": env.get("PADAN_READY_MARKER") or None,
        }
        if env.get("PADAN_INCREMENT_CMD"):
            values["increment_cmd"] = tuple(shlex.split(env["PADAN_INCREMENT_CMD"]))
        if "PADAN_REPORT_CMD" in env:
            values["report_cmd"] = tuple(shlex.split(env["PADAN_REPORT_CMD"])) or None
        values.update({k: v for k, v in overrides.items() if v is not None})
        if not values["landing"]:
            raise ValueError("no landing folder: set PADAN_LANDING (or pass --landing)")
        return cls(**values)


def sources_from(value: str | None) -> tuple[str, ...]:
    """`p3ke,prakerja` -> ('p3ke', 'prakerja'); empty -> the default sources."""
    names = tuple(s.strip() for s in (value or "").split(",") if s.strip())
    return names or DEFAULT_SOURCES


# ---------------------------------------------------------------- discovery

def _visible(p: Path) -> bool:
    return not p.name.startswith((".", "_"))


def landed_batches(landing: str | Path, source: str, *, ready_marker: str | None = None) -> list[Batch]:
    """The ready batch folders under `<landing>/<source>/`, in name order."""
    root = Path(landing) / source
    if not root.is_dir():
        return []
    batches, odd = [], 0
    for folder in sorted((p for p in root.iterdir() if p.is_dir() and _visible(p)), key=lambda p: p.name):
        if not SAFE_ID.match(folder.name):
            odd += 1
            continue
        ready = (folder / ready_marker).exists() if ready_marker else any(_visible(f) for f in folder.iterdir())
        if ready:
            batches.append(Batch(source, folder.name, str(folder)))
    if odd:
        logger.warning("source=%s: %d batch folder(s) skipped: names may only hold letters, digits and . _ = -",
                       source, odd)
    return batches


def done_marker(state: str | Path, batch: Batch) -> Path:
    return Path(state) / batch.source / f"{batch.batch_id}.done"


def is_done(state: str | Path, batch: Batch) -> bool:
    return done_marker(state, batch).exists()


def mark_done(state: str | Path, batch: Batch, *, already_processed: bool = False) -> Path:
    marker = done_marker(state, batch)
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(marker.name + ".tmp")
    finished = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    tmp.write_text(json.dumps({"source": batch.source, "batch_id": batch.batch_id, "finished_at": finished,
                               "already_processed": already_processed}) + "\n")
    tmp.replace(marker)
    return marker


def pending_batches(settings: Settings) -> dict[str, list[Batch]]:
    """Per source (in the configured order), its ready batches without a done marker, in name order."""
    pending = {}
    for source in settings.sources:
        landed = landed_batches(settings.landing, source, ready_marker=settings.ready_marker)
        pending[source] = [b for b in landed if not is_done(settings.state, b)]
        logger.info("source=%s batches landed=%d pending=%d", source, len(landed), len(pending[source]))
    return pending


def job_batch_id(batch: Batch) -> str:
    """The batch id given to the job: `<source>-<folder>`. Folder names repeat across sources (both
    land `2026-11-28`), and the ledger keys the ingest stage by batch id alone."""
    return f"{batch.source}-{batch.batch_id}"


def increment_command(settings: Settings, batch: Batch) -> list[str]:
    return [*settings.increment_cmd, "--source", batch.source, "--batch", job_batch_id(batch), "--path", batch.path]


# ---------------------------------------------------------------- running

class JobFailed(Exception):
    """A job exited non-zero; `message` is its one-line failure message."""

    def __init__(self, what: str, exit_code: int, message: str):
        self.what, self.exit_code, self.message = what, exit_code, message
        super().__init__(f"{what} failed with exit code {exit_code}: {message}")

    @property
    def retryable(self) -> bool:
        return self.exit_code not in PERMANENT_EXIT_CODES


@dataclass
class JobResult:
    exit_code: int
    seconds: float
    message: str = ""
    already_processed: bool = False
    lines: list[str] = field(default_factory=list, repr=False)


def job_outcome(line: str) -> dict | None:
    """The outcome a padan job prints as one JSON line (`padan.cli.print_result`), or None."""
    text = line.strip()
    if not text.startswith('{"padan_result"'):
        return None
    try:
        value = json.loads(text).get("padan_result")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def run_job(cmd: Sequence[str], *, echo: Callable[[str], None] | None = None,
            env: Mapping[str, str] | None = None) -> JobResult:
    """Run one job, passing its output (stdout and stderr, merged) through `echo` line by line.

    The message is the job's own failure message (`padan <command>: ...` and its indented lines),
    else its last line."""
    echo = echo or (lambda line: print(line, flush=True))
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", env=dict(env) if env is not None else None)
    except OSError as exc:
        return JobResult(127, time.monotonic() - t0, f"cannot start {cmd[0]!r}: {exc.strerror}")
    already, failure, last, in_failure = False, "", "", False
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.rstrip("\n")
        echo(line)
        if line.strip():
            last = line.strip()
        outcome = job_outcome(line)
        if outcome is not None:
            already = outcome.get("status") == "already_processed"
        if FAILURE_LINE.match(line):
            failure, in_failure = line.strip(), True
        elif in_failure and line.startswith((" ", "\t")) and line.strip():   # a message listing problems
            failure += " " + line.strip()
        else:
            in_failure = False
    code = proc.wait()
    return JobResult(code, time.monotonic() - t0, failure or last, already)


def run_batches(settings: Settings, batches: Iterable[Batch], *, retries: int = 0, retry_delay: float = 0.0,
                echo: Callable[[str], None] | None = None, sleep: Callable[[float], None] = time.sleep) -> list[dict]:
    """Run the increment job on each batch in order and mark it done; stop at the first failure.

    Retries (for cron; Airflow retries the task instead) apply only to retryable exit codes.
    Returns one summary per batch: source, batch_id, status (processed / already_processed /
    skipped), seconds."""
    results = []
    for batch in batches:
        if is_done(settings.state, batch):
            results.append({**_ids(batch), "status": "skipped", "seconds": 0.0})
            continue
        attempt = 0
        while True:
            res = run_job(increment_command(settings, batch), echo=echo)
            if res.exit_code == 0:
                mark_done(settings.state, batch, already_processed=res.already_processed)
                status = "already_processed" if res.already_processed else "processed"
                logger.info("source=%s batch=%s status=%s seconds=%.1f", batch.source, batch.batch_id, status,
                            res.seconds)
                results.append({**_ids(batch), "status": status, "seconds": round(res.seconds, 1)})
                break
            err = JobFailed(f"increment of {batch.source} batch {batch.batch_id}", res.exit_code, res.message)
            if not err.retryable or attempt >= retries:
                logger.error("source=%s batch=%s status=failed exit=%d seconds=%.1f", batch.source,
                             batch.batch_id, res.exit_code, res.seconds)
                raise err
            attempt += 1
            logger.warning("source=%s batch=%s exit=%d: retry %d of %d in %.0fs", batch.source, batch.batch_id,
                           res.exit_code, attempt, retries, retry_delay)
            sleep(retry_delay)
    return results


def run_report(settings: Settings, *, echo: Callable[[str], None] | None = None) -> JobResult | None:
    """Run the report command (if any); raise JobFailed when it exits non-zero."""
    if not settings.report_cmd:
        return None
    res = run_job(settings.report_cmd, echo=echo)
    if res.exit_code != 0:
        raise JobFailed("report", res.exit_code, res.message)
    logger.info("report status=succeeded seconds=%.1f", res.seconds)
    return res


def _ids(batch: Batch) -> dict[str, str]:
    return {"source": batch.source, "batch_id": batch.batch_id}


# ---------------------------------------------------------------- command line (cron)

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m padan.schedule", description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=["pending", "run"])
    p.add_argument("--landing", help="landing folder (default: $PADAN_LANDING)")
    p.add_argument("--sources", help="comma-separated sources, in processing order (default: $PADAN_SOURCES or "
                                     + ",".join(DEFAULT_SOURCES) + ")")
    p.add_argument("--state-dir", help="done markers (default: $PADAN_STATE_DIR or <landing>/_padan_state)")
    p.add_argument("--increment-cmd", help="increment command before --source ... (default: $PADAN_INCREMENT_CMD "
                                           "or 'padan increment')")
    p.add_argument("--report-cmd", help="report command, '' for none (default: $PADAN_REPORT_CMD or 'padan report')")
    p.add_argument("--ready-marker", help="file that marks a batch folder complete (default: $PADAN_READY_MARKER)")
    p.add_argument("--retries", type=int, default=2, help="retries per batch on a retryable failure (default 2)")
    p.add_argument("--retry-delay", type=float, default=600, help="seconds between retries (default 600)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not logging.getLogger().handlers and not logging.getLogger("padan").handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env(
            landing=args.landing, sources=sources_from(args.sources) if args.sources else None,
            state_dir=args.state_dir, ready_marker=args.ready_marker,
            increment_cmd=tuple(shlex.split(args.increment_cmd)) if args.increment_cmd else None,
            report_cmd=(tuple(shlex.split(args.report_cmd)) or ()) if args.report_cmd is not None else None)
    except ValueError as exc:
        print(f"padan schedule: {exc}", file=sys.stderr)
        return 2
    pending = pending_batches(settings)
    if args.action == "pending":
        for batches in pending.values():
            for b in batches:
                print(f"{b.source}\t{b.batch_id}\t{b.path}")
        return 0
    try:
        done = [r for source in settings.sources
                for r in run_batches(settings, pending[source], retries=args.retries, retry_delay=args.retry_delay)]
        run_report(settings)
    except JobFailed as exc:
        print(f"padan schedule: {exc}", file=sys.stderr)
        return exc.exit_code if 0 < exc.exit_code < 256 else 1
    print(json.dumps({"batches": done}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
