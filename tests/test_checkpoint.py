"""Per-round checkpoints: exact generator state, atomic files, and runs that resume bitwise after a kill."""

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from plural_utils import checkpoint as ckpt
from plural_utils.profiles import get_profile
from plural_utils.runners import gmm
from plural_utils.runners.finite_k import run_gmm_finite_k
from plural_utils.runners.gmm import GMMConfig, fit_gmm, model_state, restore_model, run_gmm_curation

FINITE_K = dict(T=6, n_pool=2000, n_keep=200, n_eval=300, n_entropy=500, switch_iter=2)


@pytest.fixture(scope="module")
def smoke():
    return GMMConfig(**get_profile("e1", "smoke"))


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.MT19937, np.random.Philox, np.random.SFC64])
def test_generator_state_survives_json_exactly(bit_generator):
    rng = np.random.Generator(bit_generator(7))
    rng.standard_normal(11)
    state = json.loads(json.dumps(ckpt.generator_state(rng)))
    twin = ckpt.restore_generator(state)
    np.testing.assert_array_equal(rng.standard_normal(100), twin.standard_normal(100))
    np.testing.assert_array_equal(rng.integers(0, 10**9, 50), twin.integers(0, 10**9, 50))


def test_checkpoint_round_trip_and_key_check(tmp_path):
    rows = [{"t": 0, "x": 0.1, "y": np.nan}, {"t": 1, "x": 1 / 3, "y": 2.5}]
    saved = ckpt.RoundCheckpoint(tmp_path, "demo", {"seed": 1, "grid": (1.0, 2.0)})
    saved.save({"t": 1, "note": "hi"}, {"a": np.arange(6.0).reshape(2, 3)}, rows)
    back = ckpt.RoundCheckpoint(tmp_path, "demo", {"grid": [1.0, 2.0], "seed": 1}).load()
    assert back.state == {"t": 1, "note": "hi"}
    np.testing.assert_array_equal(back.arrays["a"], np.arange(6.0).reshape(2, 3))
    pd.testing.assert_frame_equal(pd.DataFrame(back.rows), pd.DataFrame(rows), check_exact=True)
    assert ckpt.RoundCheckpoint(tmp_path, "demo", {"seed": 2}).load() is None
    other = ckpt.RoundCheckpoint(tmp_path, "demo", {"seed": 2})
    other.path.write_bytes(saved.path.read_bytes())  # a file under the wrong name is refused
    with pytest.raises(ValueError, match="another run"):
        other.load()


def test_loading_never_unpickles(tmp_path):
    cp = ckpt.RoundCheckpoint(tmp_path, "demo", {"seed": 0})
    meta = {"format": ckpt.FORMAT_VERSION, "key": cp.key, "state": {}, "columns": []}
    np.savez(cp.path, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
             evil=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        cp.load()


def test_a_failed_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    cp = ckpt.RoundCheckpoint(tmp_path, "demo", {"seed": 0})
    cp.save({"t": 1}, {}, [{"t": 1}])
    before = cp.path.read_bytes()

    def killed(*args):
        raise KeyboardInterrupt("killed between the write and the rename")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        cp.save({"t": 2}, {"big": np.zeros(10_000)}, [{"t": 1}, {"t": 2}])
    assert cp.path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [cp.path.name]


def test_restored_model_samples_and_scores_identically():
    rng = np.random.default_rng(0)
    model = fit_gmm(np.concatenate([rng.normal(2, 0.5, (150, 2)), rng.normal(8, 1, (150, 2))]), 2, 42)
    meta, arrays = model_state(model)
    twin = restore_model(json.loads(json.dumps(meta)), arrays)
    x = gmm.sample_gmm(model, 100, np.random.default_rng(1))
    np.testing.assert_array_equal(x, gmm.sample_gmm(twin, 100, np.random.default_rng(1)))
    np.testing.assert_array_equal(model.score_samples(x), twin.score_samples(x))


def test_no_folder_means_no_checkpoint(smoke, tmp_path, monkeypatch):
    monkeypatch.delenv(ckpt.CHECKPOINT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    run_gmm_curation(dataclasses.replace(smoke, T=2), 0)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv(ckpt.CHECKPOINT_ENV, str(tmp_path / "ck"))
    run_gmm_curation(dataclasses.replace(smoke, T=2), 0)
    assert [p.suffix for p in (tmp_path / "ck").iterdir()] == [".npz"]


def _killed_run(code: str, kill_after: int) -> None:
    """Run ``code`` in a fresh interpreter that SIGKILLs itself after saving round ``kill_after``."""
    env = {**os.environ, ckpt.KILL_AFTER_ENV: str(kill_after)}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == -signal.SIGKILL, res.stderr


@pytest.mark.parametrize("changes", [{}, {"accumulate": True, "real_fraction": 0.2}], ids=["plain", "accumulate"])
def test_gmm_run_killed_mid_way_resumes_bitwise(smoke, tmp_path, changes):
    cfg = dataclasses.replace(smoke, **changes)
    uninterrupted = run_gmm_curation(cfg, 4)
    folder = tmp_path / "ck"
    _killed_run(
        "import dataclasses\n"
        "from plural_utils.profiles import get_profile\n"
        "from plural_utils.runners.gmm import GMMConfig, run_gmm_curation\n"
        f"cfg = dataclasses.replace(GMMConfig(**get_profile('e1', 'smoke')), **{changes!r})\n"
        f"run_gmm_curation(cfg, 4, checkpoint_dir={str(folder)!r})\n",
        kill_after=5,
    )
    assert len(list(folder.iterdir())) == 1  # one file per run, replaced every round
    partial = ckpt.RoundCheckpoint(folder, "gmm", {"config": dataclasses.asdict(cfg), "seed": 4}).load()
    assert partial.state["t"] == 5 and len(partial.rows) == 6
    resumed = run_gmm_curation(cfg, 4, checkpoint_dir=folder)
    pd.testing.assert_frame_equal(resumed, uninterrupted, check_exact=True)


def test_finished_run_is_read_back_not_recomputed(smoke, tmp_path, monkeypatch):
    cfg = dataclasses.replace(smoke, T=3)
    first = run_gmm_curation(cfg, 0, checkpoint_dir=tmp_path)

    def no_fit(*args, **kwargs):
        raise AssertionError("a finished run was refit")

    monkeypatch.setattr(gmm, "fit_gmm", no_fit)
    pd.testing.assert_frame_equal(run_gmm_curation(cfg, 0, checkpoint_dir=tmp_path), first, check_exact=True)


@pytest.mark.parametrize("K", [4, math.inf])
def test_finite_k_run_killed_mid_way_resumes_bitwise(tmp_path, K):
    uninterrupted = run_gmm_finite_k(K, 0.5, 3, **FINITE_K)
    _killed_run(
        "import math\n"
        "from plural_utils.runners.finite_k import run_gmm_finite_k\n"
        f"run_gmm_finite_k({'math.inf' if math.isinf(K) else K}, 0.5, 3, checkpoint_dir={str(tmp_path)!r}, "
        f"**{FINITE_K!r})\n",
        kill_after=3,
    )
    resumed = run_gmm_finite_k(K, 0.5, 3, checkpoint_dir=tmp_path, **FINITE_K)
    pd.testing.assert_frame_equal(resumed, uninterrupted, check_exact=True)


def test_a_code_change_starts_over(tmp_path, monkeypatch):
    old = ckpt.RoundCheckpoint(tmp_path, "demo", {"seed": 0})
    old.save({"t": 3}, {}, [{"t": 3}])
    assert old.key["__code__"] == ckpt.code_fingerprint()
    monkeypatch.setattr(ckpt, "code_fingerprint", lambda: "another-version")
    new = ckpt.RoundCheckpoint(tmp_path, "demo", {"seed": 0})
    assert new.path != old.path and new.load() is None  # the old rounds are not resumed
    new.path.write_bytes(old.path.read_bytes())  # nor accepted under the new name
    with pytest.raises(ValueError, match="another run"):
        new.load()


def test_round_weights_are_saved_first_and_only_the_last_kept(tmp_path, monkeypatch):
    import torch

    cp = ckpt.RoundCheckpoint(tmp_path, "net", {"seed": 0})
    cp.save_round({"t": 1}, {}, [{"t": 1}], {"w": torch.ones(3)})
    cp.save_round({"t": 2}, {}, [{"t": 1}, {"t": 2}], {"w": torch.full((3,), 2.0)})
    saved = cp.load()
    assert saved.state["t"] == 2 and torch.equal(cp.load_weights(saved)["w"], torch.full((3,), 2.0))
    assert sorted(p.name for p in tmp_path.glob("*.safetensors")) == [f"{cp.path.stem}-t2.safetensors"]

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed after the weights, before the checkpoint")

    monkeypatch.setattr(cp, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        cp.save_round({"t": 3}, {}, [], {"w": torch.zeros(3)})
    saved = cp.load()  # round 2 is still the last finished round, with its own weights
    assert saved.state["t"] == 2 and torch.equal(cp.load_weights(saved)["w"], torch.full((3,), 2.0))
