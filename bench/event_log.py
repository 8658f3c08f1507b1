"""Read a Spark event log (as `bench/fixed_cost.py --event-log DIR` writes it): per job group (one per
bench step), each Spark job with its description / call site and wall milliseconds, and each SQL
execution with its description and wall milliseconds, the time its jobs ran and the rest (driver
side: analysis, planning, Delta's metadata work between jobs, commit).

    python bench/event_log.py DIR/<app-id> [--group fixed-predict] [--jobs]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict


def _lines(path: str):
    """The events of a log file, or of every part of a rolling event log folder (`eventlog_v2_*`)."""
    import os
    paths = [path] if os.path.isfile(path) else sorted(
        (os.path.join(path, n) for n in os.listdir(path) if n.startswith("events_")),
        key=lambda n: int(n.split("_")[-3]) if n.split("_")[-3].isdigit() else 0)
    for one in paths:
        if one.endswith(".zstd"):     # Spark's default event log codec: read through the zstd tool
            import subprocess
            out = subprocess.run(["zstd", "-dcq", one], capture_output=True, check=False).stdout
            yield from out.decode("utf-8", "replace").splitlines()
            continue
        with open(one, encoding="utf-8") as fh:
            yield from fh


_GENERIC = ("java.", "jdk.", "py4j.", "scala.", "org.apache.spark.sql.classic.", "org.apache.spark.sql.execution.SQLExecution",
            "org.apache.spark.sql.execution.QueryExecution", "org.apache.spark.sql.catalyst.", "org.apache.spark.SparkContext",
            "org.apache.spark.sql.delta.metering.", "org.apache.spark.sql.delta.util.threads", "com.databricks.spark.util.")


def _what(ev: dict) -> str:
    """What an SQL execution is: the top node of its physical plan, the tail of the location it
    scans, and the first stack frame that is not Spark's or py4j's plumbing (Delta's own queries)."""
    plan = (ev.get("physicalPlanDescription") or "").splitlines()
    top = plan[1].strip() if len(plan) > 1 else ""
    loc = next((ln.split("[", 1)[-1].rstrip("]").split("/")[-3:] for ln in plan if ln.startswith("Location:")), None)
    frames = [f.strip() for f in (ev.get("details") or "").splitlines()]
    frame = next((f for f in frames if f and not f.startswith(_GENERIC)), "")
    frame = frame.split("(")[0].replace("org.apache.spark.sql.delta.", "delta.")
    return f"{top[:40]} | {'/'.join(loc) if loc else ''} | {frame[-70:]}"


def read(path: str):
    jobs: dict[int, dict] = {}
    sqls: dict[int, dict] = {}
    if True:
        for line in _lines(path):
            try:
                ev = json.loads(line)
            except ValueError:      # the cut-off last line of a log still being written
                continue
            kind = ev.get("Event")
            if kind == "SparkListenerJobStart":
                props = ev.get("Properties") or {}
                jobs[ev["Job ID"]] = {
                    "group": props.get("spark.jobGroup.id"),
                    "desc": props.get("spark.job.description") or "",
                    "site": props.get("callSite.short") or "",
                    "sql": int(props["spark.sql.execution.id"]) if props.get("spark.sql.execution.id") else None,
                    "start": ev["Submission Time"], "stages": len(ev.get("Stage IDs") or [])}
            elif kind == "SparkListenerJobEnd":
                jobs[ev["Job ID"]]["end"] = ev["Completion Time"]
            elif kind.endswith("SparkListenerSQLExecutionStart"):
                sqls[ev["executionId"]] = {"desc": _what(ev), "start": ev["time"],
                                           "group": ev.get("jobGroupId"), "root": ev.get("rootExecutionId")}
            elif kind.endswith("SparkListenerSQLExecutionEnd"):
                if ev["executionId"] in sqls:
                    sqls[ev["executionId"]]["end"] = ev["time"]
    for j in jobs.values():
        if j["sql"] is not None and j["sql"] in sqls:
            sqls[j["sql"]]["group"] = sqls[j["sql"]]["group"] or j["group"]
    return jobs, sqls


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("path")
    p.add_argument("--group", default=None, help="only this job group (e.g. fixed-predict)")
    p.add_argument("--jobs", action="store_true", help="list every job")
    args = p.parse_args(argv)
    jobs, sqls = read(args.path)
    by_group = defaultdict(list)
    for jid, j in sorted(jobs.items()):
        by_group[j["group"]].append((jid, j))
    for group, items in by_group.items():
        if args.group and group != args.group:
            continue
        job_ms = sum(j.get("end", j["start"]) - j["start"] for _, j in items)
        n_sql = len({j["sql"] for _, j in items if j["sql"] is not None})
        print(f"== {group}: {len(items)} jobs in {n_sql} SQL executions, {job_ms} ms in jobs")
        seen_sql = set()
        for jid, j in items:
            if j["sql"] is not None and j["sql"] not in seen_sql:
                seen_sql.add(j["sql"])
                s = sqls.get(j["sql"], {})
                sj = [x for _, x in items if x["sql"] == j["sql"]]
                in_jobs = sum(x.get("end", x["start"]) - x["start"] for x in sj)
                total = s.get("end", s.get("start", 0)) - s.get("start", 0)
                print(f"  sql {j['sql']:4d} {total:6d} ms ({in_jobs:5d} in {len(sj)} jobs)  {s.get('desc', '')[:110]!r}")
            if args.jobs:
                print(f"      job {jid:4d} {j.get('end', j['start']) - j['start']:5d} ms  {j['desc'][:70]!r}  {j['site'][:60]}")
        nojob = [j for _, j in items if j["sql"] is None]
        if nojob:
            print(f"  {len(nojob)} jobs outside SQL executions: " + "; ".join(
                sorted({(x['desc'] or x['site'])[:60] for x in nojob})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
