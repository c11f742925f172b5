"""Bradley-Terry curation (eq. 1, Algorithm 1): probabilities and sampler goodness of fit.

Every sampler check uses a fixed seed and a chi-square (or binomial) test at
level 1e-4, so a correct sampler fails with probability ~1e-4 per check and a
wrong law of a few per cent is caught at the sample sizes used here.
"""

import numpy as np
import pytest
from scipy import stats

from plural_utils import curation, dynamics

LEVEL = 1e-4


def assert_fits(counts, probs, label=""):
    """Chi-square goodness of fit, merging cells whose expected count is below 5."""
    counts = np.asarray(counts, dtype=float)
    expected = counts.sum() * np.asarray(probs, dtype=float)
    assert (counts[expected == 0] == 0).all(), f"{label}: draws where the law has no mass"
    order = np.argsort(expected)
    obs, exp = [], []
    acc_o = acc_e = 0.0
    for j in order:
        acc_o += counts[j]
        acc_e += expected[j]
        if acc_e >= 5:
            obs.append(acc_o)
            exp.append(acc_e)
            acc_o = acc_e = 0.0
    if acc_e > 0 and exp:
        obs[-1] += acc_o
        exp[-1] += acc_e
    exp = np.array(exp) * (sum(obs) / sum(exp))
    pvalue = stats.chisquare(obs, exp).pvalue if len(obs) > 1 else 1.0
    print(f"{label}: chi-square p = {pvalue:.3g} over {len(obs)} cells")
    assert pvalue > LEVEL, label


def assert_same_law(a, b, N, label=""):
    """Two-sample chi-square on the counts of two samples of indices in range(N)."""
    table = np.vstack([np.bincount(a, minlength=N), np.bincount(b, minlength=N)])
    table = table[:, table.sum(axis=0) > 0]
    pvalue = stats.chi2_contingency(table).pvalue
    print(f"{label}: contingency p = {pvalue:.3g}")
    assert pvalue > LEVEL, label


def small_problem(seed=0, M=2, N=8, scale=1.0):
    rng = np.random.default_rng(seed)
    return scale * rng.normal(size=(M, N))


# --- bt_probabilities ---------------------------------------------------------

@pytest.mark.parametrize("tau", [1.0, 0.25, 3.0])
def test_bt_probabilities_is_softmax(tau):
    r = np.array([0.3, -1.2, 2.0, 0.0, 0.7])
    expected = np.exp(r / tau) / np.exp(r / tau).sum()
    assert np.allclose(curation.bt_probabilities(r, tau), expected, rtol=1e-13, atol=0)


def test_bt_probabilities_along_axis():
    R = small_problem(1, M=3, N=5)
    by_row = curation.bt_probabilities(R, 0.5, axis=1)
    by_col = curation.bt_probabilities(R.T, 0.5, axis=0).T
    assert np.allclose(by_row, by_col)
    assert np.allclose(by_row.sum(axis=1), 1.0)


def test_bt_probabilities_extreme_scale():
    r = np.array([-1e6, -1e6 + 1e-3, -1e6 - 5.0, -2e6])
    probs = curation.bt_probabilities(r, tau=1e-3)
    assert np.isfinite(probs).all()
    assert abs(probs.sum() - 1.0) < 1e-12
    assert np.allclose(probs[:2], [1 / (1 + np.e), np.e / (1 + np.e)], rtol=1e-6)
    assert probs[2] == 0.0 and probs[3] == 0.0


def test_bt_probabilities_minus_inf():
    probs = curation.bt_probabilities([0.0, -np.inf, 1.0, -np.inf])
    assert probs[1] == 0.0 and probs[3] == 0.0
    assert np.allclose(probs[[0, 2]], [1 / (1 + np.e), np.e / (1 + np.e)])
    assert np.array_equal(curation.bt_probabilities([-np.inf] * 4), np.full(4, 0.25))
    rows = curation.bt_probabilities([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 0.0]], axis=1)
    assert np.allclose(rows, [[1 / 3, 1 / 3, 1 / 3], [0.5, 0.0, 0.5]])


# --- shared pool --------------------------------------------------------------

@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_shared_pool_matches_bt_probabilities(tau):
    R = small_problem(2, M=3, N=10)
    q = np.array([0.5, 0.3, 0.2])
    res = curation.curate(R, 30000, q=q, tau=tau, pool="shared", rng=7)
    assert np.array_equal(res.pool, np.arange(10))
    probs = curation.bt_probabilities(R, tau, axis=1)
    for i in range(3):
        picks = res.indices[res.active == i]
        assert_fits(np.bincount(picks, minlength=10), probs[i], f"shared reward {i}")


def test_shared_pool_smaller_than_N():
    R = small_problem(3, M=2, N=30)
    res = curation.curate(R, 20000, K=6, q=0.4, pool="shared", rng=11)
    pool = res.pool
    assert pool.shape == (6,) and np.unique(pool).shape == (6,)
    assert set(res.indices.tolist()) <= set(pool.tolist())
    probs = curation.bt_probabilities(R[:, pool], axis=1)
    for i in range(2):
        picks = np.searchsorted(pool, res.indices[res.active == i])
        assert_fits(np.bincount(picks, minlength=6), probs[i], f"shared K=6 reward {i}")


def test_shared_pool_members_are_uniform_subsets():
    R = small_problem(4, M=1, N=12)
    hits = np.zeros(12)
    for seed in range(600):
        hits[curation.curate(R[0], 1, K=3, pool="shared", rng=seed).pool] += 1
    assert_fits(hits, np.full(12, 1 / 12), "shared pool membership")


def test_shared_pool_minus_inf_never_selected():
    R = small_problem(5, M=2, N=6)
    R[0, [1, 4]] = -np.inf
    res = curation.curate(R, 5000, pool="shared", rng=3)
    assert not np.isin(res.indices[res.active == 0], [1, 4]).any()


# --- fresh pools --------------------------------------------------------------

def exact_law(R_i, w, K, tau=1.0):
    return w * dynamics.bt_weight(w, R_i, K, tau=tau)


@pytest.mark.parametrize("K", [2, 5, 64])
@pytest.mark.parametrize("method", ["pools", "exact"])
def test_fresh_pools_match_exact_law(K, method):
    """Lemma 1: the winner of K i.i.d. candidates from w is x_j with probability w_j H^{K,r}_w(x_j)."""
    R = small_problem(6, M=2, N=7, scale=0.6)
    w = np.random.default_rng(1).dirichlet(np.ones(7))
    q = np.array([0.35, 0.65])
    res = curation.curate(R, 30000, K=K, q=q, tau=0.8, pool="fresh", candidate_weights=w,
                          method=method, rng=100 + K)
    assert res.pool is None
    for i in range(2):
        law = exact_law(R[i], w, K, tau=0.8)
        assert abs(law.sum() - 1.0) < 1e-9
        picks = res.indices[res.active == i]
        assert_fits(np.bincount(picks, minlength=7), law, f"fresh {method} K={K} reward {i}")


def test_fresh_K2_against_brute_force_law():
    """Independent of bt_weight: at K = 2, P(x) = w_x sum_y w_y 2 e^{r_x} / (e^{r_x} + e^{r_y})."""
    r = np.array([0.0, 1.0, -0.5, 2.0, 0.3])
    w = np.array([0.1, 0.3, 0.2, 0.15, 0.25])
    e = np.exp(r)
    law = w * 2 * (w[None, :] * e[:, None] / (e[:, None] + e[None, :])).sum(axis=1)
    for method in ("pools", "exact"):
        res = curation.curate(r, 30000, K=2, pool="fresh", candidate_weights=w, method=method, rng=5)
        assert_fits(np.bincount(res.indices, minlength=5), law, f"fresh K=2 {method} vs brute force")


def test_fresh_uniform_candidates_default():
    R = small_problem(8, M=1, N=9)
    law = exact_law(R[0], np.full(9, 1 / 9), 4)
    for method in ("pools", "exact"):
        res = curation.curate(R[0], 20000, K=4, pool="fresh", method=method, rng=9)
        assert_fits(np.bincount(res.indices, minlength=9), law, f"fresh uniform {method}")


def law_K2_with_dead(r, w):
    """Fresh K = 2 law with r = -inf allowed, by brute force over the pair (x, y).

    A finite reward always beats -inf; a pool of two -inf candidates is won
    uniformly, the convention of bt_probabilities and of the per-pool sampler.
    """
    live = np.isfinite(r)
    e = np.exp(np.where(live, r, 0.0))
    share = np.where(live[:, None] & live[None, :], e[:, None] / (e[:, None] + e[None, :]),
                     np.where(live[:, None], 1.0, np.where(live[None, :], 0.0, 0.5)))
    return w * 2 * (w[None, :] * share).sum(axis=1)


def dead_problem():
    r = np.array([0.4, -np.inf, 1.0, -0.3, -np.inf, 0.8])
    w = np.array([0.2, 0.15, 0.2, 0.15, 0.1, 0.2])
    return r, w


@pytest.mark.parametrize("method", ["pools", "exact"])
def test_fresh_with_minus_inf_rewards_given_a_live_winner(method):
    """Among draws won by a finite-reward candidate, the law is w_x H^2(x) restricted to live x."""
    r, w = dead_problem()
    law = law_K2_with_dead(r, w)
    live = np.isfinite(r)
    res = curation.curate(r, 30000, K=2, pool="fresh", candidate_weights=w, method=method, rng=8)
    picks = res.indices[live[res.indices]]
    assert_fits(np.bincount(picks, minlength=6)[live], law[live] / law[live].sum(),
                f"fresh {method} K=2, -inf rewards, live winners")


@pytest.mark.parametrize("method", ["pools", "exact"])
def test_fresh_with_minus_inf_rewards_full_law(method):
    """"pools" and "exact" are documented to give the same law, including all -inf pools."""
    r, w = dead_problem()
    law = law_K2_with_dead(r, w)
    assert abs(law.sum() - 1.0) < 1e-12
    res = curation.curate(r, 30000, K=2, pool="fresh", candidate_weights=w, method=method, rng=9)
    assert_fits(np.bincount(res.indices, minlength=6), law, f"fresh {method} K=2, -inf rewards")


def test_fresh_auto_picks_a_correct_sampler():
    R = small_problem(12, M=1, N=6)
    law = exact_law(R[0], np.full(6, 1 / 6), 8)
    for n in (3, 20000):  # n * K below and above 4 N
        res = curation.curate(R[0], n, K=8, pool="fresh", method="auto", rng=4)
        assert res.indices.shape == (n,)
    assert_fits(np.bincount(res.indices, minlength=6), law, "fresh auto")


def test_fresh_K1_is_the_candidate_law():
    R = small_problem(13, M=2, N=5, scale=5.0)
    w = np.array([0.4, 0.1, 0.2, 0.2, 0.1])
    for method in ("pools", "exact"):
        res = curation.curate(R, 20000, K=1, pool="fresh", candidate_weights=w, method=method, rng=6)
        assert_fits(np.bincount(res.indices, minlength=5), w, f"fresh K=1 {method}")


@pytest.mark.parametrize("pool,method", [("shared", "auto"), ("fresh", "pools"), ("fresh", "exact")])
def test_active_reward_frequencies_match_q(pool, method):
    R = small_problem(14, M=3, N=6)
    q = np.array([0.6, 0.3, 0.1])
    n = 20000
    res = curation.curate(R, n, K=4, q=q, pool=pool, method=method, rng=21)
    for i in range(3):
        pvalue = stats.binomtest(int((res.active == i).sum()), n, q[i]).pvalue
        assert pvalue > LEVEL, f"reward {i}: binomial p = {pvalue:.3g}"


def test_curate_agrees_with_reference_loop():
    """The vectorised sampler and the literal Algorithm 1 loop draw from the same joint law."""
    R = small_problem(15, M=2, N=6)
    n = 6000
    fast = curation.curate(R, n, q=0.3, tau=0.7, pool="shared", rng=31)
    slow = curation.curate_reference(R, n, q=0.3, tau=0.7, rng=32)
    assert np.array_equal(slow.pool, np.arange(6))
    joint = lambda res: res.active * 6 + res.indices  # noqa: E731
    assert_same_law(joint(fast), joint(slow), 12, "curate vs curate_reference (active, index)")
    probs = curation.bt_probabilities(R, 0.7, axis=1)
    for i in range(2):
        assert_fits(np.bincount(slow.indices[slow.active == i], minlength=6), probs[i], f"reference reward {i}")


def test_one_reward_as_1d_array():
    r = np.array([0.0, 1.0, 2.0])
    for kwargs in ({"pool": "shared"}, {"pool": "fresh", "K": 4, "method": "pools"},
                   {"pool": "fresh", "K": 4, "method": "exact"}):
        res = curation.curate(r, 50, rng=0, **kwargs)
        assert res.indices.shape == (50,) and (res.active == 0).all()
    ref = curation.curate_reference(r, 20, rng=0)
    assert (ref.active == 0).all()


@pytest.mark.parametrize("kwargs", [{"pool": "shared"}, {"pool": "shared", "K": 3},
                                    {"pool": "fresh", "K": 5, "method": "pools"},
                                    {"pool": "fresh", "K": 5, "method": "exact"}])
def test_same_seed_same_draws(kwargs):
    R = small_problem(16, M=2, N=7)
    a = curation.curate(R, 500, q=0.4, rng=123, **kwargs)
    b = curation.curate(R, 500, q=0.4, rng=np.random.default_rng(123), **kwargs)
    c = curation.curate(R, 500, q=0.4, rng=124, **kwargs)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.active, b.active)
    assert not (np.array_equal(a.indices, c.indices) and np.array_equal(a.active, c.active))
    r1 = curation.curate_reference(R, 50, q=0.4, rng=5)
    r2 = curation.curate_reference(R, 50, q=0.4, rng=5)
    assert np.array_equal(r1.indices, r2.indices)


@pytest.mark.parametrize("kwargs", [{"pool": "shared"}, {"pool": "fresh", "K": 5, "method": "pools"},
                                    {"pool": "fresh", "K": 5, "method": "exact"},
                                    {"pool": "fresh", "K": 5, "method": "auto"}])
def test_zero_draws(kwargs):
    res = curation.curate(small_problem(17), 0, rng=0, **kwargs)
    assert res.indices.shape == (0,) and res.active.shape == (0,)
    ref = curation.curate_reference(small_problem(17), 0, rng=0)
    assert ref.indices.shape == (0,) and ref.active.shape == (0,)


def test_indices_in_range_and_integer():
    R = small_problem(18, M=2, N=9)
    for kwargs in ({"pool": "shared"}, {"pool": "fresh", "K": 3, "method": "pools"},
                   {"pool": "fresh", "K": 3, "method": "exact"}):
        res = curation.curate(R, 1000, rng=1, **kwargs)
        assert res.indices.dtype.kind == "i" and res.active.dtype.kind == "i"
        assert res.indices.min() >= 0 and res.indices.max() < 9
