"""The CSV read path of an ingest timed alone: `padan.ingest.read.read_source` rows into Spark's
`noop` sink, with and without the malformed-line check, and the bookkeeping columns alone.

Each is run twice (the first pays most of the JIT); JVM CPU-seconds split by thread kind as in
`bench/ingest.py`.

    PYTHONPATH=src .venv/bin/python bench/ingest_read_profile.py p3ke /tmp/i14/1M
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import REPO, Meter, session  # noqa: E402  bench/ingest.py


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__)
        return 2
    from padan import config
    from padan.ingest.read import list_files, read_source

    src, data = argv[0], Path(argv[1])
    spark = session("3g", 2)
    try:
        cfg = config.load(env="base", conf_dir=REPO / "conf", overrides={"lake": {"root": tempfile.mkdtemp()}})
        contract = cfg.sources[src]
        raw = read_source(spark, src, contract, list_files(spark, src, str(data / src)))

        def run(name, df):
            for i in range(2):
                with Meter(spark, f"{name}{i}") as m:
                    df.write.format("noop").mode("overwrite").save()
                r = m.result(0)
                print(name, i, r["jvm_cpu_s"], r["cpu_s_by_thread"], r["spark_jobs"], flush=True)

        run("read_all", raw.rows)
        run("read_no_malformed", raw.rows.drop("_malformed"))
        run("read_keys_only", raw.rows.select("_source_file", "_line", "_raw_text"))
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
