"""Sweeps: grid expansion, the local pool and submitit paths, the index, failure isolation, skip/force, resume."""

import dataclasses
import io
import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from plural_utils import checkpoint, cli, sweep
from plural_utils.profiles import EXPERIMENTS, Experiment, get_profile
from plural_utils.runners.gmm import GMMConfig, run_gmm_curation

PROFILE = {"scale": 1.0}


def write_notebook(path, parameters, body):
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def register(monkeypatch, name, notebook):
    exp = Experiment(name=name, title=name, notebook=str(notebook),
                     profiles={p: PROFILE for p in ("smoke", "cpu", "paper")})
    monkeypatch.setitem(EXPERIMENTS, name, exp)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A notebook that saves x * tau (E1's profile) and the job's environment; x = 3 raises in a cell.

    Registered (in this process only, for the sweep's checks) as experiment ``tiny``.
    """
    body = (
        "import os\n"
        "from plural_utils.profiles import get_profile\n"
        "from plural_utils.results import save_results\n"
        "cfg = get_profile('e1', profile)\n"
        "if x == 3:\n"
        "    raise ValueError('x = 3 is not allowed')\n"
        "save_results('tiny', profile, 'out', {'value': x * cfg['tau'], 'seed': seed,\n"
        "             'gpu': os.environ.get('CUDA_VISIBLE_DEVICES'),\n"
        "             'checkpoints': os.environ['PLURAL_CHECKPOINT_DIR']}, seed=seed)\n"
    )
    register(monkeypatch, "tiny", write_notebook(tmp_path / "tiny.ipynb", 'profile = "cpu"\nseed = 0\nx = None', body))
    return tmp_path / "sweeps"


def out_of(row):
    folder = Path(row["results_dir"]) / row["experiment"] / row["profile"]
    return json.loads((folder / "out.json").read_text())


def test_grid_parsing_and_expansion():
    assert sweep.split_values("0.1, [1, 2],'a,b'") == ["0.1", "[1, 2]", "'a,b'"]
    grid = sweep.parse_grid(["q=0.1,0.5", "mu1=[1,1],[2,2]"])
    assert grid == {"q": [0.1, 0.5], "mu1": [[1, 1], [2, 2]]}
    points = sweep.expand_grid(grid)
    assert len(points) == 4 and points[1] == {"q": 0.1, "mu1": [2, 2]}
    for bad in (["q"], ["=1"], ["q="], ["q=1", "q=2"]):
        with pytest.raises(ValueError):
            sweep.parse_grid(bad)


def test_job_ids_are_stable_readable_and_distinct():
    ids = {sweep.job_id(p, s) for p in sweep.expand_grid({"q": [0.1, 0.5], "K": [10]}) for s in range(3)}
    assert len(ids) == 6
    assert sweep.job_id({"q": 0.1, "K": 10}, 2) == sweep.job_id({"q": 0.1, "K": 10}, 2)
    assert sweep.job_id({"q": 0.1, "K": 10}, 2).startswith("q0.1_K10_seed2-")


def test_bad_grid_key_names_itself_and_the_allowed_ones(tiny, capsys):
    with pytest.raises(ValueError, match=r"'y'.*allowed keys.*: x"):
        sweep.make_jobs("tiny", "smoke", {"y": [1]}, [0], tiny)
    with pytest.raises(ValueError, match="set by the sweep"):
        sweep.make_jobs("tiny", "smoke", {"seed": [1]}, [0], tiny)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["sweep", "tiny", "--grid", "y=1,2", "--output-dir", str(tiny)])
    assert exit_.value.code == 2 and "unknown grid key 'y'" in capsys.readouterr().err


def test_small_grid_completes_on_the_local_pool_and_is_indexed(tiny):
    jobs = sweep.make_jobs("tiny", "smoke", {"x": [1, 2]}, range(2), tiny)
    index = sweep.sweep_folder("tiny", "smoke", tiny) / sweep.INDEX_NAME
    rows = sweep.run_sweep(jobs, sweep.LocalExecutor(max_workers=2, gpus=["5", "7"]), index, progress=False)
    assert [r["status"] for r in rows] == ["done"] * 4
    frame = sweep.load_index(index)
    assert len(frame) == 4 and set(frame["status"]) == {"done"}
    assert sorted(zip(frame["x"], frame["seed"])) == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert frame["git_commit"].notna().all() and (frame["plural_utils"] == "0.1.0").all()
    assert (frame["wall_time_s"] > 0).all() and frame["error"].isna().all()
    assert set(frame["device"]) <= {"cuda:5", "cuda:7"}
    for row in frame.to_dict("records"):
        saved = out_of(row)  # each job wrote into its own results folder
        assert saved["value"] == row["x"] and saved["seed"] == row["seed"]
        assert saved["gpu"] == row["device"].removeprefix("cuda:")  # one GPU per job
        assert saved["checkpoints"] == row["checkpoint_dir"]
        assert Path(row["notebook"]).is_file() and json.loads(row["params"]) == {"x": row["x"]}


def test_a_failing_job_is_reported_while_the_others_finish_then_skip_and_force(tiny, capsys):
    argv = ["sweep", "tiny", "--profile", "smoke", "--grid", "x=1,3,2", "--jobs", "2", "--output-dir", str(tiny)]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "1 failed" in err and "ValueError: x = 3 is not allowed (In [3])" in err
    index = sweep.sweep_folder("tiny", "smoke", tiny) / sweep.INDEX_NAME
    first = sweep.load_index(index).set_index("x")
    assert first.loc[[1, 2], "status"].eq("done").all() and first.loc[3, "status"] == "failed"
    assert "x = 3" in first.loc[3, "error"] and Path(first.loc[3, "notebook"]).is_file()

    assert cli.main(argv) == 1  # rerun: finished jobs are skipped, the failed one runs again
    second = sweep.load_index(index).set_index("x")
    assert list(second.loc[[1, 2], "status"]) == ["skipped", "skipped"]
    assert (second.loc[[1, 2], "finished"] == first.loc[[1, 2], "finished"]).all()
    assert second.loc[3, "status"] == "failed"

    assert cli.main([*argv[:5], "x=1,2", *argv[6:], "--force"]) == 0  # forced: everything reruns
    assert "2 done, 0 skipped, 0 failed" in capsys.readouterr().out
    third = sweep.load_index(index).set_index("x")
    assert list(third.loc[[1, 2], "status"]) == ["done", "done"]
    assert third.loc[3, "status"] == "failed"  # a job outside this sweep keeps its row


def test_submitit_debug_executor_runs_the_same_jobs(tiny, capsys):
    argv = ["sweep", "tiny", "--profile", "smoke", "--grid", "x=1,2", "--executor", "debug",
            "--output-dir", str(tiny)]
    assert cli.main(argv) == 0
    frame = sweep.load_index(sweep.sweep_folder("tiny", "smoke", tiny) / sweep.INDEX_NAME)
    assert list(frame["status"]) == ["done", "done"]
    assert [out_of(r)["value"] for r in frame.to_dict("records")] == [1.0, 2.0]
    assert (sweep.sweep_folder("tiny", "smoke", tiny) / "_submitit").is_dir()


def test_killed_job_resumes_and_reproduces_the_uninterrupted_run(tmp_path, monkeypatch):
    body = (
        "import dataclasses\n"
        "from plural_utils.profiles import get_profile\n"
        "from plural_utils.results import save_results\n"
        "from plural_utils.runners.gmm import GMMConfig, run_gmm_curation\n"
        "cfg = dataclasses.replace(GMMConfig(**get_profile('e1', 'smoke')), T=T)\n"
        "save_results('gmmjob', profile, 'table', run_gmm_curation(cfg, seed), seed=seed)\n"
    )
    register(monkeypatch, "gmmjob", write_notebook(tmp_path / "gmm.ipynb", 'profile = "cpu"\nseed = 0\nT = None', body))
    (job,) = sweep.make_jobs("gmmjob", "smoke", {"T": [8]}, [3], tmp_path / "sweeps")
    index = tmp_path / "index.csv"
    monkeypatch.setenv(checkpoint.KILL_AFTER_ENV, "4")  # the kernel SIGKILLs itself after round 4
    (killed,) = sweep.run_sweep([job], sweep.LocalExecutor(max_workers=1, gpus=[]), index, progress=False)
    assert killed["status"] == "failed" and "DeadKernelError" in killed["error"]
    cfg = dataclasses.replace(GMMConfig(**get_profile("e1", "smoke")), T=8)
    run_checkpoint = checkpoint.RoundCheckpoint(job.checkpoint_dir, "gmm",
                                                {"config": dataclasses.asdict(cfg), "seed": 3})
    assert run_checkpoint.load().state["t"] == 4

    monkeypatch.delenv(checkpoint.KILL_AFTER_ENV)
    (resumed,) = sweep.run_sweep([job], sweep.LocalExecutor(max_workers=1, gpus=[]), index, progress=False)
    assert resumed["status"] == "done"
    uninterrupted = run_gmm_curation(cfg, 3)
    pd.testing.assert_frame_equal(pd.DataFrame(run_checkpoint.load().rows), uninterrupted, check_exact=True)
    table = pd.read_csv(job.results_dir / "gmmjob" / "smoke" / "table.csv")
    reference = pd.read_csv(io.StringIO(uninterrupted.to_csv(index=False)))
    pd.testing.assert_frame_equal(table, reference, check_exact=True)


def test_real_e1_notebook_runs_as_a_sweep_job(tmp_path):
    jobs = sweep.make_jobs("e1", "smoke", {"T": [3], "n_seeds": [1]}, [0], tmp_path)
    (row,) = sweep.run_sweep(jobs, sweep.LocalExecutor(max_workers=1, gpus=[]), tmp_path / "index.csv",
                             progress=False)
    assert row["status"] == "done", row["error"]
    results = Path(row["results_dir"]) / "e1" / "smoke"
    assert (results / "trajectories.csv").is_file()
    assert pd.read_csv(results / "trajectories.csv")["t"].max() == 3
    assert any(Path(row["checkpoint_dir"]).glob("gmm-*.npz"))


def test_submitit_local_cluster_polls_jobs_to_completion(tiny):
    """submitit's "local" cluster runs each job in its own process and is polled like Slurm."""
    jobs = sweep.make_jobs("tiny", "smoke", {"x": [2]}, [0], tiny)
    folder = sweep.sweep_folder("tiny", "smoke", tiny)
    executor = sweep.SubmititExecutor(folder / "_submitit", cluster="local", time_min=5, poll_s=0.2)
    (row,) = sweep.run_sweep(jobs, executor, folder / sweep.INDEX_NAME, progress=False)
    assert row["status"] == "done", row["error"]
    assert out_of(row)["value"] == 2.0


def test_profile_keys_the_notebook_does_not_expose_are_swept_through_the_environment(tmp_path, monkeypatch):
    """E1's notebook does not expose tau; a grid on tau reaches get_profile via PLURAL_PROFILE_OVERRIDES."""
    body = (
        "from plural_utils.profiles import get_profile\n"
        "from plural_utils.results import save_results\n"
        "cfg = get_profile('e1', profile, q=q)\n"
        "save_results('e1', profile, 'out', {'tau': cfg['tau'], 'q': cfg['q']}, seed=seed)\n"
    )
    notebook = write_notebook(tmp_path / "uses_e1.ipynb", 'profile = "cpu"\nseed = 0\nq = None', body)
    exp = dataclasses.replace(EXPERIMENTS["e1"], notebook=str(notebook))
    monkeypatch.setitem(EXPERIMENTS, "e1", exp)
    jobs = sweep.make_jobs("e1", "smoke", {"tau": [0.25, 4.0], "q": [0.3]}, [0], tmp_path / "sweeps")
    rows = list(sweep.run_sweep(jobs, sweep.LocalExecutor(max_workers=1), tmp_path / "sweeps" / "index.csv"))
    assert [r["status"] for r in rows] == ["done", "done"]
    assert sorted(out_of(r)["tau"] for r in rows) == [0.25, 4.0]
    assert {out_of(r)["q"] for r in rows} == {0.3}
