"""Metrics logged during retraining (Appendix C.3 and C.7)."""

from __future__ import annotations

import numpy as np

from .validation import check_distribution, check_rewards


def reward_moments(p, rewards) -> tuple[np.ndarray, np.ndarray]:
    """``E_p[r_i]`` and ``Var_p[r_i]`` for each reward under a discrete ``p`` (C.3 (i))."""
    R = check_rewards(rewards)
    p = check_distribution(p, R.shape[1])
    mean = R @ p
    return mean, ((R - mean[:, None]) ** 2) @ p


def sample_reward_moments(rewards) -> tuple[np.ndarray, np.ndarray]:
    """Empirical mean and variance of each reward over samples; ``rewards`` is ``(M, n)``."""
    R = check_rewards(rewards)
    return R.mean(axis=1), R.var(axis=1)


def nearest_center(points, centers) -> np.ndarray:
    """Basin label by nearest reward centre, the GMM proxy of Appendix C.7 (ties go to the first)."""
    x = np.atleast_2d(np.asarray(points, dtype=float))
    c = np.atleast_2d(np.asarray(centers, dtype=float))
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"points have dimension {x.shape[1]} but centers have dimension {c.shape[1]}")
    d2 = ((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
    return np.argmin(d2, axis=1)


def leakage_rate(active, selected_basin, M: int) -> np.ndarray:
    """Leakage estimate of Appendix C.7, one value per reward.

    ``out[i]`` is the fraction of curated draws with reward ``i`` active whose
    selected item lies outside basin ``i`` (``selected_basin != i``); NaN when
    reward ``i`` was never active.
    """
    active = np.asarray(active)
    basin = np.asarray(selected_basin)
    if active.shape != basin.shape:
        raise ValueError(f"active and selected_basin must have the same shape; got {active.shape} and {basin.shape}")
    out = np.full(M, np.nan)
    for i in range(M):
        mine = active == i
        if mine.any():
            out[i] = float(np.mean(basin[mine] != i))
    return out


def entropy(p, base: float = np.e) -> float:
    """Shannon entropy of a probability vector (0 log 0 = 0)."""
    p = np.asarray(p, dtype=float)
    if (p < 0).any():
        raise ValueError("p must be non-negative")
    p = p[p > 0] / p.sum()
    return float(-(p * np.log(p)).sum() / np.log(base))


def label_entropy(labels, base: float = np.e) -> float:
    """Entropy of the empirical distribution of discrete labels (class entropy, H(L))."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    return entropy(counts / counts.sum(), base)
