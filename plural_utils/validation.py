"""Input checks shared by the package.

Every public function validates its inputs here so that bad input fails early
with a :class:`ValueError` that names the parameter and what is allowed.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np


def check_rewards(rewards, name: str = "rewards") -> np.ndarray:
    """Return ``rewards`` as a float array of shape ``(M, n)``.

    A 1-D array is one reward evaluated at ``n`` points (``M = 1``).
    """
    arr = np.asarray(rewards, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(
            f"{name} must be a non-empty 1-D array (one reward) or 2-D array of shape "
            f"(M rewards, n points); got shape {np.shape(rewards)}"
        )
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN; rewards must be finite or -inf")
    if np.isposinf(arr).any():
        raise ValueError(f"{name} contains +inf; rewards must be finite or -inf")
    if np.isneginf(arr).all(axis=1).any():
        raise ValueError(f"{name}: every value of some reward is -inf; at least one must be finite")
    return arr


def check_q(q, M: int, name: str = "q") -> np.ndarray:
    """Return reward-sampling probabilities ``q`` of length ``M``.

    ``q=None`` means uniform. A scalar is accepted for ``M = 2`` and means
    ``(q, 1 - q)``, the paper's two-reward convention (Sec. 2).
    """
    if q is None:
        return np.full(M, 1.0 / M)
    arr = np.asarray(q, dtype=float)
    if arr.ndim == 0:
        if M != 2:
            raise ValueError(
                f"{name} is a scalar, which means (q, 1 - q) and needs M = 2 rewards; "
                f"got M = {M}: pass a length-{M} vector"
            )
        arr = np.array([float(arr), 1.0 - float(arr)])
        if not 0.0 <= arr[0] <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1]; got {float(q)!r}")
    if arr.ndim != 1 or arr.shape[0] != M:
        raise ValueError(f"{name} must have one entry per reward (length {M}); got shape {arr.shape}")
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr > 1).any():
        raise ValueError(f"{name} entries must lie in [0, 1]; got {arr.tolist()}")
    if abs(arr.sum() - 1.0) > 1e-9:
        raise ValueError(f"{name} must sum to 1; got sum {arr.sum():.12g}")
    return arr / arr.sum()


def check_K(K, name: str = "K", allow_inf: bool = False):
    """Return the pool size ``K`` as an int ``>= 1`` (or ``inf`` when allowed)."""
    if allow_inf and isinstance(K, Real) and math.isinf(K) and K > 0:
        return math.inf
    if isinstance(K, bool) or not isinstance(K, (Integral, np.integer)):
        if isinstance(K, Real) and float(K).is_integer():
            K = int(K)
        else:
            allowed = "an integer >= 1 or math.inf" if allow_inf else "an integer >= 1"
            raise ValueError(f"{name} must be {allowed}; got {K!r}")
    if K < 1:
        raise ValueError(f"{name} must be >= 1; got {K}")
    return int(K)


def check_positive(value, name: str) -> float:
    """Return ``value`` as a float, requiring it to be finite and ``> 0``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number; got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return v


def check_nonnegative_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (Integral, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0; got {value!r}")
    return int(value)


def check_distribution(p, n: int | None = None, name: str = "p") -> np.ndarray:
    """Return ``p`` as a probability vector (non-negative, sums to 1 within 1e-9)."""
    arr = np.asarray(p, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D probability vector; got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but the rewards have {n} points")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError(f"{name} must be finite and non-negative")
    total = arr.sum()
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"{name} must sum to 1; got sum {total:.12g}")
    return arr / total


def as_generator(rng) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` from a seed, a Generator or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (Integral, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be None, an int seed or a numpy Generator; got {type(rng).__name__}")


def check_choice(value, name: str, allowed) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}; got {value!r}")
    return value
