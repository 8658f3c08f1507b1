"""Where predict's CPU goes, on a kept bench lake (`python bench/harness.py --keep-work`).

Runs parts of the engine's predict plan into Spark's `noop` sink and prints, per variant, wall
seconds, the JVM's CPU-seconds (user + system, all threads) and the Spark jobs:
- `inputs`: silver.persons (cached) with their pinned term frequencies;
- `rawjoin`: the wide keyed join the engine used before 2026-11-30 (every rule with equi-join keys
  at once), join columns only (count);
- `blocked_count` / `blocked`: the engine's candidate pairs (the narrow join, then full records), each for its first rule (count / all columns);
- `full`: the whole scoring plan (gammas, weights, probability, minimum-probability filter);
- `meet`: the keyed rows alone (count) and the narrow keyed join alone (raw pairs, l < r);
- `rules`: per distinct key set, keyed rows, raw pairs (sum of n(n-1)/2 over blocks), largest block;
- `score`: the candidate pairs cached, then scoring alone, gammas alone and each comparison's gamma;
- `codegen`: the formatted physical plan of `full`;
- EXTRA=hint:partitions,...: `blocked` with a join hint (e.g. shuffle_hash) or none, at a number of
  shuffle partitions.

    PYTHONPATH=src DM=8g SP=4 .venv/bin/python bench/predict_profile.py /tmp/padan-bench/lake inputs,rawjoin,blocked,full

Task CPU per stage: add PYSPARK_SUBMIT_ARGS="--conf spark.eventLog.enabled=true --conf
spark.eventLog.dir=DIR pyspark-shell" and read executorCpuTime from the stage-completed events.
CAP=N runs `full`, `blocked`, `blocked_count` and `codegen` under a block-size cap of N (model.block_size_cap).
CONF="key=value;..." sets Spark settings before the variants run; each variant prints the largest
method Spark has generated so far (bytes of bytecode; HotSpot does not JIT-compile one above 8,000).
"""
import os, sys, time, json
import psutil
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from padan.config import load as load_config
from padan.spark import get_spark
from padan.stages import Ctx
from padan.tables import PERSONS
from padan.link import engine
from padan.model.store import load_model
from padan.model.tf import load_tf

lake = sys.argv[1]
variants = sys.argv[2].split(",")
cfg = load_config(env="local", conf_dir=str(__import__("pathlib").Path(__file__).resolve().parents[1] / "conf"), overrides={"lake": {"root": lake}})
spark = get_spark(driver_memory=os.environ.get("DM", "6g"), shuffle_partitions=int(os.environ.get("SP", "4")))
ctx = Ctx.create(spark, cfg)
# CONF="key=value;key=value": Spark settings for the measured plans (e.g. spark.sql.codegen.maxFields=60)
for kv in filter(None, os.environ.get("CONF", "").split(";")):
    k, v = kv.split("=", 1)
    spark.conf.set(k.strip(), v.strip())
jvm = [p for p in psutil.Process().children(recursive=True) if "java" in p.name()][0]
def cpu():
    t = jvm.cpu_times(); return t.user + t.system
mv = [r[0] for r in ctx.lake.read("ops.runs").where("model_version is not null").select("model_version").distinct().collect()][0]
settings = load_model(ctx.lake, mv)
persons = ctx.lake.read(PERSONS.name).persist()
print("persons", persons.count(), flush=True)
tf = load_tf(ctx.lake, mv, settings, persons)
sc = spark.sparkContext

def max_method_bytes():
    """The largest method Spark has generated in this JVM so far: HotSpot leaves one above 8,000 bytes
    of bytecode interpreted unless -XX:-DontCompileHugeMethods (see the ingest profile in
    docs/BENCHMARKS.md)."""
    sizes = sc._jvm.org.apache.spark.metrics.source.CodegenMetrics.METRIC_GENERATED_METHOD_BYTECODE_SIZE()
    return int(sizes.getSnapshot().getMax())

def measure(name, df):
    g = f"prof-{name}-{time.time()}"
    sc.setJobGroup(g, g)
    c0, t0 = cpu(), time.time()
    df.write.format("noop").mode("overwrite").save()
    c1, t1 = cpu(), time.time()
    n = len(sc.statusTracker().getJobIdsForGroup(g))
    print(json.dumps({"variant": name, "wall": round(t1 - t0, 1), "jvm_cpu": round(c1 - c0, 1), "jobs": n,
                      "max_generated_method_bytes_so_far": max_method_bytes()}), flush=True)

def _keyed(df: DataFrame, rule_keys: list[tuple[int, list[str]]]) -> DataFrame:
    """The engine's wide keyed rows before 2026-11-30 (every model column, for the old variants): one row per record and rule whose equi-join key columns are all set: the record with
    __rule and __h (a 64-bit hash of the rule's key values)."""
    entries = [F.when(~F.greatest(*[F.col(c).isNull() for c in keys], F.lit(False)),
                      F.struct(F.lit(k).alias("__rule"), F.xxhash64(*[F.col(c) for c in keys]).alias("__h")))
               for k, keys in rule_keys]
    return (df.select("*", F.explode(F.array(*entries)).alias("__k")).where(F.col("__k").isNotNull())
            .select(*df.columns, "__k.__rule", "__k.__h"))



model = engine.parse_model(settings)
engine.register_similarity_functions(spark)
df, cols = engine._inputs(persons, model, settings, tf)
where = engine._composite_id("l") < engine._composite_id("r")
CAP = int(os.environ["CAP"]) if os.environ.get("CAP") else None
print(json.dumps({"block_size_cap": CAP}), flush=True)
for v in variants:
    if v == "full":
        measure(v, engine.predict_pairs(spark, persons, settings, min_probability=cfg.link.min_pair_probability, tf_tables=tf,
                                        block_size_cap=CAP))
    elif v == "blocked":
        measure(v, engine._blocked(df, df, model, where, cols, ordered=True, cap=CAP))
    elif v == "blocked_count":
        b = engine._blocked(df, df, model, where, cols, ordered=True, cap=CAP)
        g="prof-bc"; sc.setJobGroup(g,g); c0,t0=cpu(),time.time(); n=b.count(); print(json.dumps({"variant":v,"pairs":n,"wall":round(time.time()-t0,1),"jvm_cpu":round(cpu()-c0,1)}), flush=True)
    elif v == "inputs":
        measure(v, df)
    elif v == "rawjoin":
        from padan.link.predict import equi_join_keys
        rk = [(k, equi_join_keys(r)) for k, r in enumerate(model.rules)]
        keyed = [(k, keys) for k, keys in rk if keys]
        lt, rt = _keyed(df, keyed).alias("l"), _keyed(df, keyed).alias("r")
        j = lt.join(rt, (F.col("l.__rule") == F.col("r.__rule")) & (F.col("l.__h") == F.col("r.__h")) & where)
        g="prof-raw"; sc.setJobGroup(g,g); c0,t0=cpu(),time.time(); n=j.count(); print(json.dumps({"variant":v,"raw_pairs":n,"wall":round(time.time()-t0,1),"jvm_cpu":round(cpu()-c0,1)}), flush=True)
    elif v == "meet":
        # the narrow keyed join alone: each candidate pair once, for the first keyed rule it shares keys under
        from padan.link.predict import equi_join_keys
        sets = engine._key_sets([(k, equi_join_keys(r)) for k, r in enumerate(model.rules)])
        lk = rk = engine._keys_only(df, sets)
        g = "prof-keys"; sc.setJobGroup(g, g); c0, t0 = cpu(), time.time(); n = lk.count()
        print(json.dumps({"variant": "keys", "rows": n, "wall": round(time.time() - t0, 1), "jvm_cpu": round(cpu() - c0, 1)}), flush=True)
        lk, rk = lk.alias("lk"), rk.alias("rk")
        j = lk.join(rk, (F.col("lk.__h") == F.col("rk.__h")) & (F.col("lk.__cid") < F.col("rk.__cid")))
        g = "prof-meet"; sc.setJobGroup(g, g); c0, t0 = cpu(), time.time(); n = j.count()
        print(json.dumps({"variant": "meet (raw pairs)", "raw_pairs": n, "wall": round(time.time() - t0, 1), "jvm_cpu": round(cpu() - c0, 1)}), flush=True)
        # the engine's meeting step whole: the join and the pair aggregate (distinct pairs with their key-set bits)
        measure("meetings (distinct pairs)", engine._meetings(engine._keys_only(df, sets), None, ordered=True))
    elif v == "rules":
        # raw meetings per keyed rule (l < r) and the largest blocks: where the join's work goes
        from padan.link.predict import equi_join_keys
        keyed = engine._key_sets([(k, equi_join_keys(r)) for k, r in enumerate(model.rules)])
        lk = engine._keys_only(df, keyed)
        blocks = lk.groupBy("__s", "__h").count()
        per = (blocks.groupBy("__s").agg(F.sum("count").alias("rows"), F.sum(F.col("count") * (F.col("count") - 1) / 2).alias("raw_pairs"),
                                         F.max("count").alias("largest_block")).orderBy("__s").collect())
        for r in per:
            print(json.dumps({"keys": keyed[r["__s"]], "rows": r["rows"], "raw_pairs": int(r["raw_pairs"]),
                              "largest_block": r["largest_block"]}), flush=True)
    elif v == "score":
        # scoring alone: the candidate pairs cached first, then gammas, weights, probability, filter
        from pyspark import StorageLevel
        b = engine._blocked(df, df, model, where, cols, ordered=True).persist(StorageLevel.MEMORY_AND_DISK)
        g = "prof-cache"; sc.setJobGroup(g, g); c0, t0 = cpu(), time.time(); n = b.count()
        print(json.dumps({"variant": "blocked (cached)", "pairs": n, "wall": round(time.time() - t0, 1), "jvm_cpu": round(cpu() - c0, 1)}), flush=True)
        measure("read cached pairs", b)
        measure("score cached pairs", engine._scored(b, model, cfg.link.min_pair_probability))
        measure("gammas only", b.select(*[engine._gamma(c).alias(f"gamma_{c.name}") for c in model.comparisons]))
        for c in model.comparisons:
            measure(f"gamma {c.name}", b.select(engine._gamma(c).alias(f"gamma_{c.name}")))
        b.unpersist()
    elif v == "codegen":
        scored = engine.predict_pairs(spark, persons, settings, min_probability=cfg.link.min_pair_probability, tf_tables=tf,
                                      block_size_cap=CAP)
        scored.explain("formatted")
    elif v.startswith("nocomp:"):
        # score with all comparisons but one
        drop = v.split(":")[1]
        import dataclasses
        m2 = dataclasses.replace(model, comparisons=tuple(c for c in model.comparisons if c.name != drop))
        measure(v, engine._scored(engine._blocked(df, df, m2, where, cols, ordered=True), m2, cfg.link.min_pair_probability))

def blocked_hint(left, right, model, where, columns, hint, parts=None):
    import functools
    from padan.link.predict import equi_join_keys
    rule_keys = [(k, equi_join_keys(rule)) for k, rule in enumerate(model.rules)]
    keyed = [(k, keys) for k, keys in rule_keys if keys]
    lt, rt = _keyed(left, keyed), _keyed(right, keyed)
    if parts:
        lt = lt.repartition(parts, "__rule", "__h"); rt = rt.repartition(parts, "__rule", "__h")
    lt, rt = lt.alias("l"), rt.alias("r")
    if hint:
        rt = rt.hint(hint)
    cond = (F.col("l.__rule") == F.col("r.__rule")) & (F.col("l.__h") == F.col("r.__h")) & where
    first = functools.reduce(lambda a, b: a | b, [(F.col("l.__rule") == k) & engine._first_rule_only(k, model) for k, _ in keyed])
    return lt.join(rt, cond, "inner").where(first).select(*engine._pair_columns(columns, F.col("l.__rule")))

for v in os.environ.get("EXTRA", "").split(","):
    if not v:
        continue
    hint, parts = v.split(":")
    spark.conf.set("spark.sql.shuffle.partitions", parts)
    measure(f"blocked hint={hint} parts={parts}", blocked_hint(df, df, model, where, cols, hint if hint != "none" else None))

print(json.dumps({"max_generated_method_bytes": max_method_bytes(), "load_avg_end": os.getloadavg()}), flush=True)
