"""Rewards of the image experiments.

* E3 (Sec. 4.2, Appendix C.5): ``r_i(x) = gamma * pi_{c_i}(x)``, the classifier's
  probability of target class ``c_i`` scaled by ``gamma`` (:func:`classifier_rewards`).
* E10 cpu/smoke stand-in (Appendix C.8): three small CNNs trained here on different
  targets of the data (:data:`REWARD_KINDS`), used only as black boxes ``x -> r(x)``.
* E10 paper: PickScore, ImageReward and the LAION aesthetic predictor from local weights
  (:func:`load_paper_reward`), failing fast with what is missing and where it goes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from ..results import REPO_ROOT
from .models import SmallCNN, predict, train_supervised

REWARD_KINDS = ("group", "ink")
PAPER_REWARDS = ("pickscore", "imagereward", "aesthetic")
REWARD_WEIGHTS_ENV = "PLURAL_REWARD_WEIGHTS_DIR"
DEFAULT_REWARD_WEIGHTS_DIR = REPO_ROOT / "data" / "external" / "reward_models"


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def classifier_rewards(probs: np.ndarray, targets: Sequence[int], gamma: float) -> np.ndarray:
    """``R[i, j] = gamma * pi_{targets[i]}(x_j)``, shape ``(M, N)`` (Appendix C.5)."""
    probs = np.asarray(probs, float)
    targets = list(targets)
    if not targets or min(targets) < 0 or max(targets) >= probs.shape[1]:
        raise ValueError(f"targets must be class indices in [0, {probs.shape[1]}); got {targets!r}")
    return float(gamma) * probs[:, targets].T


def reward_target(spec: Mapping, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The training target of a learned reward on images ``x`` with labels ``y``.

    ``{"kind": "group", "classes": [...]}``: 1 when the label is in the group, else 0
    (the net learns the group's probability). ``{"kind": "ink"}``: the image's ink
    mass (mean brightness in ``[0, 1]``), rescaled so that the 1st and 99th
    percentiles of the data map to 0 and 1.
    """
    kind = spec.get("kind")
    if kind == "group":
        return np.isin(y, list(spec["classes"])).astype(np.float32)
    if kind == "ink":
        ink = ((x + 1) / 2).mean(axis=(1, 2, 3))
        lo, hi = np.percentile(ink, [1, 99])
        return np.clip((ink - lo) / (hi - lo), 0, 1).astype(np.float32)
    raise ValueError(f"reward kind={kind!r} is not supported; allowed values: {', '.join(REWARD_KINDS)}")


def train_reward_net(spec: Mapping, x: np.ndarray, y: np.ndarray, width: int, steps: int, batch: int,
                     lr: float, seed: int, device: str = "cpu") -> tuple[SmallCNN, float]:
    """A :class:`SmallCNN` with one output fitted to :func:`reward_target`; returns it and its held-out score.

    Groups are fitted by logistic loss, the ink mass by squared error. The score is
    computed on the last 10% of ``x`` (not trained on): accuracy for a group, R^2 for ink.
    """
    target = reward_target(spec, x, y)
    n_fit = int(0.9 * len(x))
    net = SmallCNN(x.shape[1], 1, width)
    loss = "bce" if spec["kind"] == "group" else "mse"
    train_supervised(net, x[:n_fit], target[:n_fit], steps, batch, lr, loss, seed, device)
    pred = reward_outputs(net, spec, x[n_fit:], device)
    held = target[n_fit:]
    if spec["kind"] == "group":
        score = float(np.mean((pred > 0.5) == (held > 0.5)))
    else:
        score = float(1 - np.mean((pred - held) ** 2) / np.var(held))
    return net, score


def reward_outputs(net: SmallCNN, spec: Mapping, x: np.ndarray, device: str = "cpu") -> np.ndarray:
    """The reward net's value in ``[0, 1]`` (a probability for a group, the clipped regression for ink)."""
    out, _ = predict(net, x, device=device)
    out = out[:, 0]
    return 1 / (1 + np.exp(-out)) if spec["kind"] == "group" else np.clip(out, 0, 1)


def learned_rewards(nets: Sequence[SmallCNN], specs: Sequence[Mapping], x: np.ndarray, gamma: float,
                    device: str = "cpu") -> np.ndarray:
    """``R[i, j] = gamma * f_i(x_j)`` for the learned reward nets ``f_i``, shape ``(M, N)``."""
    return float(gamma) * np.stack([reward_outputs(n, s, x, device) for n, s in zip(nets, specs)])


def reward_weights_dir(folder: str | os.PathLike | None = None) -> Path:
    return Path(folder or os.environ.get(REWARD_WEIGHTS_ENV) or DEFAULT_REWARD_WEIGHTS_DIR)


# What each paper reward needs: the local folder (under the reward-weights dir), the files that
# show it is complete, where to get them, and the Python package that runs it.
_PAPER_NEEDS = {
    "pickscore": dict(folder="PickScore_v1", files=("config.json", "model.safetensors"),
                      source="https://huggingface.co/yuvalkirstain/PickScore_v1 (and the processor of "
                             "laion/CLIP-ViT-H-14-laion2B-s32B-b79K in PickScore_v1/processor)",
                      package="transformers"),
    "imagereward": dict(folder="ImageReward", files=("ImageReward.pt", "med_config.json"),
                        source="https://huggingface.co/THUDM/ImageReward",
                        package="image-reward (pip install image-reward; not in requirements.txt)"),
    "aesthetic": dict(folder="aesthetic", files=("sa_0_4_vit_l_14_linear.safetensors", "clip-vit-large-patch14/config.json"),
                      source="https://github.com/LAION-AI/aesthetic-predictor (sa_0_4_vit_l_14_linear.pth, "
                             "converted to safetensors) and https://huggingface.co/openai/clip-vit-large-patch14",
                      package="transformers"),
}


def load_paper_reward(name: str, folder: str | os.PathLike | None = None, device: str = "cpu"):
    """Load one of the paper's learned rewards (Appendix C.8) from local weights, or fail fast.

    Returns a callable ``images (N, 3, H, W) in [-1, 1] -> rewards (N,)``. Never
    downloads (``local_files_only=True``), never runs remote code, never unpickles.

    Raises
    ------
    FileNotFoundError
        When the weights are not in ``<folder>/<model>/``: the message names the
        files, the folder and where to download them.
    ImportError
        When the package that runs the model is not installed (ImageReward needs
        ``image-reward``, which this project does not depend on).
    """
    if name not in _PAPER_NEEDS:
        raise ValueError(f"paper reward name={name!r} is not supported; allowed values: {', '.join(PAPER_REWARDS)}")
    need = _PAPER_NEEDS[name]
    where = reward_weights_dir(folder) / need["folder"]
    missing = [f for f in need["files"] if not (where / f).exists()]
    if missing:
        raise FileNotFoundError(
            f"{name} reward weights missing: {', '.join(missing)} not found in {where}. Download them from "
            f"{need['source']} into that folder (or set ${REWARD_WEIGHTS_ENV}); running it also needs "
            f"the package {need['package']}.")
    if name == "imagereward":
        try:
            import ImageReward  # noqa: F401
        except ImportError:
            raise ImportError(f"the imagereward reward needs the package {need['package']}") from None
        raise NotImplementedError("ImageReward's loader unpickles its checkpoint (torch.load without "
                                  "weights_only); convert ImageReward.pt to safetensors first")
    return _clip_reward(name, where, device)


def _clip_reward(name: str, where: Path, device: str):
    """PickScore (CLIP image-text score against a fixed prompt) or the LAION aesthetic linear head on CLIP-L/14."""
    import torch.nn.functional as F
    from safetensors.torch import load_file
    from transformers import CLIPModel

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    clip_dir = where if name == "pickscore" else where / "clip-vit-large-patch14"
    model = CLIPModel.from_pretrained(str(clip_dir), local_files_only=True).to(device).eval()
    size = model.config.vision_config.image_size
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711], device=device).view(1, 3, 1, 1)
    if name == "aesthetic":
        head = load_file(str(where / "sa_0_4_vit_l_14_linear.safetensors"), device=device)
    else:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(where / "processor"), local_files_only=True)
        text = tok(["a photo"], return_tensors="pt", padding=True).to(device)
        with torch.no_grad():
            text_emb = F.normalize(model.get_text_features(**text), dim=-1)

    @torch.no_grad()
    def score(images: np.ndarray, batch: int = 256) -> np.ndarray:
        out = []
        for start in range(0, len(images), batch):
            x = torch.as_tensor(images[start:start + batch], device=device)
            x = F.interpolate((x + 1) / 2, size=(size, size), mode="bicubic", align_corners=False)
            emb = F.normalize(model.get_image_features(pixel_values=(x - mean) / std), dim=-1)
            if name == "aesthetic":
                out.append(emb @ head["weight"].T + head["bias"])
            else:
                out.append(model.logit_scale.exp() * emb @ text_emb.T)
        return torch.cat(out)[:, 0].cpu().numpy().astype(np.float64)

    return score
