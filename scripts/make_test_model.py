"""Train the model the tests pin, on the committed `increment` extract set, and export it to
tests/fixtures/model/ (<version>.json + <version>.tf.csv, see padan.model.store.export_model).

    .venv/bin/python scripts/make_test_model.py

Only the tests about training train; the others install this model (import_model) and score with
it. Rerun after a change to conf/base/model.yml, the training code or the standardisation, and
commit the result with the change (tests/test_model_fixture.py fails until you do).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "tests" / "fixtures" / "model"


def main() -> None:
    from padan import config
    from padan.model.store import export_model
    from padan.stages import Ctx, run_ingest, run_train
    from padan.spark import get_spark
    from tests.conftest import TEST_MODEL_OVERRIDES, install_extracts

    spark = get_spark("padan-test-model", {"spark.sql.shuffle.partitions": "2"}, master="local[2]")
    with tempfile.TemporaryDirectory() as tmp:
        data = install_extracts("increment", Path(tmp) / "data")
        cfg = config.load(env="base", conf_dir=REPO / "conf", overrides={
            "lake": {"root": f"{tmp}/lake"},
            "sources": {"p3ke": {"path": str(data / "p3ke")}, "prakerja": {"path": str(data / "prakerja")}},
            **TEST_MODEL_OVERRIDES})
        ctx = Ctx.create(spark, cfg, run_date="2026-11-28")
        for source in ("p3ke", "prakerja"):
            run_ingest(ctx, source)
        version = run_train(ctx)
        shutil.rmtree(OUT, ignore_errors=True)
        print("exported", *export_model(ctx.lake, version, str(OUT)))


if __name__ == "__main__":
    main()
