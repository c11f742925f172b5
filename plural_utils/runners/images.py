"""Recursive retraining of an OT-CFM flow on curated samples of itself (Sec. 4.2, Appendix C.5, C.8).

Round ``t = 1..T`` of Algorithm 1 on images: the flow ``G_{t-1}`` generates ``N``
samples, ``M`` rewards score them, ``n`` are curated by K-candidate Bradley–Terry
choice with the active reward drawn per draw (probabilities ``q``;
:func:`plural_utils.curation.curate` with fresh pools of ``K``), and the flow is
retrained on the curated set: training *continues* from the current weights for
``retrain_steps`` OT-CFM steps with a fresh optimiser (as Ferbach et al., 2024).
Row ``t`` of the table holds the metrics of ``G_t``'s ``N`` samples (the ones the
next round curates from) and the curation statistics of round ``t``.

The classifier, the pretrained flow and the E10 reward nets are trained once and
cached with a checksum (:mod:`plural_utils.modelcache`). With a checkpoint folder
every round saves the flow weights (first) and then a
:class:`~plural_utils.checkpoint.RoundCheckpoint` naming them, so a killed run resumes
from its last finished round and ends with the same table, bitwise, on the same device.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..checkpoint import (RoundCheckpoint, generator_state, maybe_simulate_kill, resolve_checkpoint_dir,
                          restore_generator)
from ..curation import curate
from ..images import metrics as im
from ..images.data import ImageData, load_dataset
from ..images.models import (make_classifier, make_flow, predict, sample_flow, state_dict_cpu, train_flow,
                             train_supervised)
from ..images.rewards import classifier_rewards, learned_rewards, softmax, train_reward_net
from ..modelcache import cached, default_device
from ..validation import check_choice, check_K, check_nonnegative_int, check_positive, check_q

_DATA_KEYS = ("dataset", "image_size", "n_train")
_CLASSIFIER_KEYS = ("classifier_arch", "classifier_width", "classifier_steps", "classifier_batch", "classifier_lr")
_FLOW_KEYS = ("flow_channels", "flow_res_blocks", "flow_channel_mult", "flow_attention", "flow_heads",
              "flow_head_channels", "flow_dropout", "pretrain_steps", "pretrain_batch", "flow_lr")


@dataclass(frozen=True)
class ImageConfig:
    """Settings shared by E3 and E10; each profile of ``plural_utils/registry/e3.py`` sets them all.

    Attributes
    ----------
    dataset, image_size, data_dir, n_train
        Data (:func:`plural_utils.images.data.load_dataset`); ``n_train`` keeps the first
        images of the training set (``None``: all).
    classifier_* : the reward/metric classifier (``"small_cnn"`` or ``"vgg11"``) and its training;
        ``classifier_weights`` loads a safetensors state dict instead of training.
    flow_* : the torchcfm UNet; ``pretrain_*`` its OT-CFM pretraining on the training set.
    retrain_steps, retrain_batch, retrain_lr : the per-round retraining on the curated set.
    ode_steps : midpoint steps of the sampler.
    N, n, K, tau, gamma, T : samples per round, curated draws, BT pool size, temperature,
        reward scale of ``r = gamma * pi_i(x)``, rounds.
    n_ref : held-out real test images of the FID reference.
    inception_fid : also compute Inception FID (needs torch-fidelity and its weights).
    """

    dataset: str = "fashion-mnist"
    image_size: int | None = 16
    data_dir: str | None = None
    n_train: int | None = None
    classifier_arch: str = "small_cnn"
    classifier_width: int = 32
    classifier_steps: int = 1500
    classifier_batch: int = 128
    classifier_lr: float = 2e-3
    classifier_weights: str | None = None
    flow_channels: int = 32
    flow_res_blocks: int = 0
    flow_channel_mult: tuple = (1, 2)
    flow_attention: str = ""
    flow_heads: int = 1
    flow_head_channels: int = -1
    flow_dropout: float = 0.0
    pretrain_steps: int = 1500
    pretrain_batch: int = 128
    flow_lr: float = 1e-3
    retrain_steps: int = 60
    retrain_batch: int = 128
    retrain_lr: float = 5e-4
    ode_steps: int = 4
    N: int = 1000
    n: int = 250
    K: int = 10
    tau: float = 1.0
    gamma: float = 10.0
    T: int = 8
    n_ref: int = 2000
    inception_fid: bool = False

    def __post_init__(self) -> None:
        from ..images.data import DATASETS
        from ..images.models import CLASSIFIER_ARCHS

        check_choice(self.dataset, "dataset", DATASETS)
        check_choice(self.classifier_arch, "classifier_arch", CLASSIFIER_ARCHS)
        for name in ("classifier_steps", "pretrain_steps", "retrain_steps", "T"):
            check_nonnegative_int(getattr(self, name), name)
        for name in ("classifier_width", "classifier_batch", "flow_channels", "pretrain_batch", "retrain_batch",
                     "ode_steps", "N", "n", "n_ref"):
            check_K(getattr(self, name), name)
        check_K(self.K, "K")
        for name in ("tau", "gamma", "classifier_lr", "flow_lr", "retrain_lr"):
            check_positive(getattr(self, name), name)
        if self.flow_channels % 32:
            raise ValueError(f"flow_channels must be a multiple of 32 (the UNet's GroupNorm); got {self.flow_channels}")
        object.__setattr__(self, "flow_channel_mult", tuple(int(v) for v in self.flow_channel_mult))

    @classmethod
    def from_profile(cls, cfg: Mapping) -> "ImageConfig":
        """The :class:`ImageConfig` fields of a profile dict (other keys are the notebook's)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in cfg.items() if k in names})

    def subset(self, keys: Sequence[str]) -> dict:
        return {k: getattr(self, k) for k in keys}


@dataclass
class Prepared:
    """The trained pieces every condition shares (built once, cached on disk)."""

    config: ImageConfig
    data: ImageData
    classifier: torch.nn.Module
    classifier_info: dict
    flow_state: dict
    flow_info: dict
    ref_features: np.ndarray
    ref_total_variance: float
    ref_intra_variance: float
    device: str
    ref_images: np.ndarray = field(repr=False, default=None)
    inception: bool = False

    @property
    def shape(self):
        return self.data.shape

    def new_flow(self) -> torch.nn.Module:
        c = self.config
        return make_flow(self.shape, c.flow_channels, c.flow_res_blocks, c.flow_channel_mult, c.flow_attention,
                         c.flow_heads, c.flow_head_channels, c.flow_dropout)

    def score(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities and penultimate features of images ``x`` (batched)."""
        logits, feats = predict(self.classifier, x, device=self.device, features=True)
        return softmax(logits), feats


def _classifier(config: ImageConfig, data: ImageData, seed: int, device: str, progress: bool):
    net = make_classifier(config.classifier_arch, data.shape[0], data.n_classes, config.classifier_width)
    if config.classifier_weights is not None:
        from safetensors.torch import load_file

        path = Path(config.classifier_weights)
        if not path.is_file():
            raise FileNotFoundError(f"classifier_weights={str(path)!r} does not exist: give a safetensors state "
                                    f"dict of {config.classifier_arch}, or None to train it here")
        net.load_state_dict(load_file(str(path)))
        info = {}
    else:
        def build():
            train_supervised(net, data.train_x, data.train_y, config.classifier_steps, config.classifier_batch,
                             config.classifier_lr, "ce", seed, device, progress)
            return state_dict_cpu(net), {"trained_on": len(data.train_x)}

        key = {**config.subset(_DATA_KEYS + _CLASSIFIER_KEYS), "seed": seed}
        tensors, info = cached(f"{config.dataset}-classifier", key, build)
        net.load_state_dict(tensors)
    logits, _ = predict(net.eval(), data.test_x, device=device)
    info = {**info, "test_accuracy": float(np.mean(logits.argmax(1) == data.test_y))}
    return net, info


def prepare(config: ImageConfig, seed: int = 0, progress: bool = True, device: str | None = None) -> Prepared:
    """Load the data, train (or load from the cache) the classifier and the pretrained flow.

    The flow is pretrained by OT-CFM on the whole (``n_train``) training set, as the
    paper's initial model on all 50,000 CIFAR-10 images. With ``inception_fid`` but no
    torch-fidelity or no local Inception weights it warns (before any training) and
    falls back to FID on the classifier's features.
    """
    device = device or default_device()
    data = load_dataset(config.dataset, config.image_size, config.data_dir)
    inception = False
    if config.inception_fid:
        reason = im.inception_fid_available()
        if reason is not None:
            warnings.warn(f"{reason}; FID is computed on the classifier's features instead", stacklevel=2)
        inception = reason is None
    if config.n_train is not None:
        data = dataclasses.replace(data, train_x=data.train_x[:config.n_train], train_y=data.train_y[:config.n_train])
    classifier, classifier_info = _classifier(config, data, seed, device, progress)

    def build_flow():
        flow = make_flow(data.shape, config.flow_channels, config.flow_res_blocks, config.flow_channel_mult,
                         config.flow_attention, config.flow_heads, config.flow_head_channels, config.flow_dropout)
        train_flow(flow, data.train_x, config.pretrain_steps, config.pretrain_batch, config.flow_lr, seed,
                   device, progress, desc="pretrain flow")
        return state_dict_cpu(flow), {"pretrain_steps": config.pretrain_steps}

    flow_key = {**config.subset(_DATA_KEYS + _FLOW_KEYS), "seed": seed}
    flow_state, flow_info = cached(f"{config.dataset}-flow", flow_key, build_flow)
    ref = data.test_x[:config.n_ref]
    probs, feats = predict_probs_features(classifier, ref, device)
    return Prepared(config, data, classifier, classifier_info, flow_state, flow_info, feats,
                    im.total_variance(feats), im.intra_class_variance(feats, probs.argmax(1)), device, ref, inception)


def predict_probs_features(net, x, device):
    logits, feats = predict(net, x, device=device, features=True)
    return softmax(logits), feats


class ClassifierRewards:
    """E3's rewards ``r_i(x) = gamma * pi_{targets[i]}(x)``; basins are predicted classes (C.7)."""

    def __init__(self, targets: Sequence[int], gamma: float, class_names: Sequence[str]):
        self.targets = [int(c) for c in targets]
        self.gamma = float(gamma)
        self.names = [str(class_names[c]) for c in self.targets]

    @property
    def key(self) -> dict:
        return {"kind": "classifier", "targets": self.targets, "gamma": self.gamma}

    def __call__(self, x: np.ndarray, probs: np.ndarray) -> np.ndarray:
        return classifier_rewards(probs, self.targets, self.gamma)


class LearnedRewards:
    """E10's black-box rewards ``r_i(x) = gamma * f_i(x)`` from nets trained on other targets."""

    def __init__(self, nets, specs: Sequence[Mapping], gamma: float, device: str, infos: Sequence[dict]):
        self.nets, self.specs, self.gamma, self.device = list(nets), [dict(s) for s in specs], float(gamma), device
        self.names = [s["name"] for s in self.specs]
        self.infos = list(infos)
        self.targets = None

    @property
    def key(self) -> dict:
        return {"kind": "learned", "specs": self.specs, "gamma": self.gamma}

    def __call__(self, x: np.ndarray, probs: np.ndarray) -> np.ndarray:
        return learned_rewards(self.nets, self.specs, x, self.gamma, self.device)


class PaperRewards:
    """E10's paper rewards (PickScore, ImageReward, LAION aesthetic) as black boxes, ``gamma * f_i(x)``."""

    def __init__(self, specs: Sequence[Mapping], gamma: float, device: str | None = None,
                 folder: str | os.PathLike | None = None):
        from ..images.rewards import load_paper_reward

        self.specs, self.gamma = [dict(s) for s in specs], float(gamma)
        self.names = [s["name"] for s in self.specs]
        # Loaded before anything is trained, so that missing weights fail in seconds.
        self.functions = [load_paper_reward(n, folder, device or default_device()) for n in self.names]
        self.targets = None
        self.infos = [{} for _ in self.names]

    @property
    def key(self) -> dict:
        return {"kind": "paper", "specs": self.specs, "gamma": self.gamma}

    def __call__(self, x: np.ndarray, probs: np.ndarray) -> np.ndarray:
        return self.gamma * np.stack([f(x) for f in self.functions])


def prepare_learned_rewards(prep: Prepared, specs: Sequence[Mapping], steps: int, batch: int, lr: float,
                            gamma: float, seed: int = 0, width: int | None = None) -> LearnedRewards:
    """Train (once; cached) one reward net per spec of :func:`plural_utils.images.rewards.reward_target`."""
    from ..images.models import SmallCNN

    width = width or prep.config.classifier_width
    data = prep.data
    nets, infos = [], []
    for i, spec in enumerate(specs):
        net = SmallCNN(data.shape[0], 1, width)

        def build(spec=spec, i=i):
            trained, score = train_reward_net(spec, data.train_x, data.train_y, width, steps, batch, lr,
                                              seed + 1 + i, prep.device)
            return state_dict_cpu(trained), {"held_out_score": score}

        key = {**prep.config.subset(_DATA_KEYS), "spec": dict(spec), "steps": steps, "batch": batch, "lr": lr,
               "width": width, "seed": seed}
        tensors, info = cached(f"{prep.config.dataset}-reward-{spec['name']}", key, build)
        net.load_state_dict(tensors)
        nets.append(net.eval())
        infos.append(info)
    return LearnedRewards(nets, specs, gamma, prep.device, infos)


@dataclass
class ConditionRun:
    """One condition's per-round table and ``G_T``'s first 64 samples (for the sample grids)."""

    table: pd.DataFrame
    samples: np.ndarray


def _round_row(prep: Prepared, rewards, t: int, x: np.ndarray, probs: np.ndarray, feats: np.ndarray,
               R: np.ndarray, curated: dict | None) -> dict:
    labels = probs.argmax(1)
    n_classes = prep.data.n_classes
    row = {
        "t": t,
        "fid": im.frechet_distance(feats, prep.ref_features),
        "entropy": im.class_entropy(labels, n_classes),
        "kl_uniform": im.kl_to_uniform(labels, n_classes),
        "feature_var": im.total_variance(feats) / prep.ref_total_variance,
        "intra_class_var": im.intra_class_variance(feats, labels) / prep.ref_intra_variance,
    }
    if prep.inception:
        row["fid_classifier"] = row["fid"]
        row["fid"] = im.inception_fid(prep.ref_images, x, prep.device)
    for k, share in enumerate(im.class_histogram(labels, n_classes)):
        row[f"p_class{k}"] = share
    for name, r in zip(rewards.names, R):
        row[f"E_{name}"] = float(r.mean())
        row[f"Var_{name}"] = float(r.var())
    for name in rewards.names:
        row[f"leakage_{name}"] = np.nan
    row["curation_gain"] = np.nan
    if curated is not None:
        row.update(curated)
    return row


def _curation_stats(rewards, R: np.ndarray, labels: np.ndarray, indices: np.ndarray, active: np.ndarray) -> dict:
    """Leakage proxy of C.7 (E3) and the mean reward gain of the curated draws over their pool's mean."""
    out = {"curation_gain": float(np.mean(R[active, indices] - R.mean(axis=1)[active]))}
    if rewards.targets is not None:
        leak = im.leakage_proxy(active, labels[indices], rewards.targets)
        out.update({f"leakage_{name}": v for name, v in zip(rewards.names, leak)})
    return out


def run_condition(prep: Prepared, rewards, q: Sequence[float], seed: int = 0, progress: bool = False,
                  checkpoint_dir: str | os.PathLike | None = None, desc: str = "") -> ConditionRun:
    """Algorithm 1 on images for one condition (reward probabilities ``q``, zeros allowed) and seed.

    Parameters
    ----------
    prep : Prepared
        From :func:`prepare`; ``G_0`` is its pretrained flow.
    rewards : ClassifierRewards or LearnedRewards
        ``M`` rewards, all logged every round; ``q`` (length ``M``) says which curate.
    q : sequence of float
        Probability that each reward is the active one of a draw.
    seed : int
        Seeds the samples, curation and retraining; the same seed gives every
        condition the same ``G_0`` samples.
    checkpoint_dir : path, optional
        Per-round checkpoints (default ``$PLURAL_CHECKPOINT_DIR``; neither: none). A rerun
        resumes after the last finished round.

    Returns
    -------
    ConditionRun
        Table with one row per round ``t = 0..T``: ``fid`` (Fréchet distance on the
        classifier's features to ``n_ref`` held-out real images; with Inception FID
        available and ``inception_fid`` set, Inception FID, the classifier one then in
        ``fid_classifier``), ``entropy``, ``kl_uniform``, ``feature_var``,
        ``intra_class_var`` (relative to real images), ``p_class{k}``, ``E_<reward>``,
        ``Var_<reward>`` over the ``N`` samples of ``G_t``; ``leakage_<reward>`` and
        ``curation_gain`` of round ``t``'s curation (NaN at ``t = 0``).
    """
    c = prep.config
    seed = check_nonnegative_int(seed, "seed")
    qv = check_q(np.asarray(q, float), len(rewards.names))
    folder = resolve_checkpoint_dir(checkpoint_dir)
    checkpoint = None
    if folder is not None:
        key = {"config": dataclasses.asdict(c), "rewards": rewards.key, "q": qv, "seed": seed,
               "flow": prep.flow_info, "device": prep.device}
        checkpoint = RoundCheckpoint(folder, "images", key)
    flow = prep.new_flow()
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is None:
        rng = np.random.default_rng(seed)
        flow.load_state_dict(prep.flow_state)
        t0, rows = 0, []
        sample_seed = int(rng.integers(2**31))
    else:
        s = saved.state
        rng = restore_generator(s["rng"])
        flow.load_state_dict(checkpoint.load_weights(saved))
        t0, rows, sample_seed = s["t"], saved.rows, s["sample_seed"]
    flow.to(prep.device)
    x = sample_flow(flow, c.N, prep.shape, c.ode_steps, sample_seed, device=prep.device)
    probs, feats = prep.score(x)
    R = rewards(x, probs)
    if saved is None:
        rows.append(_round_row(prep, rewards, 0, x, probs, feats, R, None))
        _save_round(checkpoint, flow, 0, rng, sample_seed, rows)
        maybe_simulate_kill(0)
    for t in tqdm(range(t0 + 1, c.T + 1), desc=desc or "rounds", disable=not progress, leave=False):
        res = curate(R, c.n, K=c.K, q=qv, tau=c.tau, pool="fresh", rng=rng)
        stats = _curation_stats(rewards, R, probs.argmax(1), res.indices, res.active)
        train_flow(flow, x[res.indices], c.retrain_steps, c.retrain_batch, c.retrain_lr,
                   int(rng.integers(2**31)), prep.device)
        sample_seed = int(rng.integers(2**31))
        x = sample_flow(flow, c.N, prep.shape, c.ode_steps, sample_seed, device=prep.device)
        probs, feats = prep.score(x)
        R = rewards(x, probs)
        rows.append(_round_row(prep, rewards, t, x, probs, feats, R, stats))
        _save_round(checkpoint, flow, t, rng, sample_seed, rows)
        maybe_simulate_kill(t)
    return ConditionRun(pd.DataFrame(rows), x[:64])


def _save_round(checkpoint: RoundCheckpoint | None, flow, t: int, rng, sample_seed: int, rows: list[dict]) -> None:
    if checkpoint is not None:
        checkpoint.save_round({"t": t, "rng": generator_state(rng), "sample_seed": sample_seed}, {}, rows,
                              state_dict_cpu(flow))


def run_conditions(prep: Prepared, rewards, conditions: Mapping[str, Sequence[float]], seed: int = 0,
                   checkpoint_dir: str | os.PathLike | None = None, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """:func:`run_condition` for each ``name -> q``; the stacked table (``condition`` column) and final samples."""
    frames, samples = [], {}
    for name, q in tqdm(list(conditions.items()), desc="conditions", disable=not progress):
        run = run_condition(prep, rewards, q, seed, progress, checkpoint_dir, desc=name)
        frames.append(run.table.assign(condition=name))
        samples[name] = run.samples
    return pd.concat(frames, ignore_index=True), samples


def e3_conditions(balanced_M: Sequence[int], polarized_q: Sequence[float], n_targets: int) -> dict[str, list[float]]:
    """E3's conditions as reward probabilities over the ``n_targets`` target classes.

    Balanced: the first ``M`` targets, uniform. Polarised: targets 1 and 2 with
    probabilities ``(1 - q, q)``, so ``q = 0`` is the single preference (= ``M = 1``)
    and ``q = 0.5`` is balanced ``M = 2``; duplicates run once, under the balanced name.
    """
    out: dict[str, list[float]] = {}
    seen: dict[tuple, str] = {}
    for M in balanced_M:
        if not 1 <= int(M) <= n_targets:
            raise ValueError(f"balanced_M entries must lie in [1, {n_targets}] (the number of targets); got {M!r}")
        q = [1.0 / M] * M + [0.0] * (n_targets - M)
        out[f"M={M}"] = q
        seen[tuple(np.round(q, 12))] = f"M={M}"
    for qq in polarized_q:
        if not 0.0 <= float(qq) <= 0.5:
            raise ValueError(f"polarized_q entries must lie in [0, 0.5]; got {qq!r}")
        q = [1.0 - qq, float(qq)] + [0.0] * (n_targets - 2)
        if tuple(np.round(q, 12)) not in seen:
            out[f"q={qq:g}"] = q
            seen[tuple(np.round(q, 12))] = f"q={qq:g}"
    return out


def e3_condition_of(balanced_M: Sequence[int], polarized_q: Sequence[float], n_targets: int) -> dict[str, str]:
    """Table-1 row label -> the run that computes it (``q=0.5`` -> ``M=2``, ``q=0`` -> ``M=1``)."""
    runs = e3_conditions(balanced_M, polarized_q, n_targets)
    by_q = {tuple(np.round(v, 12)): k for k, v in runs.items()}
    labels = {f"M={M}": f"M={M}" for M in balanced_M}
    for qq in polarized_q:
        labels[f"q={qq:g}"] = by_q[tuple(np.round([1.0 - qq, float(qq)] + [0.0] * (n_targets - 2), 12))]
    return labels


def e10_conditions(names: Sequence[str]) -> dict[str, list[float]]:
    """Singles, balanced pairs and the uniform mixture of E10 (Appendix C.8) over the named rewards."""
    from itertools import combinations

    M = len(names)
    out = {}
    for size in range(1, M + 1):
        for subset in combinations(range(M), size):
            out["+".join(names[i] for i in subset)] = [1.0 / size if i in subset else 0.0 for i in range(M)]
    return out
