"""K = inf retraining dynamics (eq. 5): ``iterate`` against a naive per-step loop.

Setting: the 512 x 512 grid on [0, 10]^2, quadratic rewards centred at (2, 2)
and (8, 8) (eq. C.2, gamma = 1), q = 0.5, tau = 1, eps = 0.1,
p0 = N((5, 5), 3 I) restricted to the grid, T = 50 rounds.

The naive baseline recomputes, every round, ``exp`` of both rewards (max-shifted),
their normalisers ``E_p[e^{r_i}]``, the multiplier ``sum_i q_i e^{r_i} / Z_i``,
and renormalises, with the same basin-mass and reward-moment bookkeeping as
``iterate``. Target: ``iterate`` under 0.5 s; both must end at the same ``p``
(max abs difference < 1e-12) and record the same trajectory.
"""

from __future__ import annotations

import math
import sys

import numpy as np

import _timing
from plural_utils.dynamics import iterate
from plural_utils.measures import gaussian_on_grid, grid_2d
from plural_utils.rewards import quadratic_rewards
from plural_utils.theory import basins

GRID = 512
T = 50
Q = 0.5
TAU = 1.0
EPS = 0.1
REPS = 5
TARGET_S = 0.5
TOLERANCE = 1e-12


def setting():
    points = grid_2d(0, 10, GRID)
    R = quadratic_rewards(points, [(2, 2), (8, 8)])
    p0 = gaussian_on_grid(points, (5, 5), var=3)
    return R, p0


def naive_iterate(p0: np.ndarray, R: np.ndarray, q: np.ndarray, T: int, tau: float, eps: float) -> dict:
    """Eq. (5) written out, recomputing every exponential each round."""
    masks = basins(R, eps, support=p0 > 0)
    union = masks.any(axis=0)
    p = p0.copy()
    a, m, mean, var = [], [], [], []
    for t in range(T + 1):
        a.append([p[mask].sum() for mask in masks])
        m.append(p[~union].sum())
        mean.append([np.sum(p * r) for r in R])
        var.append([max(np.sum(p * r**2) - np.sum(p * r) ** 2, 0.0) for r in R])
        if t == T:
            break
        W = np.zeros_like(p)
        for qi, r in zip(q, R):
            s = r / tau
            e = np.exp(s - s.max())
            W += qi * e / np.sum(p * e)
        p = p * W
        p = p / p.sum()
    return dict(p=p, a=np.array(a), m=np.array(m), mean=np.array(mean), var=np.array(var))


def run() -> dict:
    R, p0 = setting()
    q = np.array([Q, 1 - Q])
    t = _timing.interleaved({
        "naive": lambda rep: naive_iterate(p0, R, q, T, TAU, EPS),
        "iterate": lambda rep: iterate(p0, R, q=Q, T=T, K=math.inf, tau=TAU, eps=EPS),
    }, REPS)
    fast, slow = t["iterate"]["outputs"][-1], t["naive"]["outputs"][-1]
    diffs = {"p": float(np.max(np.abs(fast.p - slow["p"])))}
    for name in ("a", "m", "mean", "var"):
        ref = slow[name]
        diffs[name] = float(np.max(np.abs(getattr(fast, name) - ref) / np.maximum(1.0, np.abs(ref))))
    iterate_s = t["iterate"]["median"]
    return dict(grid=f"{GRID}x{GRID}", T=T, reps=REPS, naive_s=t["naive"]["median"], iterate_s=iterate_s,
                iterate_best_s=t["iterate"]["best"], ratio=t["naive"]["median"] / iterate_s,
                target_s=TARGET_S, speed=_timing.verdict(iterate_s < TARGET_S),
                max_abs_diff_p=diffs["p"], max_rel_diff_bookkeeping=max(diffs[k] for k in ("a", "m", "mean", "var")),
                tolerance=TOLERANCE, agreement=_timing.verdict(diffs["p"] < TOLERANCE),
                final_a=fast.a[-1].tolist(), final_m=float(fast.m[-1]),
                passed=iterate_s < TARGET_S and diffs["p"] < TOLERANCE)


def main(r: dict | None = None) -> int:
    r = run() if r is None else r
    print(f"K = inf dynamics, {r['grid']} grid, T = {T} rounds (median of {REPS} interleaved reps; ratio = naive / iterate)")
    print(_timing.table([r], ["grid", "T", "naive_s", "iterate_s", "iterate_best_s", "ratio", "target_s", "speed"]))
    print()
    print(_timing.table([r], ["max_abs_diff_p", "max_rel_diff_bookkeeping", "tolerance", "agreement"]))
    print(f"final basin masses a_T = {r['final_a']}, outside mass m_T = {r['final_m']:.3e}")
    return 0 if r["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
