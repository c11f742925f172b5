"""Image experiments E3/E10: loaders, metrics, rewards, the round loop, checkpoint/resume, the paper path."""

import gzip
import os
import subprocess
import sys
import tarfile
import time

import numpy as np
import pandas as pd
import pytest
import torch

from plural_utils.images import data as imdata
from plural_utils.images import metrics as im
from plural_utils.images.models import VGG11, make_flow, sample_flow
from plural_utils.images.rewards import classifier_rewards, load_paper_reward, reward_target
from plural_utils.profiles import get_profile
from plural_utils.results import REPO_ROOT
from plural_utils.runners.images import (ClassifierRewards, ImageConfig, PaperRewards, e3_condition_of,
                                         e3_conditions, e10_conditions, prepare, run_condition)

TINY = dict(classifier_steps=30, pretrain_steps=20, retrain_steps=3, N=48, n=12, K=4, T=3, n_ref=100, ode_steps=2)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLURAL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def tiny(cache):
    cfg = get_profile("e3", "smoke", **TINY)
    return cfg, prepare(ImageConfig.from_profile(cfg), seed=0, progress=False)


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def _write_cifar(folder, per_batch=6, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = rng.integers(0, 10, per_batch, dtype=np.uint8)
        pixels = rng.integers(0, 256, (per_batch, 3 * 32 * 32), dtype=np.uint8)
        (folder / name).write_bytes(np.concatenate([labels[:, None], pixels], axis=1).tobytes())


def test_pool_pads_then_averages():
    x = np.ones((2, 1, 28, 28), dtype=np.float32)
    out = imdata.pool_to(x, 16)
    assert out.shape == (2, 1, 16, 16)
    # 28 -> 32 adds a 2-pixel background border, exactly one pooled cell wide.
    assert np.all(out[:, :, 0, :] == -1.0) and np.all(out[:, :, :, -1] == -1.0)
    assert np.allclose(out[:, :, 1:-1, 1:-1], 1.0)


def test_digits_in_unit_range():
    d = imdata.load_digits()
    assert d.train_x.shape[1:] == (1, 8, 8) and len(d.train_x) + len(d.test_x) == 1797
    assert d.train_x.min() >= -1 and d.train_x.max() <= 1 and d.n_classes == 10


def test_fashion_reads_idx_files_from_a_folder(tmp_path):
    rng = np.random.default_rng(0)
    for key, fname in imdata.FASHION_FILES.items():
        n = 5 if key.startswith("train") else 3
        arr = rng.integers(0, 256, (n, 28, 28)) if key.endswith("x") else rng.integers(0, 10, n)
        _write_idx(tmp_path / fname, arr)
    d = imdata.load_fashion_mnist(tmp_path, download=False)
    assert d.train_x.shape == (5, 1, 28, 28) and d.test_y.shape == (3,)
    assert d.train_x.min() >= -1 and d.train_x.max() <= 1


def test_fashion_missing_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(imdata, "DEBIAN_FASHION_DIR", tmp_path / "none")
    monkeypatch.setattr(imdata, "REPO_ROOT", tmp_path)
    monkeypatch.delenv(imdata.FASHION_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        imdata.load_fashion_mnist(tmp_path / "empty", download=False)


def test_cifar_binary_folder_and_archive(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    _write_cifar(folder)
    d = imdata.load_cifar10(tmp_path)
    assert d.train_x.shape == (30, 3, 32, 32) and d.test_x.shape == (6, 3, 32, 32)
    raw = (folder / "data_batch_1.bin").read_bytes()
    assert d.train_y[0] == raw[0] and np.isclose(d.train_x[0, 0, 0, 0], raw[1] / 255 * 2 - 1)
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    with tarfile.open(archive_dir / "cifar-10-binary.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-bin")
    e = imdata.load_cifar10(archive_dir)
    assert np.array_equal(e.train_x, d.train_x) and np.array_equal(e.test_y, d.test_y)


def test_missing_cifar_fails_fast_with_the_url(tmp_path):
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="cifar-10-binary.tar.gz"):
        imdata.load_cifar10(tmp_path / "nothing")
    assert time.perf_counter() - start < 1.0


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 4))
    assert im.frechet_distance(a, a) < 1e-8
    shifted = im.frechet_distance(a, a + 3.0)
    assert abs(shifted - 36.0) < 1e-6  # mean shift 3 in 4 dimensions, same covariance
    with pytest.raises(ValueError, match="features"):
        im.frechet_distance(a, a[:, :3])


@pytest.mark.parametrize("labels", [[0] * 10, [0, 1] * 5, list(range(10)), [3, 3, 3, 7]])
def test_entropy_plus_kl_is_log_classes(labels):
    h, kl = im.class_entropy(labels, 10), im.kl_to_uniform(labels, 10)
    assert abs(h + kl - np.log(10)) < 1e-12 and h >= 0 and kl >= -1e-12


def test_leakage_proxy_counts_other_classes():
    active = np.array([0, 0, 0, 1, 1])
    selected = np.array([4, 4, 2, 9, 4])
    leak = im.leakage_proxy(active, selected, targets=[4, 9])
    assert np.allclose(leak, [1 / 3, 1 / 2])
    assert np.isnan(im.leakage_proxy(np.zeros(2, int), np.array([4, 4]), [4, 9])[1])


def test_variances():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(4000, 3)) * 2.0
    assert abs(im.total_variance(f) - 12.0) < 0.6
    labels = np.repeat([0, 1], 2000)
    f2 = f + 100.0 * labels[:, None]
    assert abs(im.intra_class_variance(f2, labels) - im.total_variance(f)) < 0.6


def test_classifier_rewards_and_bad_targets():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    assert np.allclose(classifier_rewards(probs, [2, 0], 10.0), [[1.0, 8.0], [7.0, 1.0]])
    with pytest.raises(ValueError, match="targets"):
        classifier_rewards(probs, [3], 1.0)


def test_reward_targets():
    x = np.stack([np.full((1, 4, 4), v, dtype=np.float32) for v in np.linspace(-1, 1, 101)])
    y = np.arange(101) % 10
    assert np.array_equal(reward_target({"kind": "group", "classes": [1, 2]}, x, y), np.isin(y, [1, 2]))
    ink = reward_target({"kind": "ink"}, x, y)
    assert ink.min() == 0 and ink.max() == 1 and np.all(np.diff(ink) >= 0)
    with pytest.raises(ValueError, match="kind"):
        reward_target({"kind": "beauty"}, x, y)


@pytest.mark.parametrize("name", ["pickscore", "imagereward", "aesthetic"])
def test_missing_paper_reward_weights_fail_fast(name, tmp_path):
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match=f"{name} reward weights missing.*(huggingface|github)"):
        load_paper_reward(name, tmp_path)
    assert time.perf_counter() - start < 1.0


def test_paper_rewards_of_e10_fail_before_training(tmp_path, monkeypatch):
    monkeypatch.setenv("PLURAL_REWARD_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="pickscore"):
        PaperRewards(get_profile("e10", "paper")["rewards"], 10.0, device="cpu")
    with pytest.raises(ValueError, match="allowed values"):
        load_paper_reward("clipscore", tmp_path)


@pytest.mark.parametrize("field, value", [("flow_channels", 48), ("dataset", "mnist"), ("K", 0),
                                          ("classifier_arch", "resnet"), ("gamma", -1.0)])
def test_bad_config_names_the_parameter(field, value):
    cfg = get_profile("e3", "smoke")
    cfg[field] = value
    with pytest.raises(ValueError, match=field):
        ImageConfig.from_profile(cfg)


def test_conditions():
    runs = e3_conditions([1, 2, 3, 4, 5], [0.0, 0.1, 0.2, 0.3, 0.4, 0.5], 5)
    assert list(runs) == ["M=1", "M=2", "M=3", "M=4", "M=5", "q=0.1", "q=0.2", "q=0.3", "q=0.4"]
    assert runs["q=0.1"] == [0.9, 0.1, 0.0, 0.0, 0.0]
    labels = e3_condition_of([1, 2, 3, 4, 5], [0.0, 0.1, 0.5], 5)
    assert labels["q=0"] == "M=1" and labels["q=0.5"] == "M=2" and labels["q=0.1"] == "q=0.1"
    with pytest.raises(ValueError, match="polarized_q"):
        e3_conditions([1], [0.7], 5)
    assert len(e10_conditions(["a", "b", "c"])) == 7


def test_paper_networks_at_reduced_size():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    vgg = VGG11().eval()
    assert vgg(x).shape == (2, 10) and vgg.features(x).shape == (2, 512)
    cfg = get_profile("e3", "paper")
    flow = make_flow((3, 32, 32), 64, cfg["flow_res_blocks"], cfg["flow_channel_mult"], cfg["flow_attention"],
                     cfg["flow_heads"], cfg["flow_head_channels"], cfg["flow_dropout"])
    out = sample_flow(flow, 3, (3, 32, 32), ode_steps=1, seed=0)
    assert out.shape == (3, 3, 32, 32) and np.isfinite(out).all()


def test_paper_profile_runs_end_to_end_on_a_fake_cifar(tmp_path, cache):
    _write_cifar(tmp_path / "cifar", per_batch=8)
    cfg = get_profile("e3", "paper", data_dir=str(tmp_path / "cifar"), classifier_steps=2, classifier_batch=8,
                      flow_channels=64, pretrain_steps=1, pretrain_batch=4, retrain_steps=1, retrain_batch=4,
                      ode_steps=1, N=8, n=4, K=2, T=1, n_ref=6)
    assert cfg["inception_fid"]
    with pytest.warns(UserWarning, match="torch-fidelity|weights-inception"):
        prep = prepare(ImageConfig.from_profile(cfg), seed=0, progress=False)
    assert not prep.inception
    run = run_condition(prep, ClassifierRewards(cfg["targets"], 10.0, prep.data.classes), [0.5, 0.5, 0, 0, 0])
    assert list(run.table["t"]) == [0, 1] and run.samples.shape[1:] == (3, 32, 32)


def test_paper_profile_without_cifar_fails_fast(tmp_path, cache):
    cfg = get_profile("e3", "paper", data_dir=str(tmp_path / "missing"))
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"):
        prepare(ImageConfig.from_profile(cfg), seed=0, progress=False)
    assert time.perf_counter() - start < 2.0


def test_models_are_cached_and_reused(tiny, cache):
    cfg, prep = tiny
    files = sorted(p.name for p in cache.iterdir())
    assert any(f.startswith("digits-classifier") and f.endswith(".safetensors") for f in files)
    assert any(f.startswith("digits-flow") for f in files)
    again = prepare(ImageConfig.from_profile(cfg), seed=0, progress=False)
    assert sorted(p.name for p in cache.iterdir()) == files
    assert all(torch.equal(again.flow_state[k], prep.flow_state[k]) for k in prep.flow_state)


def test_round_loop_curates_and_is_reproducible(tiny):
    cfg, prep = tiny
    rewards = ClassifierRewards(cfg["targets"], 10.0, prep.data.classes)
    a = run_condition(prep, rewards, [1, 0, 0, 0, 0], seed=3)
    b = run_condition(prep, rewards, [1, 0, 0, 0, 0], seed=3)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert (a.table["curation_gain"].iloc[1:] > 0).all()
    assert np.isnan(a.table["leakage_1"].iloc[1:]).all()  # reward 1 never active


_RESUME_SCRIPT = """
import sys
from plural_utils.profiles import get_profile
from plural_utils.runners.images import ClassifierRewards, ImageConfig, prepare, run_condition
cfg = get_profile("e3", "smoke", **{tiny!r})
prep = prepare(ImageConfig.from_profile(cfg), seed=0, progress=False)
run = run_condition(prep, ClassifierRewards(cfg["targets"], 10.0, prep.data.classes), [0.5, 0.5, 0, 0, 0],
                    seed=1, checkpoint_dir=sys.argv[1])
run.table.to_csv(sys.argv[2], index=False, float_format="%.17g")
"""


def test_killed_run_resumes_exactly(tiny, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(_RESUME_SCRIPT.format(tiny=TINY))
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(REPO_ROOT)}
    ckpt, killed, resumed, straight = tmp_path / "ckpt", tmp_path / "k.csv", tmp_path / "r.csv", tmp_path / "s.csv"
    proc = subprocess.run([sys.executable, str(script), str(ckpt), str(killed)],
                          env={**env, "PLURAL_CHECKPOINT_KILL_AFTER": "1"}, capture_output=True)
    assert proc.returncode == -9 and not killed.exists()
    assert len(list(ckpt.glob("images-*.npz"))) == 1
    assert len(list(ckpt.glob("images-*-t1.safetensors"))) == 1
    subprocess.run([sys.executable, str(script), str(ckpt), str(resumed)], env=env, check=True)
    subprocess.run([sys.executable, str(script), str(tmp_path / "other"), str(straight)], env=env, check=True)
    pd.testing.assert_frame_equal(pd.read_csv(resumed), pd.read_csv(straight), check_exact=True)
    assert len(list(ckpt.glob("images-*.safetensors"))) == 1  # older rounds' weights are removed
