"""Demo extracts for `padan demo` / `make run`: generated once per (rows, seed, profile)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from padan.errors import PadanError

logger = logging.getLogger(__name__)


def load_generator():
    """`padan_synth.write_extracts`. The generator is a development tool in its own package beside
    padan (src/padan_synth): a development checkout has it, the wheel and the --py-files zip that
    spark-submit receives do not."""
    try:
        from padan_synth import write_extracts
    except ImportError as e:

        raise PadanError("the synthetic data generator (package padan_synth) is a development tool and is not "
                         "part of the padan package: run `padan synth` / `padan demo` from a development "
                         "checkout (make setup)") from e
    return write_extracts


def ensure_demo_extracts(spark, out: str, *, p3ke_rows: int, prakerja_rows: int, seed: int, profile: str) -> bool:
    """Generate the demo extracts into `out` unless the same ones are already there (so their
    batch ids, and hence the run, stay the same on a rerun). Returns True when it generated."""
    params = {"p3ke_rows": p3ke_rows, "prakerja_rows": prakerja_rows, "seed": seed, "profile": profile}
    manifest = Path(out) / "manifest.json"
    if manifest.exists():
        try:
            if json.loads(manifest.read_text()) == params:
                logger.info("demo extracts already in %s (same parameters): reused", out)
                return False
        except ValueError:
            pass
    write_extracts = load_generator()
    logger.info("generating demo extracts into %s", out)
    write_extracts(spark, out, p3ke_rows=p3ke_rows, prakerja_rows=prakerja_rows, seed=seed, profile=profile, fmt="csv")
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(params, sort_keys=True))
    return True
