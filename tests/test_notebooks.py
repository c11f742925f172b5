"""Execute every registered notebook at the smoke profile; a failing cell fails the test.

Select alone with ``pytest -m notebooks``, skip with ``-m "not notebooks"``.
"""

import papermill as pm
import pytest

from plural_utils.profiles import EXPERIMENTS
from plural_utils.results import REPO_ROOT


@pytest.mark.notebooks
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_notebook_runs_at_smoke(name, tmp_path, results_root):
    notebook = REPO_ROOT / EXPERIMENTS[name].notebook
    assert notebook.exists(), f"{EXPERIMENTS[name].notebook} is registered but missing"
    pm.execute_notebook(
        str(notebook),
        str(tmp_path / notebook.name),
        parameters={"profile": "smoke"},
        kernel_name="python3",
        cwd=str(notebook.parent),
        progress_bar=False,
    )
