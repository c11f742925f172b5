"""Execute every registered notebook at the smoke profile; a failing cell fails the test.

Select alone with ``pytest -m notebooks``, skip with ``-m "not notebooks"``.
"""

import nbformat
import papermill as pm
import pytest

from plural_utils.cli import KERNEL_MPLBACKEND
from plural_utils.profiles import EXPERIMENTS
from plural_utils.results import REPO_ROOT


@pytest.mark.notebooks
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_notebook_runs_at_smoke(name, tmp_path, results_root, monkeypatch):
    notebook = REPO_ROOT / EXPERIMENTS[name].notebook
    assert notebook.exists(), f"{EXPERIMENTS[name].notebook} is registered but missing"
    monkeypatch.setenv("MPLBACKEND", KERNEL_MPLBACKEND)  # as `python -m plural_utils run` sets it
    out = tmp_path / notebook.name
    pm.execute_notebook(
        str(notebook),
        str(out),
        parameters={"profile": "smoke"},
        kernel_name="python3",
        cwd=str(notebook.parent),
        progress_bar=False,
    )
    executed = nbformat.read(str(out), as_version=4)
    figures = [o for c in executed.cells if c.cell_type == "code"
               for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert figures, f"{name}: no figure was rendered into the executed notebook"
    # Sphinx (-W) fails the book on a name glued twice; catch it here, at smoke.
    glued = [o["metadata"]["scrapbook"]["name"] for c in executed.cells if c.cell_type == "code"
             for o in c.get("outputs", []) if "scrapbook" in o.get("metadata", {})]
    twice = sorted({g for g in glued if glued.count(g) > 1})
    assert not twice, f"{name}: glue names used more than once: {twice}"
