"""Reward functions used by the synthetic experiments and the theory notebooks."""

from __future__ import annotations

import numpy as np

from .validation import check_positive


def quadratic_reward(points, center, gamma: float = 1.0) -> np.ndarray:
    """Quadratic reward ``r(x) = -gamma * ||x - center||^2`` of eq. (C.2).

    Parameters
    ----------
    points : array_like, shape (n, d) or (n,)
    center : array_like, shape (d,)
    gamma : float
        Reward scale (``gamma = 1`` in Appendix C.4; ``gamma = 10`` in E6).
    """
    gamma = check_positive(gamma, "gamma")
    x = np.asarray(points, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    c = np.asarray(center, dtype=float).reshape(-1)
    if c.shape[0] != x.shape[1]:
        raise ValueError(f"center has dimension {c.shape[0]} but points have dimension {x.shape[1]}")
    return -gamma * np.sum((x - c) ** 2, axis=1)


def quadratic_rewards(points, centers, gamma: float = 1.0) -> np.ndarray:
    """Stack :func:`quadratic_reward` for several centers: shape ``(M, n)``."""
    return np.stack([quadratic_reward(points, c, gamma) for c in np.atleast_2d(centers)])


def centers_at_distance(distance: float, midpoint=(5.0, 5.0)) -> np.ndarray:
    """Two reward centers at Euclidean ``distance`` apart on the diagonal through ``midpoint``.

    Appendix C.4 varies ``d = ||mu_1 - mu_2||`` with the midpoint fixed; the
    default places ``mu_1 = (2, 2)``, ``mu_2 = (8, 8)`` at ``d = 6 * sqrt(2)``.
    """
    if distance < 0:
        raise ValueError(f"distance must be >= 0; got {distance}")
    mid = np.asarray(midpoint, dtype=float)
    direction = np.ones_like(mid) / np.sqrt(mid.shape[0])
    return np.stack([mid - 0.5 * distance * direction, mid + 0.5 * distance * direction])
