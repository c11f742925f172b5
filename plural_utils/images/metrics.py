"""Quality and diversity metrics of Table 1 (Appendix C.5) and the leakage proxy of Appendix C.7.

All take arrays computed once per round by the classifier: predicted labels,
class probabilities and penultimate features of the generated samples.

The paper does not define the normalisation of its "feature variance" and
"intra-class variance"; ours divide by the same quantity on held-out real images,
so 1 means "as diverse as the data" (the paper's values lie in [0.05, 0.86]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ..metrics import entropy, leakage_rate

FID_FEATURES_LABEL = "FID (classifier features)"


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al., 2017).

    ``||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^{1/2})``. With Inception
    features this is FID; with our classifier's features it is what we label
    :data:`FID_FEATURES_LABEL`, comparable between our runs but not in scale to the paper's FID.
    """
    a, b = np.asarray(features_a, float), np.asarray(features_b, float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"features must be 2-D with the same width and >= 2 rows; got {a.shape} and {b.shape}")
    mu = a.mean(0) - b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr (S_a S_b)^{1/2} is the sum of the square roots of the eigenvalues of S_a S_b (real, >= 0).
    eig = np.linalg.eigvals(sa @ sb)
    root_trace = np.sqrt(np.clip(eig.real, 0.0, None)).sum()
    return float(max(mu @ mu + np.trace(sa) + np.trace(sb) - 2.0 * root_trace, 0.0))


def class_histogram(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Share of samples predicted in each of the ``n_classes`` classes."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
    return counts / max(counts.sum(), 1)


def class_entropy(labels: np.ndarray, n_classes: int) -> float:
    """Entropy (nats) of the predicted-class distribution over all ``n_classes`` classes."""
    return entropy(class_histogram(labels, n_classes)) + 0.0  # one class: 0.0, not -0.0


def kl_to_uniform(labels: np.ndarray, n_classes: int) -> float:
    """``KL(p || uniform) = ln(n_classes) - H(p)``: Table 1's entropy and KL add up to ln 10."""
    return float(np.log(n_classes) - class_entropy(labels, n_classes))


def total_variance(features: np.ndarray) -> float:
    """Trace of the covariance of ``features`` (sum of per-dimension variances)."""
    f = np.asarray(features, float)
    return float(f.var(axis=0).sum()) if len(f) > 1 else 0.0


def intra_class_variance(features: np.ndarray, labels: np.ndarray) -> float:
    """Sample-weighted mean over predicted classes of the within-class total variance."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    values = np.array([total_variance(features[labels == c]) for c in classes])
    return float((values * counts).sum() / counts.sum())


def leakage_proxy(active: np.ndarray, selected_labels: np.ndarray, targets) -> np.ndarray:
    """Appendix C.7 on images: per reward ``i``, the share of its curated draws not predicted as ``targets[i]``.

    The predicted class is the basin label; NaN for a reward never active.
    """
    targets = np.asarray(targets)
    selected = np.asarray(selected_labels)
    match = selected[:, None] == targets[None, :]
    basin = np.where(match.any(axis=1), match.argmax(axis=1), -1)
    return leakage_rate(active, basin, len(targets))


INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"


def inception_fid_available() -> str | None:
    """``None`` when Inception FID can run offline, else why not (what to install or download).

    torchmetrics' ``FrechetInceptionDistance`` needs ``torch-fidelity`` and fetches the
    Inception weights from GitHub on first use; we never download, so the weights must
    already be in ``<torch hub dir>/checkpoints``.
    """
    try:
        import torch
        import torch_fidelity  # noqa: F401
        from torchmetrics.image.fid import FrechetInceptionDistance  # noqa: F401
    except ImportError:
        return ("Inception FID needs the package torch-fidelity (pip install torch-fidelity; not in "
                "requirements.txt) for torchmetrics' FrechetInceptionDistance")
    weights = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS
    if not weights.exists():
        return (f"Inception FID needs {INCEPTION_WEIGHTS} in {weights.parent} (download it from "
                f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_WEIGHTS})")
    return None


def inception_fid(real: np.ndarray, fake: np.ndarray, device: str = "cpu", batch: int = 500) -> float:
    """FID on Inception-v3 pool features via torchmetrics (images in ``[-1, 1]``, NCHW, 3 channels)."""
    reason = inception_fid_available()
    if reason is not None:
        raise RuntimeError(reason)
    import torch
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=2048, normalize=True).to(device)
    for images, is_real in ((real, True), (fake, False)):
        for start in range(0, len(images), batch):
            x = torch.as_tensor(images[start:start + batch]).to(device)
            fid.update((x + 1) / 2, real=is_real)
    return float(fid.compute())
