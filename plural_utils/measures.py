"""Discrete measures on which the exact dynamics run: grids and weighted atoms."""

from __future__ import annotations

import numpy as np

from .validation import check_positive


def grid_1d(low: float, high: float, n: int) -> np.ndarray:
    """``n`` equally spaced points on ``[low, high]`` as an ``(n, 1)`` array."""
    if n < 1 or not high > low:
        raise ValueError(f"need n >= 1 and high > low; got n={n}, low={low}, high={high}")
    return np.linspace(low, high, n)[:, None]


def grid_2d(low: float, high: float, n: int) -> np.ndarray:
    """An ``n x n`` grid on ``[low, high]^2`` as an ``(n * n, 2)`` array (row-major)."""
    axis = grid_1d(low, high, n)[:, 0]
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    return np.column_stack([xx.ravel(), yy.ravel()])


def gaussian_on_grid(points, mean, var: float = 1.0) -> np.ndarray:
    """Isotropic Gaussian ``N(mean, var I)`` restricted to ``points`` and normalised."""
    var = check_positive(var, "var")
    x = np.asarray(points, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    logw = -0.5 * np.sum((x - np.asarray(mean, dtype=float)) ** 2, axis=1) / var
    w = np.exp(logw - logw.max())
    return w / w.sum()


def uniform(n: int) -> np.ndarray:
    """The uniform probability vector on ``n`` atoms."""
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    return np.full(n, 1.0 / n)
