"""Write the small synthetic extracts the test suite reads, under tests/fixtures/extracts/<name>/.

    .venv/bin/python scripts/make_test_extracts.py          # all sets
    .venv/bin/python scripts/make_test_extracts.py pipeline # one set

Each set is what `padan synth` writes (P3KE and Prakerja CSV, UTF-8, header), with the truth as
CSV (source, record_id, person_id) instead of Parquet so that every committed file is text. The
tests read these files instead of running the generator, which cost minutes of Spark planning
for a few thousand rows with the previous generator. The data is generated and obviously synthetic. Rerun this after a
change to the contracts and commit the result with the change.

The committed sets were written by the previous (SQL-expression) generator; the vectorised one
(src/padan_synth, 2026-11-30) draws the same world but not the same rows for a seed, so rerunning
this changes every file -- and the tests' expectations that depend on them: do it on purpose only.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "fixtures" / "extracts"

# name -> generator parameters; the tests name the set they read.
SETS = {
    "pipeline": dict(p3ke_rows=2000, prakerja_rows=1500, seed=7, profile="typical"),
    "increment": dict(p3ke_rows=1200, prakerja_rows=1000, seed=5, profile="typical"),
    "notebooks": dict(p3ke_rows=1200, prakerja_rows=800, seed=20241, profile="typical"),
}


def main(names: list[str]) -> None:
    import pandas as pd

    from padan.spark import get_spark
    from padan_synth import write_extracts

    spark = get_spark("padan-test-extracts", {"spark.sql.shuffle.partitions": "2"}, master="local[2]")
    for name in names or list(SETS):
        params = SETS[name]
        with tempfile.TemporaryDirectory() as tmp:
            write_extracts(spark, tmp, fmt="csv", partitions=1, **params)
            dest = OUT / name
            shutil.rmtree(dest, ignore_errors=True)
            for source in ("p3ke", "prakerja"):
                (dest / source).mkdir(parents=True)
                parts = sorted(Path(tmp, source).glob("part-*.csv"))
                frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in parts]
                pd.concat(frames, ignore_index=True).to_csv(dest / source / "part-00000.csv", index=False)
            truth = pd.read_parquet(Path(tmp, "truth"))
            truth.sort_values(list(truth.columns)).to_csv(dest / "truth.csv", index=False)
            # The manifest `padan.demo.ensure_demo_extracts` writes: a notebook workspace finds it and reuses the set.
            (dest / "manifest.json").write_text(json.dumps(params, sort_keys=True))
        print(f"{name}: {params}")


if __name__ == "__main__":
    main(sys.argv[1:])
