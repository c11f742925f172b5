import json
import subprocess
import sys

import nbformat
import pytest

from plural_utils.cli import parse_value, resolve_target
from plural_utils.profiles import EXPERIMENTS


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "plural_utils", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def write_notebook(path, body):
    """A notebook with a papermill parameters cell and one cell running ``body``."""
    params = nbformat.v4.new_code_cell('profile = "cpu"\nseed = 0\nextra = None')
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_list_shows_experiments_and_profiles():
    res = cli("list")
    assert res.returncode == 0, res.stderr
    for name in EXPERIMENTS:
        assert name in res.stdout
    assert "smoke, cpu, paper" in res.stdout


def test_unknown_experiment_exits_2_naming_choices():
    res = cli("run", "no_such_experiment")
    assert res.returncode == 2
    assert "no_such_experiment" in res.stderr and all(name in res.stderr for name in ("lemma1", "e1"))


def test_unknown_profile_exits_2_naming_choices():
    res = cli("run", "e1", "--profile", "gpu")
    assert res.returncode == 2
    assert "'smoke', 'cpu', 'paper'" in res.stderr


def test_parse_value_reads_yaml_literals():
    assert parse_value("3") == 3
    assert parse_value("0.5") == 0.5
    assert parse_value("[1, 2]") == [1, 2]
    assert parse_value("abc") == "abc"
    assert parse_value("null") is None


def test_registered_notebook_path_maps_to_its_experiment():
    exp = EXPERIMENTS["e1"]
    from plural_utils.results import REPO_ROOT

    notebook = REPO_ROOT / exp.notebook
    assert notebook.exists()
    assert resolve_target(str(notebook)).experiment == "e1"


def test_run_executes_notebook_with_parameters(tmp_path):
    marker = tmp_path / "marker.json"
    body = (
        "import json, os\n"
        f"json.dump({{'profile': profile, 'seed': seed, 'extra': extra,"
        f" 'results': os.environ['PLURAL_RESULTS_DIR'], 'omp': os.environ['OMP_WAIT_POLICY'],"
        f" 'cwd': os.getcwd()}}, open({str(marker)!r}, 'w'))"
    )
    nb = write_notebook(tmp_path / "tiny.ipynb", body)
    out_dir, res_dir = tmp_path / "runs", tmp_path / "res"
    res = cli(
        "run", str(nb), "--profile", "smoke", "--seed", "5", "-p", "extra", "[1, 2]",
        "--output-dir", str(out_dir), "--results-dir", str(res_dir),
    )
    assert res.returncode == 0, res.stderr
    executed = out_dir / "tiny" / "smoke" / "tiny.ipynb"
    assert executed.exists()
    assert str(executed) in res.stdout and str(res_dir / "tiny" / "smoke") in res.stdout
    seen = json.loads(marker.read_text())
    assert seen == {
        "profile": "smoke", "seed": 5, "extra": [1, 2], "results": str(res_dir),
        "omp": "PASSIVE", "cwd": str(tmp_path),
    }


def test_failing_notebook_exits_nonzero_naming_error(tmp_path):
    nb = write_notebook(tmp_path / "broken.ipynb", "raise RuntimeError('deliberate failure')")
    res = cli("run", str(nb), "--profile", "smoke", "--output-dir", str(tmp_path / "runs"))
    assert res.returncode == 1
    assert "deliberate failure" in res.stderr
    assert (tmp_path / "runs" / "broken" / "smoke" / "broken.ipynb").exists()


def test_run_all_runs_the_rest_and_names_each_failure(tmp_path, monkeypatch, capsys):
    from plural_utils import cli
    from plural_utils.profiles import PROFILES, Experiment

    def experiment(name, body):
        nb = write_notebook(tmp_path / f"{name}.ipynb", body)
        return Experiment(name, name, str(nb), {p: {} for p in PROFILES})

    registry = {
        "bad": experiment("bad", "raise ValueError('first one breaks')"),
        "good": experiment("good", "x = 1"),
    }
    monkeypatch.setattr(cli, "EXPERIMENTS", registry)
    for var in ("PLURAL_RESULTS_DIR", "OMP_WAIT_POLICY", "MPLBACKEND"):
        monkeypatch.setenv(var, "restored after the test")  # main() sets these in-process
    out_dir = tmp_path / "runs"
    code = cli.main(["run-all", "--profile", "smoke", "--output-dir", str(out_dir),
                     "--results-dir", str(tmp_path / "res")])
    err = capsys.readouterr().err
    assert code == 1
    assert "1 of 2 notebooks failed" in err
    assert "bad.ipynb: ValueError: first one breaks" in err
    assert (out_dir / "good" / "smoke" / "good.ipynb").exists()
