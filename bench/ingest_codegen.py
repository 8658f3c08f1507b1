"""The standardisation query's whole-stage generated code: per subtree its largest method (bytes of
bytecode, from compiling it with Spark's `debug.codegenStringSeq`, adaptive execution off), and per
method its source lines (largest first), to see which method passes HotSpot's 8,000-byte limit.

    PYTHONPATH=src .venv/bin/python bench/ingest_codegen.py --data /tmp/i15/200k --lookup-min-rows 0 \
        [--conf spark.sql.codegen.maxFields=40] [--dump /tmp/cg] [--run]

Defaults to the golden input (per-row path). `--run` also runs
the query to the noop sink and prints the largest method from Spark's codegen metrics.
(docs/BENCHMARKS.md, issue 15, session 15.)"""
import re, sys, tempfile, json
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import REPO, session
import ingest_profile as ip
import argparse
p = argparse.ArgumentParser()
p.add_argument("--data", default=str(REPO / "tests/fixtures/golden/input"))
p.add_argument("--source", default="p3ke")
p.add_argument("--lookup-min-rows", type=int)
p.add_argument("--conf", action="append", default=[])
p.add_argument("--dump")
p.add_argument("--run", action="store_true")
a = p.parse_args()
spark = session("3g", 2)
spark.conf.set("spark.sql.adaptive.enabled", "false")
for kv in a.conf:
    k, _, v = kv.partition("="); spark.conf.set(k, v)
if a.lookup_min_rows is not None:
    import padan.stages.ingest as stage
    stage.LOOKUP_MIN_ROWS = a.lookup_min_rows
from padan import config
from padan.stages import Ctx
work = Path(tempfile.mkdtemp(prefix="i15-cg-"))
cfg = config.load(env="base", conf_dir=REPO / "conf", overrides={"lake": {"root": str(work / "lake")}})
ctx = Ctx.create(spark, cfg, run_date="2026-11-28")
base, std, n, lookups = ip.build(ctx, a.source, Path(a.data))
jvm = spark.sparkContext._jvm
plan = std._jdf.queryExecution().executedPlan()
seq = jvm.org.apache.spark.sql.execution.debug.package.codegenStringSeq(plan)
it = seq.iterator()
out = []
i = 0
while it.hasNext():
    t = it.next()
    subtree, code, stats = t._1(), t._2(), t._3()
    i += 1
    # methods by source chars
    meths = []
    for m in re.finditer(r"\n/\* \d+ \*/\s+(?:private|public|protected)[^\n]*?\b(\w+)\(([^)]*)\)[^\n{]*\{", code):
        start = m.end(); depth = 1; j = start
        while depth and j < len(code):
            c = code[j]
            if c == '{': depth += 1
            elif c == '}': depth -= 1
            j += 1
        meths.append((code[start:j].count("\n"), m.group(1)))
    meths.sort(reverse=True)
    print(f"subtree {i}: maxMethodCodeSize={stats.maxMethodCodeSize()} constPool={stats.maxConstPoolSize()} inner={stats.numInnerClasses()} code chars={len(code)}")
    print("  ops:", " | ".join(l.strip()[:60] for l in subtree.splitlines()[:40] if l.strip()))
    print("  top methods (source lines):", meths[:8])
    if a.dump:
        Path(f"{a.dump}-{i}.java").write_text(subtree + "\n" + code)
if a.run:
    std.write.format("noop").mode("overwrite").save()
    snap = jvm.org.apache.spark.metrics.source.CodegenMetrics.METRIC_GENERATED_METHOD_BYTECODE_SIZE().getSnapshot()
    print("runtime max method", snap.getMax(), "over 8000:", sum(1 for v in snap.getValues() if v > 8000))
spark.stop()
