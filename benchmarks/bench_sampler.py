"""Vectorised BT curation (``curate``) against a literal per-draw loop.

Cases (M = 2 rewards, q = 0.5, tau = 1, rewards i.i.d. standard normal per
candidate so the selection law is spread over many candidates):

* shared pool, N = K = 100, n = 500      baseline: ``curate_reference``
* shared pool, N = K = 1024, n = 2500    baseline: ``curate_reference``  (target >= 300x)
* fresh pools of K = 1024 from N = 50,000, n = 2500, methods "exact" (what
  ``curate``'s default ``method="auto"`` picks here; target >= 10x) and
  "pools" (materialises all n * K pool members; shown for reference, no
  target)                                baseline: ``loop_fresh`` below

Every case also checks that the fast and loop samplers agree in distribution:
a two-sample chi-square on selection counts in cells (active reward, decile
of that reward among the selected items). Shared pools are in addition tested
against the exact law ``q_i softmax(r_i / tau)`` (one-sample chi-square).
"""

from __future__ import annotations

import sys

import numpy as np
from scipy import stats

import _timing
from plural_utils.curation import bt_probabilities, curate, curate_reference

Q = 0.5
TAU = 1.0
ALPHA = 1e-3  # a correct sampler fails a single test this often
SHARED_CASES = [  # (N, n, reps, target ratio)
    (100, 500, 15, None),
    (1024, 2500, 9, 300.0),
]
FRESH_CASE = dict(N=50_000, K=1024, n=2500, reps=5, target=10.0)
CROSS_CHECK_N = 20_000  # draws per method for the untimed exact-vs-pools test


def loop_fresh(R: np.ndarray, n: int, K: int, q: np.ndarray, tau: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Literal per-draw loop with a fresh i.i.d. uniform pool for every draw."""
    M, N = R.shape
    indices = np.empty(n, dtype=np.int64)
    active = np.empty(n, dtype=np.int64)
    for j in range(n):
        i = rng.choice(M, p=q)
        pool = rng.integers(0, N, size=K)
        s = R[i, pool] / tau
        w = np.exp(s - s.max())
        w /= w.sum()
        indices[j] = pool[rng.choice(K, p=w)]
        active[j] = i
    return indices, active


def _cells(R: np.ndarray, samples: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Counts per (active reward, reward decile) for each sample: shape (len(samples), cells)."""
    rows = [[] for _ in samples]
    for i in range(R.shape[0]):
        chosen = [R[i, idx[act == i]] for idx, act in samples]
        edges = np.unique(np.quantile(np.concatenate(chosen), np.linspace(0, 1, 11)[1:-1]))
        for row, values in zip(rows, chosen):
            row.extend(np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1))
    counts = np.array(rows, dtype=float)
    return counts[:, counts.sum(axis=0) > 0]


def two_sample_pvalue(R: np.ndarray, a, b) -> float:
    """Chi-square homogeneity p-value of two (indices, active) samples."""
    return float(stats.chi2_contingency(_cells(R, [a, b]))[1])


def exact_law_pvalue(R: np.ndarray, q: np.ndarray, tau: float, sample) -> float:
    """One-sample chi-square of a shared-pool sample against ``q_i softmax(r_i / tau)``, binned by decile."""
    idx, act = sample
    P = q[:, None] * bt_probabilities(R, tau, axis=1)
    observed, expected = [], []
    for i in range(R.shape[0]):
        edges = np.unique(np.quantile(R[i], np.linspace(0, 1, 11)[1:-1]))
        bins_all = np.searchsorted(edges, R[i], side="right")
        observed.extend(np.bincount(bins_all[idx[act == i]], minlength=edges.size + 1))
        expected.extend(np.bincount(bins_all, weights=P[i], minlength=edges.size + 1) * idx.size)
    observed, expected = np.array(observed, float), np.array(expected)
    keep = expected > 0
    return float(stats.chisquare(observed[keep], expected[keep])[1])


def _pooled(outputs) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs])


def shared_case(N: int, n: int, reps: int, target) -> dict:
    R = np.random.default_rng(N).standard_normal((2, N))
    qv = np.array([Q, 1 - Q])

    def fast(rep):
        res = curate(R, n, K=N, q=Q, tau=TAU, pool="shared", rng=1000 + rep)
        return res.indices, res.active

    def loop(rep):
        res = curate_reference(R, n, q=Q, tau=TAU, rng=2000 + rep)
        return res.indices, res.active

    t = _timing.interleaved({"loop": loop, "fast": fast}, reps)
    f, lp = _pooled(t["fast"]["outputs"]), _pooled(t["loop"]["outputs"])
    ratio = t["loop"]["median"] / t["fast"]["median"]
    row = dict(case=f"shared N=K={N} n={n}", method="shared", baseline="curate_reference",
               loop_s=t["loop"]["median"], fast_s=t["fast"]["median"], ratio=ratio,
               ratio_best=t["loop"]["best"] / t["fast"]["best"], reps=reps,
               target=target, speed=_timing.verdict(ratio >= target) if target else "-",
               gof_p=two_sample_pvalue(R, f, lp),
               exact_p_fast=exact_law_pvalue(R, qv, TAU, f), exact_p_loop=exact_law_pvalue(R, qv, TAU, lp))
    row["gof"] = _timing.verdict(min(row["gof_p"], row["exact_p_fast"], row["exact_p_loop"]) > ALPHA)
    return row


def fresh_cases(N: int, K: int, n: int, reps: int, target: float) -> list[dict]:
    R = np.random.default_rng(N).standard_normal((2, N))
    qv = np.array([Q, 1 - Q])

    def method(name):
        def run(rep):
            res = curate(R, n, K=K, q=Q, tau=TAU, pool="fresh", method=name, rng=3000 + rep)
            return res.indices, res.active
        return run

    t = _timing.interleaved({"loop": lambda rep: loop_fresh(R, n, K, qv, TAU, np.random.default_rng(4000 + rep)),
                             "exact": method("exact"), "pools": method("pools")}, reps)
    lp = _pooled(t["loop"]["outputs"])
    rows = []
    for name in ("exact", "pools"):
        ratio = t["loop"]["median"] / t[name]["median"]
        p = two_sample_pvalue(R, _pooled(t[name]["outputs"]), lp)
        rows.append(dict(case=f"fresh K={K} from N={N} n={n}", method=name, baseline="loop_fresh",
                         loop_s=t["loop"]["median"], fast_s=t[name]["median"], ratio=ratio,
                         ratio_best=t["loop"]["best"] / t[name]["best"], reps=reps,
                         target=target if name == "exact" else "-",
                         speed=_timing.verdict(ratio >= target) if name == "exact" else "-",
                         gof_p=p, gof=_timing.verdict(p > ALPHA)))
    big = {m: curate(R, CROSS_CHECK_N, K=K, q=Q, tau=TAU, pool="fresh", method=m, rng=5000) for m in ("exact", "pools")}
    p = two_sample_pvalue(R, *[(r.indices, r.active) for r in big.values()])
    rows.append(dict(case=f"fresh exact vs pools, n={CROSS_CHECK_N} each (untimed)", method="exact~pools",
                     gof_p=p, gof=_timing.verdict(p > ALPHA)))
    return rows


def run() -> dict:
    rows = [shared_case(*case) for case in SHARED_CASES] + fresh_cases(**FRESH_CASE)
    return {"rows": rows, "alpha": ALPHA,
            "passed": all(r.get("speed", "-") != "FAIL" and r["gof"] == "PASS" for r in rows)}


def main(result: dict | None = None) -> int:
    result = run() if result is None else result
    print("BT curation: vectorised curate vs per-draw loop (median of interleaved reps; ratio = loop / fast)")
    print(_timing.table(result["rows"], ["case", "method", "loop_s", "fast_s", "ratio", "ratio_best",
                                         "target", "speed"]))
    print(f"\nDistribution agreement (chi-square p-values; FAIL if any p <= {ALPHA})")
    print(_timing.table(result["rows"], ["case", "method", "gof_p", "exact_p_fast", "exact_p_loop", "gof"]))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
