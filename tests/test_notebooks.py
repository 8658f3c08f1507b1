"""Every tuning notebook runs headless on a small generated sample, in order, sharing one lake."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
pytestmark = pytest.mark.notebooks


def test_notebooks_are_committed_without_outputs():
    import nbformat

    assert len(NOTEBOOKS) == 5
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


def test_notebooks_execute(spark, tmp_path, monkeypatch):
    """All five notebooks, in order, in ONE kernel (one Spark JVM, as a user working through them
    in one Jupyter session would have): each still builds its own workspace and fails on any cell
    error. The extracts are the committed synthetic set, so no notebook runs the generator."""
    import nbformat
    from nbclient import NotebookClient

    from padan.notebook import workspace
    from tests.conftest import install_extracts

    monkeypatch.setenv("PADAN_NB_ROOT", str(tmp_path / "nb"))
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    # The kernel works in a folder of its own (a Spark session leaves ./spark-warehouse where it
    # starts), finding padan's config as a user outside the checkout would.
    monkeypatch.setenv("PADAN_CONF_DIR", str(REPO / "conf"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    warehouse_before = (REPO / "spark-warehouse").exists()
    # The sample is ingested here, in the test session's warm JVM; each notebook's workspace() then
    # finds the same extracts (their manifest) and skips the ingested batches.
    install_extracts("notebooks", tmp_path / "nb" / "data")
    workspace(p3ke_rows=1200, prakerja_rows=800, env="base", root=str(tmp_path / "nb"), u_max_pairs=50_000)
    notebooks = [nbformat.read(path, as_version=4) for path in NOTEBOOKS]
    resources = {"metadata": {"path": str(work)}}
    owner = NotebookClient(notebooks[0], timeout=900, kernel_name="python3", resources=resources)
    owner.km = owner.create_kernel_manager()
    owner.start_new_kernel()
    try:
        for path, nb in zip(NOTEBOOKS, notebooks):
            params = nb.cells[1]
            assert params.source.startswith("# Parameters")
            params.source = "P3KE_ROWS = 1200\nPRAKERJA_ROWS = 800\nU_MAX_PAIRS = 50_000\nENV = 'base'\n"
            NotebookClient(nb, km=owner.km, timeout=900, kernel_name="python3", resources=resources).execute()
            errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
            assert not errors, (path.name, errors)
            assert all(c.execution_count for c in nb.cells if c.cell_type == "code"), path.name
    finally:
        owner._cleanup_kernel()
    assert (REPO / "spark-warehouse").exists() == warehouse_before      # no Spark folder left in the checkout
