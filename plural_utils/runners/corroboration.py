"""Empirical corroboration of the leakage results (Appendix C.9, Tables 3-5, Figs. 12-14).

Appendix C.9 runs the exact ``K -> infinity`` update (eq. 5) for 50 rounds
with ``eps = 0.1`` and reports: the final basin mass ``a_inf = p_50(S_1)``
against the Lemma 4 / B.5 interval (C.9.1, Table 3), the slope of
``log m_t`` for the outside mass ``m_t = p_t(X \\ S_eps)`` (C.9.2, Lemma 3 /
B.4, Table 4) and the mean squared distance between ``a_inf`` and the Nash
weight ``q`` (C.9.3, Theorem 7 / B.7, Table 5). The paper does not give the
domain, the reward scale or the initial law; the helpers here use the E1
geometry (Appendix C.4): a 2-D grid, ``r_i(x) = -gamma ||x - mu_i||^2`` with
centres ``d`` apart on the diagonal (midpoint moved to the origin).

The module also inverts Lemma 4 (:func:`implied_kappas`) and the gap of a
quadratic reward (:func:`implied_gamma`, :func:`implied_eps`), which is how
the printed bounds of Table 3 can be traced back to the leakage gaps that
would produce them.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import pandas as pd
from tqdm import tqdm

from .. import theory
from ..dynamics import iterate
from ..landscapes import quadratic_pair


def corroboration_landscape(distance: float, init: str = "uniform", n: int = 121, gamma: float = 1.0,
                            init_var: float = 3.0):
    """The C.9 landscape: 2-D grid, quadratic rewards with centres ``distance`` apart.

    A thin wrapper of :func:`plural_utils.landscapes.quadratic_pair` with
    ``dim = 2``; the grid spans ``[-w, w]^2`` with ``w = max(6, d/2 + 3)``
    (every centre with a margin of at least 3), and ``init`` is
    ``"uniform"`` or ``"gaussian"`` (``N(0, init_var I)``, the E1 start).
    """
    return quadratic_pair(distance, gamma=gamma, n=n, dim=2, init=init, init_var=init_var)


def lemma4_interval(rewards, q: float, eps: float, support=None) -> dict:
    """Measured gaps, leakage factors and the Lemma 4 / B.5 interval for ``a_inf``.

    ``Delta_1 = Delta[0, 1]``, ``Delta_2 = Delta[1, 0]`` from
    :func:`plural_utils.theory.leakage_gaps`; ``kappa_i = exp(-(Delta_i - 2 eps))``;
    bounds ``[max(0, (q - k1)/(1 - k1)), min(1, q/(1 - k2))]``. The bounds are
    NaN when a ``kappa`` is not below 1 (gap ``<= 2 eps``: the lemma says nothing).
    """
    gaps = theory.leakage_gaps(rewards, eps, support)
    k = theory.kappa(gaps, eps)
    k1, k2 = float(k[0, 1]), float(k[1, 0])
    if 0.0 < k1 < 1.0 and 0.0 < k2 < 1.0:
        lower, upper = theory.lemma4_bounds(q, k1, k2)
    else:
        lower = upper = math.nan
    return {"Delta1": float(gaps[0, 1]), "Delta2": float(gaps[1, 0]), "kappa1": k1, "kappa2": k2,
            "lower": lower, "upper": upper}


def leakage_sweep(qs: Iterable[float], distances: Iterable[float], init: str = "uniform", K=math.inf,
                  T: int = 50, eps: float = 0.1, n: int = 121, gamma: float = 1.0, init_var: float = 3.0,
                  mirror: bool = False, progress: bool = False) -> pd.DataFrame:
    """Final basin masses and Lemma 4 intervals over a ``q x d`` grid (Appendix C.9.1, C.9.3).

    Parameters
    ----------
    qs, distances : the sweep.
    init : ``"uniform"`` or ``"gaussian"``.
    K : int or math.inf
        Pool size of the exact update (Lemma 1; ``math.inf`` is eq. (5)).
    T, eps : rounds and basin tolerance (the paper's 50 and 0.1).
    mirror : bool
        Use the reflection symmetry of the landscape (it swaps the two
        rewards; the grid and both initial laws are symmetric): the run at
        ``1 - q`` gives ``a_T(q) = b_T(1 - q)``, so only ``q <= 1/2`` is
        iterated. Halves the cost of the slow finite-K sweeps.

    Returns
    -------
    pandas.DataFrame
        One row per ``(d, q)``: ``a_T = p_T(S_1)``, ``b_T = p_T(S_2)``,
        ``m_T`` (outside mass), ``a_cond = a_T / (a_T + b_T)`` (the basin
        split, free of the not yet vanished outside mass), the measured
        gaps, ``kappa1, kappa2``, ``lower``, ``upper``, ``init``, ``K``.
    """
    rows = []
    jobs = [(d, q) for d in distances for q in qs]
    cache = {}
    for d, q in tqdm(jobs, desc=f"sweep init={init} K={K}", disable=not progress):
        L = corroboration_landscape(d, init, n, gamma, init_var)
        flip = mirror and q > 0.5
        q_run = round(1.0 - q, 12) if flip else q
        key = (d, q_run)
        if key not in cache:
            cache[key] = iterate(L.p0, L.rewards, q_run, T=T, K=K, eps=eps)
        traj = cache[key]
        a, b = (traj.a[-1, 1], traj.a[-1, 0]) if flip else (traj.a[-1, 0], traj.a[-1, 1])
        rows.append({"d": float(d), "q": float(q), "init": init, "K": float(K), "a_T": float(a), "b_T": float(b),
                     "m_T": float(traj.m[-1]), "a_cond": float(a / (a + b)) if a + b > 0 else math.nan,
                     **lemma4_interval(L.rewards, q, eps)})
    return pd.DataFrame(rows)


def outside_deficit(rewards, masks) -> float:
    """Smallest reward deficit ``min_{x outside} min_i (r_i^* - r_i(x))`` of an atom outside every basin.

    Once the mass near each basin has settled, an outside atom's mass shrinks
    per round by about ``e^{-(r_i^* - r_i(x))}`` (the tilt of eq. (5)), so
    ``log m_t`` ends up falling with slope ``-outside_deficit``: ``-eps`` on a
    fine grid (the ring just outside ``S_eps``), larger on a coarse one.
    """
    R = np.asarray(rewards, dtype=float)
    outside = ~np.asarray(masks, dtype=bool).any(axis=0)
    return float((R.max(axis=1, keepdims=True) - R)[:, outside].min())


def outside_mass_trajectories(distances: Iterable[float], q: float = 0.5, init: str = "uniform", K=math.inf,
                              T: int = 50, eps: float = 0.1, n: int = 121, gamma: float = 1.0) -> pd.DataFrame:
    """``m_t = p_t(X \\ S_eps)`` for ``t = 0..T`` at each distance (Appendix C.9.2); long format.

    Also records the grid size ``n`` and :func:`outside_deficit` of the grid
    (column ``deficit_min``), which sets the late slope of ``log m_t``.
    """
    frames = []
    for d in distances:
        L = corroboration_landscape(d, init, n, gamma)
        traj = iterate(L.p0, L.rewards, q, T=T, K=K, eps=eps)
        frames.append(pd.DataFrame({"d": float(d), "K": float(K), "gamma": gamma, "n": n, "t": np.arange(T + 1),
                                    "m": traj.m, "deficit_min": outside_deficit(L.rewards, traj.basins)}))
    return pd.concat(frames, ignore_index=True)


def log_slope(m, t_start: int = 0, t_end: int | None = None, floor: float = 1e-12) -> tuple[float, int, int]:
    """Least-squares slope of ``log m_t`` over ``t_start..t_end`` where ``m_t > floor``.

    Lemma 3 / B.4 gives ``m_{t+1} <= rho_eps m_t``, a straight line of slope
    at most ``log rho_eps`` on a log scale. Returns ``(slope, first t, last t)``
    of the window actually used (``nan`` if fewer than two points qualify).
    """
    m = np.asarray(m, dtype=float)
    t = np.arange(m.shape[0])
    t_end = m.shape[0] - 1 if t_end is None else t_end
    use = (t >= t_start) & (t <= t_end) & (m > floor)
    if use.sum() < 2:
        return math.nan, -1, -1
    slope = np.polyfit(t[use], np.log(m[use]), 1)[0]
    return float(slope), int(t[use].min()), int(t[use].max())


def nash_mse(a, q) -> float:
    """Mean squared distance between final basin masses and the Nash weights ``q`` (Table 5, Theorem 7)."""
    a, q = np.asarray(a, dtype=float), np.asarray(q, dtype=float)
    return float(np.mean((a - q) ** 2))


def implied_kappas(q: float, lower: float, upper: float, decimals: int = 3) -> dict:
    """Leakage factors that a printed Lemma 4 interval implies, with its rounding.

    Inverts ``lower = (q - k1)/(1 - k1)`` and ``upper = q/(1 - k2)`` over the
    interval of values that print as ``lower`` and ``upper`` at ``decimals``
    decimals. Lemma 4 forces ``lower <= q <= upper``; a printed bound on the
    wrong side of ``q`` gives a negative ``kappa`` (no leakage gap can
    produce it).

    Returns ``k1_lo, k1_hi, k2_lo, k2_hi`` and the implied ``Delta - 2 eps``
    ranges ``g1_lo, g1_hi, g2_lo, g2_hi`` (``-log kappa``; NaN for ``kappa <= 0``).
    """
    h = 0.5 * 10.0 ** (-decimals)

    def k_from_lower(L):
        return (q - L) / (1.0 - L)

    def k_from_upper(U):
        return 1.0 - q / U

    k1 = sorted((k_from_lower(lower - h), k_from_lower(lower + h)))
    k2 = sorted((k_from_upper(upper - h), k_from_upper(upper + h)))

    def g(k):
        return -math.log(k) if k > 0 else math.nan

    return {"k1_lo": k1[0], "k1_hi": k1[1], "k2_lo": k2[0], "k2_hi": k2[1],
            "g1_lo": g(k1[1]), "g1_hi": g(k1[0]), "g2_lo": g(k2[1]), "g2_hi": g(k2[0])}


def quadratic_gap(distance: float, gamma: float, eps: float) -> float:
    """Continuum leakage gap of ``r_i = -gamma ||x - mu_i||^2`` (Assumption B.5).

    ``S_{2,eps}`` is the ball of radius ``rho = sqrt(eps/gamma)`` about ``mu_2``
    and ``max_{S_2} r_1 = -gamma (d - rho)^2``, so
    ``Delta = eps + gamma (d - rho)^2`` (for ``rho < d``) and
    ``Delta - 2 eps = (sqrt(gamma) d - sqrt(eps))^2 - eps``.
    """
    rho = math.sqrt(eps / gamma)
    return eps + gamma * max(distance - rho, 0.0) ** 2


def implied_gamma(distance: float, excess_gap: float, eps: float) -> float:
    """Reward scale ``gamma`` whose quadratic gap has ``Delta - 2 eps = excess_gap`` at ``distance``."""
    return ((math.sqrt(excess_gap + eps) + math.sqrt(eps)) / distance) ** 2


def implied_eps(distance: float, excess_gap: float, gamma: float = 1.0) -> float:
    """Basin tolerance ``eps`` giving ``Delta - 2 eps = excess_gap`` at ``distance`` for scale ``gamma``.

    From ``excess = gamma d^2 - 2 d sqrt(gamma eps)``; NaN when no ``eps >= 0`` does it.
    """
    root = (gamma * distance ** 2 - excess_gap) / (2.0 * distance * math.sqrt(gamma))
    return root ** 2 if root >= 0 else math.nan


def finite_k_split(q: float, K: int, iterations: int = 20_000) -> float:
    """Hard-separation fixed point of the basin mass under Best-of-K curation (Lemma 1).

    With no leakage and no outside mass, a pool of ``K`` i.i.d. draws picks
    basin 1 under ``r_1`` unless all ``K`` members lie in basin 2, and under
    ``r_2`` only if all lie in basin 1, so
    ``a_{t+1} = q (1 - (1 - a_t)^K) + (1 - q) a_t^K``. Iterated from
    ``a_0 = q``; as ``K -> inf`` the fixed point is ``q`` (Theorem 7), for
    small ``K`` it is pushed towards the majority basin.
    """
    a = float(q)
    for _ in range(iterations):
        a_next = q * (1.0 - (1.0 - a) ** K) + (1.0 - q) * a ** K
        if abs(a_next - a) < 1e-15:
            break
        a = a_next
    return a
