"""Quantities the paper's results are stated in: basins, leakage, bounds, Nash product.

Notation follows Sec. 2-3 and Appendix B (Table 2). Rewards are given as an
array ``(M, n)`` of values at the atoms of a discrete measure; with a
temperature ``tau`` pass ``rewards / tau``, since the theory is stated for
``e^{r}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from .validation import check_distribution, check_positive, check_q, check_rewards


def basins(rewards, eps: float, support=None) -> np.ndarray:
    """Epsilon-optimal basins ``S_{i,eps} = {x : r_i(x) >= r_i^* - eps}`` (Sec. 2.1).

    ``r_i^*`` is the maximum over ``support`` (a boolean mask; all atoms by
    default), and points outside the support belong to no basin.
    Returns a boolean array ``(M, n)``.
    """
    R = check_rewards(rewards)
    eps = check_positive(eps, "eps")
    sup = _support(support, R.shape[1])
    if not sup.any():
        raise ValueError("support must contain at least one atom")
    top = np.where(sup, R, -np.inf).max(axis=1, keepdims=True)
    return (R >= top - eps) & sup


def _support(support, n: int) -> np.ndarray:
    if support is None:
        return np.ones(n, dtype=bool)
    sup = np.asarray(support, dtype=bool)
    if sup.shape != (n,):
        raise ValueError(f"support must be a boolean mask of length {n}; got shape {sup.shape}")
    return sup


def basins_disjoint(masks) -> bool:
    """Assumption B.3: no atom lies in two basins."""
    return bool((np.asarray(masks).sum(axis=0) <= 1).all())


def basin_masses(p, masks) -> tuple[np.ndarray, float]:
    """Masses ``a_i = p(S_{i,eps})`` and the outside mass ``m = p(X \\ S_eps)``."""
    masks = np.asarray(masks, dtype=bool)
    p = check_distribution(p, masks.shape[1])
    return masks.astype(float) @ p, float(p[~masks.any(axis=0)].sum())


def leakage_gaps(rewards, eps: float, support=None) -> np.ndarray:
    """Measured gaps ``Delta_{i<-j}`` of Assumption B.5 / Appendix B.4.

    ``Delta[i, j]`` is the largest gap with
    ``x in S_{j,eps} => r_i(x) <= r_i^* - Delta + eps``, i.e.
    ``Delta[i, j] = r_i^* + eps - max_{S_{j,eps}} r_i``; the diagonal is NaN.
    For two rewards, ``Delta_1 = Delta[0, 1]`` and ``Delta_2 = Delta[1, 0]``.
    """
    R = check_rewards(rewards)
    masks = basins(R, eps, support)
    sup = _support(support, R.shape[1])
    top = np.where(sup, R, -np.inf).max(axis=1)
    M = R.shape[0]
    gaps = np.full((M, M), np.nan)
    for i in range(M):
        for j in range(M):
            if i != j:
                gaps[i, j] = top[i] + eps - R[i, masks[j]].max()
    return gaps


def kappa(gaps, eps: float) -> np.ndarray:
    """Leakage factors ``kappa = exp(-(Delta - 2 eps))`` (Lemma 4)."""
    eps = check_positive(eps, "eps")
    return np.exp(-(np.asarray(gaps, dtype=float) - 2.0 * eps))


def lemma4_bounds(q: float, kappa1: float, kappa2: float) -> tuple[float, float]:
    """Lemma 4 / B.5 interval ``[max(0, (q-k1)/(1-k1)), min(1, q/(1-k2))]`` for ``a_inf``.

    Requires ``kappa1, kappa2 in (0, 1)`` (gaps ``Delta_i > 2 eps``).
    """
    q = _check_unit(q, "q")
    for name, k in (("kappa1", kappa1), ("kappa2", kappa2)):
        if not 0.0 < k < 1.0:
            raise ValueError(f"{name} must lie in (0, 1) (needs Delta > 2 eps); got {k}")
    return max(0.0, (q - kappa1) / (1.0 - kappa1)), min(1.0, q / (1.0 - kappa2))


@dataclass(frozen=True)
class NonCollapseBounds:
    """Lemma 5 / B.6: ``L <= liminf a_t``, ``limsup a_t <= U``, ``eta <= a_t <= 1 - eta``."""

    L: float
    U: float
    eta: float


def lemma5_bounds(q: float, kappa1: float, kappa2: float) -> NonCollapseBounds:
    """Lemma 5 / B.6 quantities; requires ``q in (kappa1, 1 - kappa2)``."""
    q = _check_unit(q, "q")
    if not kappa1 < q < 1.0 - kappa2:
        raise ValueError(f"q must lie in (kappa1, 1 - kappa2) = ({kappa1:.4g}, {1 - kappa2:.4g}); got {q}")
    L = (q - kappa1) / (1.0 - kappa1)
    U = q / (1.0 - kappa2)
    return NonCollapseBounds(L=L, U=U, eta=0.5 * min(L, 1.0 - U))


def variance_lower_bound(a: float, gap: float, eps: float) -> float:
    """Theorem 6 / B.6: ``Var_{p_inf}[r_i] >= a (1 - a) (Delta_i - 2 eps)_+^2``."""
    a = _check_unit(a, "a")
    eps = check_positive(eps, "eps")
    return a * (1.0 - a) * max(gap - 2.0 * eps, 0.0) ** 2


def outside_multiplier_sup(p, rewards, q, masks) -> float:
    """``sup_{x not in S_eps} W_t(x)`` for the K = inf multiplier of eq. (5).

    Assumption B.4 asks for this to stay below some ``rho_eps < 1``; then
    ``m_{t+1} <= rho_eps m_t`` (Lemma 3 / B.4). Returns ``-inf`` when every
    atom of positive mass is inside the basins.
    """
    from .dynamics import curation_multiplier

    R = check_rewards(rewards)
    W = curation_multiplier(p, R, q)
    outside = ~np.asarray(masks, dtype=bool).any(axis=0) & (np.asarray(p) > 0)
    return float(W[outside].max()) if outside.any() else -np.inf


def basin_reward_means(p, rewards, masks) -> np.ndarray:
    """``mu[i, j] = E_{p(.|S_j)}[r_i]``, the basin-conditional reward means (Table 2)."""
    R = check_rewards(rewards)
    masks = np.asarray(masks, dtype=bool)
    p = check_distribution(p, R.shape[1])
    mass = masks.astype(float) @ p
    if (mass <= 0).any():
        raise ValueError("every basin needs positive mass to condition on")
    return (R * p) @ masks.T.astype(float) / mass[None, :]


def nash_product(alpha, q, utilities, disagreement=None) -> np.ndarray:
    """Weighted Nash product on the mixture family (Theorem 7 / B.7; B.4 for M).

    Parameters
    ----------
    alpha : array_like, shape (..., M) or scalar (M = 2)
        Mixture weights ``p_alpha = sum_j alpha_j P_j``; a scalar means
        ``(alpha, 1 - alpha)``.
    q : reward-sampling probabilities (the bargaining weights).
    utilities : array_like, shape (M, M)
        ``utilities[i, j] = u_i(P_j) = E_{P_j}[r_i]``.
    disagreement : array_like, shape (M,), optional
        ``d_i``; by default the worst utility reward ``i`` gets from another
        basin, ``min_{j != i} u_i(P_j)``, which is ``d_1 = u_1(P_2)``,
        ``d_2 = u_2(P_1)`` for two rewards.

    Returns ``prod_i (u_i(p_alpha) - d_i)^{q_i}`` (0 where a gain is <= 0).
    """
    U = np.asarray(utilities, dtype=float)
    M = U.shape[0]
    if U.shape != (M, M):
        raise ValueError(f"utilities must be square (M, M); got shape {U.shape}")
    qv = check_q(q, M)
    d = default_disagreement(U) if disagreement is None else np.asarray(disagreement, dtype=float)
    A = np.asarray(alpha, dtype=float)
    if A.ndim == 0 or (M == 2 and A.shape[-1:] != (2,)):
        A = np.stack([A, 1.0 - A], axis=-1)
    gains = A @ U.T - d
    with np.errstate(divide="ignore"):
        log_n = np.where(gains > 0, np.log(np.where(gains > 0, gains, 1.0)), -np.inf) @ qv
    return np.exp(log_n)


def default_disagreement(utilities) -> np.ndarray:
    U = np.asarray(utilities, dtype=float)
    off = np.where(np.eye(U.shape[0], dtype=bool), np.inf, U)
    return off.min(axis=1)


def nash_maximiser(q, utilities, disagreement=None) -> np.ndarray:
    """Numerical maximiser of :func:`nash_product` over the simplex.

    Theorem 7 gives ``alpha* = q`` in closed form for two rewards when each
    prefers its own basin; this solves the problem numerically so that the
    closed form can be checked rather than assumed.
    """
    U = np.asarray(utilities, dtype=float)
    M = U.shape[0]
    qv = check_q(q, M)
    if M == 2:
        res = minimize_scalar(lambda x: -_log_nash(np.array([x, 1 - x]), qv, U, disagreement),
                              bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-12})
        return np.array([res.x, 1.0 - res.x])

    def objective(z):
        w = np.exp(z - z.max())
        return -_log_nash(w / w.sum(), qv, U, disagreement)

    res = minimize(objective, np.log(np.maximum(qv, 1e-12)), method="Nelder-Mead",
                   options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000})
    w = np.exp(res.x - res.x.max())
    return w / w.sum()


def _log_nash(alpha, q, U, disagreement) -> float:
    value = nash_product(alpha, q, U, disagreement)
    return float(np.log(value)) if value > 0 else -1e300


def utilitarian_maximiser(q, utilities) -> np.ndarray:
    """Maximiser of the weighted sum of utilities ``sum_i q_i u_i(p_alpha)``.

    Linear in ``alpha``, so a vertex of the simplex: the whole mass goes to
    one basin, the contrast Theorem 7's Nash point is drawn against.
    """
    U = np.asarray(utilities, dtype=float)
    qv = check_q(q, U.shape[0])
    best = int(np.argmax(qv @ U))
    out = np.zeros(U.shape[0])
    out[best] = 1.0
    return out


def _check_unit(x, name: str) -> float:
    v = float(x)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1]; got {x!r}")
    return v
