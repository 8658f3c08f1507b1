"""Stage the Delta Lake jars (and the dependencies Spark does not already ship) into a folder.

Run once by `make setup`. Resolution uses Spark's own Ivy (`spark.jars.packages`), the same
mechanism `spark-submit --packages` uses on a cluster, so what is staged is what a cluster
would fetch. Afterwards runs and tests need no network: `padan.spark` puts the staged jars on
`spark.jars`.

Usage: python scripts/stage_jars.py DEST_DIR COORDINATE [COORDINATE ...]
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path


def _artifact_key(jar_name: str) -> str:
    """'org.foo_bar-baz-1.2.3.jar' or 'bar-baz-1.2.3.jar' -> 'bar-baz' (name without version)."""
    name = jar_name.split("_", 1)[1] if "_" in jar_name.split("-")[0] else jar_name
    return re.sub(r"-\d[^-]*(-[a-z0-9]+)?\.jar$", "", name)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    dest = Path(argv[0]).resolve()
    coordinates = argv[1:]
    ivy_dir = dest.parent / ".cache" / "ivy"
    ivy_dir.mkdir(parents=True, exist_ok=True)

    import pyspark
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("padan-stage-jars")
        .config("spark.jars.packages", ",".join(coordinates))
        .config("spark.jars.ivy", str(ivy_dir))
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.stop()

    spark_jars = {_artifact_key(p.name) for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    resolved = sorted((ivy_dir / "jars").glob("*.jar"))
    if not resolved:
        print(f"no jars resolved for {coordinates} into {ivy_dir / 'jars'}", file=sys.stderr)
        return 1
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    kept = []
    for jar in resolved:
        if _artifact_key(jar.name) in spark_jars:
            continue  # Spark ships its own copy; a second one on the classpath only risks conflicts
        shutil.copy2(jar, tmp / jar.name)
        kept.append(jar.name)
    wanted = [c.split(":")[1] for c in coordinates]
    missing = [a for a in wanted if not any(_artifact_key(k) == a for k in kept)]
    if missing:
        print(f"resolution did not produce {missing}", file=sys.stderr)
        return 1
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    (dest / "COORDINATES").write_text("\n".join(coordinates) + "\n")
    print(f"staged {len(kept)} jars into {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
