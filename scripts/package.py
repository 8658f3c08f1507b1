"""Build what a cluster receives, into one folder (default dist/): `make package` runs this.

    padan-<version>-py3-none-any.whl   the package (pip install on the cluster's nodes)
    padan_pyfiles.zip                  the same package for spark-submit --py-files
    padan_conf.tar.gz                  conf/base and conf/cluster

The tests build through this script too, so the path a user types is the path the suite proves.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build(dist: Path) -> dict[str, Path]:
    dist = dist.resolve()
    shutil.rmtree(dist, ignore_errors=True)
    dist.mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(REPO)], check=True, cwd=dist)
    shutil.rmtree(REPO / "build", ignore_errors=True)       # setuptools' scratch folder
    wheel = next(dist.glob("padan-*.whl"))
    pyfiles = dist / "padan_pyfiles.zip"
    with zipfile.ZipFile(pyfiles, "w", zipfile.ZIP_DEFLATED) as zf:   # what the wheel holds, no caches
        for path in sorted((REPO / "src" / "padan").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(REPO / "src"))
    conf = dist / "padan_conf.tar.gz"
    with tarfile.open(conf, "w:gz") as tar:
        for part in ("base", "cluster"):
            tar.add(REPO / "conf" / part, arcname=f"conf/{part}")
    return {"wheel": wheel, "pyfiles": pyfiles, "conf": conf}


if __name__ == "__main__":
    out = build(Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "dist"))
    for kind, path in out.items():
        print(f"{kind:<8} {path} ({path.stat().st_size:,} bytes)")
