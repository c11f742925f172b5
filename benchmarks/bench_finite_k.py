"""Finite-K Bradley–Terry weight ``bt_weight`` (H^K of eq. 2): speed and accuracy.

Setting: 10^4 equally spaced atoms on [0, 10], p = N(5, 2) restricted to the
grid, r = -(x - 2)^2 and the scaled reward 10 r (rewards spanning ~640 nats).

* Time per K in {2, 4, ..., 1024} (target < 1 s each), median of interleaved reps.
* Exact sums: K = 2 double sum on the full grid (10^8 pairs, chunked), which is
  also the timing baseline; K = 3 triple sum on a 300-atom subproblem (all
  queries) and, on the full grid, at a handful of query atoms (pair sums in chunks).
* Monte Carlo of eq. (2) at K in {64, 256, 1024} for a handful of query atoms
  (max |bt_weight - MC| / MC standard error), and an independent Laplace-
  transform quadrature of eq. (2) at the same atoms (relative error). Far in
  the tail H is dominated by pools made only of low-reward candidates, an
  event Monte Carlo never samples; there MC underestimates H by many orders
  of magnitude while the Laplace form agrees with bt_weight to ~1e-10.
"""

from __future__ import annotations

import sys

import numpy as np
from scipy.special import expit, logsumexp

import _timing
from plural_utils.dynamics import bt_weight

N_ATOMS = 10_000
KS = [2 ** k for k in range(1, 11)]
REPS = 3
TARGET_S = 1.0
SUBGRID = 300
EXACT_TOL = 1e-10
MC_KS = (64, 256, 1024)
MC_DRAWS = 40_000_000  # pool members drawn per K (samples = MC_DRAWS / (K - 1))
MC_Z = 5.0  # |diff| / SE above this flags a disagreement ...
ABS_TOL = 1e-12  # ... beyond bt_weight's documented absolute accuracy
BULK = 1e-9  # max_z_bulk: only queries whose MC estimate of H exceeds this
LAPLACE_TOL = 1e-6  # relative, at every query atom including the far tail
SCALES = {"r": 1.0, "10r": 10.0}


def setting(n: int, scale: float):
    x = np.linspace(0, 10, n)
    p = np.exp(-0.5 * (x - 5) ** 2 / 2)
    return p / p.sum(), -scale * (x - 2) ** 2


def exact_k2(p: np.ndarray, r: np.ndarray, queries=None, chunk: int = 500) -> np.ndarray:
    """``H^2(x) = sum_j p_j 2 e^{r(x)} / (e^{r(x)} + e^{r_j})``, all pairs."""
    queries = np.arange(r.size) if queries is None else queries
    out = np.empty(queries.size)
    for start in range(0, queries.size, chunk):
        rq = r[queries[start:start + chunk]]
        out[start:start + chunk] = 2 * expit(rq[:, None] - r[None, :]) @ p
    return out


def exact_k3(p: np.ndarray, r: np.ndarray, queries, chunk: int = 500) -> np.ndarray:
    """``H^3(x) = sum_{j,k} p_j p_k 3 / (1 + e^{r_j - r(x)} + e^{r_k - r(x)})``, pairs in chunks."""
    out = np.empty(len(queries))
    with np.errstate(over="ignore"):
        for q_pos, qi in enumerate(queries):
            e = np.exp(r - r[qi])
            total = 0.0
            for start in range(0, r.size, chunk):
                pair = np.add.outer(1.0 + e[start:start + chunk], e)
                total += p[start:start + chunk] @ (1.0 / pair) @ p
            out[q_pos] = 3 * total
    return out


def query_atoms(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Atoms at the p-quantiles 0.5, 0.9, 0.99, 0.999 of r, and the best atom."""
    order = np.argsort(r)
    cdf = np.cumsum(p[order])
    picks = [order[min(np.searchsorted(cdf, u), r.size - 1)] for u in (0.5, 0.9, 0.99, 0.999)]
    return np.array(picks + [order[-1]])


def monte_carlo(p: np.ndarray, r: np.ndarray, K: int, queries, draws: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Eq. (2) by simulation: mean and standard error of K e^{r(x)} / (e^{r(x)} + sum_{j<K} e^{r(y_j)})."""
    top = r.max()
    e = np.exp(r - top)
    cdf = np.cumsum(p)
    samples = max(1000, draws // (K - 1))
    sums = np.empty(samples)
    rows = max(1, 2_000_000 // (K - 1))
    for start in range(0, samples, rows):
        m = min(rows, samples - start)
        idx = np.minimum(np.searchsorted(cdf, rng.random((m, K - 1)) * cdf[-1]), r.size - 1)
        sums[start:start + m] = e[idx].sum(axis=1)
    with np.errstate(over="ignore"):
        terms = K / (1.0 + np.exp(top - r[queries])[:, None] * sums[None, :])
    return terms.mean(axis=1), terms.std(axis=1, ddof=1) / np.sqrt(samples)


def laplace_reference(p: np.ndarray, r: np.ndarray, K: int, queries) -> np.ndarray:
    """Eq. (2) through the Laplace transform, independently of the package's quadrature.

    With 1/(a + S) = int_0^inf e^{-t (a + S)} dt and S a sum of K - 1 i.i.d.
    e^{r(y)}: H(x) = K a int_0^inf e^{-t a} phi(t)^{K-1} dt, phi(t) = E_p[e^{-t e^{r}}],
    a = e^{r(x)}. Integrated in log t on a fine lattice, in logs, so that it
    resolves the far tail (the all-low pools Monte Carlo never samples).
    """
    s = r - r.max()
    a = np.exp(s[queries])
    u = np.arange(-45.0, -s[queries].min() + 6.0, 0.02)
    log_phi = np.empty_like(u)
    logp = np.log(p)
    for start in range(0, u.size, 400):
        t = np.exp(u[start:start + 400])
        log_phi[start:start + 400] = logsumexp(logp[None, :] - t[:, None] * np.exp(s)[None, :], axis=1)
    log_integrand = (u[None, :] + np.log(a)[:, None] - np.exp(u)[None, :] * a[:, None]
                     + (K - 1) * log_phi[None, :])
    return K * np.exp(logsumexp(log_integrand, axis=1) + np.log(0.02))


def timing_rows(p, r, label) -> list[dict]:
    fns = {f"K={K}": (lambda K: lambda rep: bt_weight(p, r, K))(K) for K in KS}
    fns["exact K=2 pair sum"] = lambda rep: exact_k2(p, r)
    t = _timing.interleaved(fns, REPS)
    base = t["exact K=2 pair sum"]["median"]
    rows = [dict(reward=label, K=K, time_s=t[f"K={K}"]["median"], best_s=t[f"K={K}"]["best"],
                 speed=_timing.verdict(t[f"K={K}"]["median"] < TARGET_S)) for K in KS]
    rows[0].update(baseline_s=base, ratio=base / t["K=2"]["median"],
                   max_abs_err=float(np.max(np.abs(t["K=2"]["outputs"][-1] - t["exact K=2 pair sum"]["outputs"][-1]))))
    return rows


def exact_rows(label: str, scale: float) -> list[dict]:
    rows = []
    p, r = setting(SUBGRID, scale)
    everything = np.arange(SUBGRID)
    for K, exact in ((2, exact_k2(p, r)), (3, exact_k3(p, r, everything))):
        err = float(np.max(np.abs(bt_weight(p, r, K) - exact)))
        rows.append(dict(reward=label, check=f"K={K} exact, {SUBGRID}-atom grid, all atoms", max_abs_err=err))
    p, r = setting(N_ATOMS, scale)
    q = query_atoms(p, r)
    err = float(np.max(np.abs(bt_weight(p, r, 3)[q] - exact_k3(p, r, q))))
    rows.append(dict(reward=label, check=f"K=3 exact, {N_ATOMS}-atom grid, {q.size} atoms", max_abs_err=err))
    for row in rows:
        row["verdict"] = _timing.verdict(row["max_abs_err"] < EXACT_TOL)
    return rows


def mc_rows(label: str, scale: float) -> list[dict]:
    p, r = setting(N_ATOMS, scale)
    q = query_atoms(p, r)
    rows = []
    for K in MC_KS:
        mean, se = monte_carlo(p, r, K, q, MC_DRAWS, np.random.default_rng(K))
        H = bt_weight(p, r, K)[q]
        diff = np.abs(H - mean)
        z = diff / np.maximum(se, 1e-300)
        tail = int(np.argmin(mean))
        laplace = laplace_reference(p, r, K, q)
        rel = float(np.max(np.abs(H / laplace - 1.0)))
        rows.append(dict(reward=label, K=K, samples=max(1000, MC_DRAWS // (K - 1)), H_at_best=float(H[-1]),
                         max_abs_diff=float(np.max(diff)), max_z=float(np.max(z)),
                         max_z_bulk=float(np.max(z[mean > BULK])),
                         tail_H=float(H[tail]), tail_MC=float(mean[tail]), tail_laplace=float(laplace[tail]),
                         max_rel_vs_laplace=rel,
                         verdict=_timing.verdict(bool(np.all(diff <= MC_Z * se + ABS_TOL)) and rel < LAPLACE_TOL)))
    return rows


def run() -> dict:
    timing, exact, mc = [], [], []
    for label, scale in SCALES.items():
        p, r = setting(N_ATOMS, scale)
        timing += timing_rows(p, r, label)
        exact += exact_rows(label, scale)
        mc += mc_rows(label, scale)
    passed = all(row["speed"] == "PASS" for row in timing) and all(row["verdict"] == "PASS" for row in exact + mc)
    return dict(timing=timing, exact=exact, monte_carlo=mc, passed=passed,
                exact_tolerance=EXACT_TOL, mc_z_threshold=MC_Z)


def main(result: dict | None = None) -> int:
    result = run() if result is None else result
    print(f"bt_weight on {N_ATOMS} atoms (median of {REPS} interleaved reps; ratio = exact K=2 pair sum / bt_weight K=2)")
    print(_timing.table(result["timing"], ["reward", "K", "time_s", "best_s", "speed", "baseline_s", "ratio", "max_abs_err"]))
    print(f"\nAgainst exact sums (tolerance {EXACT_TOL})")
    print(_timing.table(result["exact"], ["reward", "check", "max_abs_err", "verdict"]))
    print(f"\nAgainst Monte Carlo of eq. (2) at query atoms (p-quantiles 0.5..0.999 of r and argmax;"
          f" FAIL if |diff| > {MC_Z} SE + {ABS_TOL}; bulk = queries with H > {BULK}; tail = query with smallest H;"
          f" FAIL also if bt_weight differs from the Laplace-form quadrature by more than {LAPLACE_TOL} relative)")
    print(_timing.table(result["monte_carlo"], ["reward", "K", "samples", "H_at_best", "max_abs_diff", "max_z",
                                                "max_z_bulk", "tail_H", "tail_MC", "tail_laplace",
                                                "max_rel_vs_laplace", "verdict"]))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
