"""Exact dynamics: H^{K,r}_p of eq. (2), its tilt limit (eq. 5), the update of Lemma 1 / B.4."""

import functools
import math

import numpy as np
import pytest

from plural_utils import dynamics, measures, rewards, theory


def random_atoms(seed: int, n: int = 12, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(n))
    r = scale * rng.normal(size=n)
    return p, r


def _win_share(s, *others):
    """e^{s_x} / (e^{s_x} + sum e^{s_y}) for every combination, safe for any spread and -inf."""
    with np.errstate(over="ignore", invalid="ignore"):
        denom = 1.0 + sum(np.exp(o - s) for o in others)
        share = 1.0 / denom
    # A dead candidate (s = -inf) wins only a pool of dead candidates, uniformly.
    all_dead = functools.reduce(np.logical_and, [np.isneginf(o) for o in others]).astype(float)
    return np.where(np.isneginf(s), all_dead / (1 + len(others)), share)


def brute_force_H2(p, s):
    """H^2(x) = 2 sum_y p(y) e^{s(x)} / (e^{s(x)} + e^{s(y)})  (eq. 2, K = 2)."""
    return 2.0 * (p[None, :] * _win_share(s[:, None], s[None, :])).sum(axis=1)


def brute_force_H3(p, s):
    """H^3(x) = 3 sum_{y,z} p(y) p(z) e^{s(x)} / (e^{s(x)} + e^{s(y)} + e^{s(z)})."""
    pp = p[None, :, None] * p[None, None, :]
    share = _win_share(s[:, None, None], s[None, :, None], s[None, None, :])
    return 3.0 * (pp * share).sum(axis=(1, 2))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("scale", [0.01, 1.0, 10.0, 50.0])
@pytest.mark.parametrize("tau", [1.0, 0.3, 4.0])
def test_H_matches_exact_sums_at_K2_and_K3(seed, scale, tau):
    p, r = random_atoms(seed, n=15, scale=scale)
    s = r / tau
    H2 = dynamics.bt_weight(p, r, 2, tau=tau)
    H3 = dynamics.bt_weight(p, r, 3, tau=tau)
    err2 = np.abs(H2 - brute_force_H2(p, s)).max()
    err3 = np.abs(H3 - brute_force_H3(p, s)).max()
    print(f"seed={seed} scale={scale} tau={tau}: |H2 err|={err2:.2e} |H3 err|={err3:.2e}")
    assert err2 < 1e-10
    assert err3 < 1e-10


def test_K1_gives_H_one_and_identity_update():
    p, r = random_atoms(0, scale=5.0)
    assert np.array_equal(dynamics.bt_weight(p, r, 1), np.ones_like(p))
    R = np.vstack([r, -r])
    assert np.allclose(dynamics.update(p, R, q=0.3, K=1), p, rtol=0, atol=1e-15)


@pytest.mark.parametrize("K", [2, 3, 7, 32, 128, 1024])
@pytest.mark.parametrize("scale", [0.1, 3.0, 30.0])
def test_H_integrates_to_one(K, scale):
    """Eq. (3): sum_x p(x) H^K(x) = 1."""
    p, r = random_atoms(K, n=40, scale=scale)
    total = p @ dynamics.bt_weight(p, r, K)
    assert abs(total - 1.0) < 1e-9


def test_H_converges_to_tilt():
    p, r = random_atoms(11, n=30, scale=1.0)
    tilt = dynamics.tilt_weight(p, r)
    errors = [np.abs(dynamics.bt_weight(p, r, K) - tilt).max() for K in (16, 64, 256, 1024, 4096)]
    print("sup |H^K - H^inf| over K = 16..4096:", errors)
    assert all(b < a for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 0.01 * tilt.max()


@pytest.mark.parametrize("K", [256, 1024])
def test_H_matches_monte_carlo_of_eq2(K):
    """H^K(x) = E[K e^{r(x)} / (e^{r(x)} + sum_{j<K} e^{r(y_j)})], y_j i.i.d. from p."""
    rng = np.random.default_rng(K)
    p, r = random_atoms(5, n=10, scale=1.0)
    reps = 4000
    others = rng.choice(r.shape[0], size=(reps, K - 1), p=p)
    rest = np.exp(r)[others].sum(axis=1)
    samples = K * np.exp(r)[None, :] / (np.exp(r)[None, :] + rest[:, None])
    mc = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / math.sqrt(reps)
    H = dynamics.bt_weight(p, r, K)
    z = np.abs(H - mc) / se
    print(f"K={K}: max |H - MC| / se = {z.max():.2f}")
    assert (z < 5).all()


@pytest.mark.parametrize("K", [2, 5, 64])
def test_H_invariant_to_reward_shift(K):
    p, r = random_atoms(3, scale=2.0)
    assert np.allclose(dynamics.bt_weight(p, r + 123.4, K), dynamics.bt_weight(p, r, K), rtol=0, atol=1e-10)
    assert np.allclose(dynamics.tilt_weight(p, r - 1e3), dynamics.tilt_weight(p, r), rtol=1e-10, atol=0)


def dead_atoms():
    p, r = random_atoms(4, n=8)
    r[[1, 5]] = -np.inf
    return p, r


@pytest.mark.parametrize("K", [2, 3])
def test_minus_inf_rewards_match_exact_sums(K):
    """Atoms with r = -inf never beat a finite one, so a live atom wins against them for sure."""
    p, r = dead_atoms()
    exact = brute_force_H2(p, r) if K == 2 else brute_force_H3(p, r)
    H = dynamics.bt_weight(p, r, K)
    print(f"K={K}: H = {H}, exact = {exact}")
    assert np.allclose(H, exact, rtol=0, atol=1e-10)


@pytest.mark.parametrize("K", [2, 5, 64])
def test_minus_inf_rewards_win_only_pools_of_their_own(K):
    """Dead atoms (r = -inf, mass d) win only a pool made of them alone, uniformly: H = d^{K-1}.

    This is the convention of bt_probabilities (an all -inf pool is chosen uniformly),
    the limit of equal very low rewards; with it sum p H = 1 as eq. (3) requires.
    """
    p, r = dead_atoms()
    dead = np.isneginf(r)
    d = p[dead].sum()
    H = dynamics.bt_weight(p, r, K)
    assert np.allclose(H[dead], d ** (K - 1), rtol=1e-12, atol=0)
    assert np.isfinite(H).all()
    print(f"K={K}: sum p H = {p @ H:.12f}")
    assert abs(p @ H - 1.0) < 1e-9
    assert abs(p[~dead] @ H[~dead] - (1.0 - d**K)) < 1e-9
    assert (dynamics.tilt_weight(p, r)[dead] == 0.0).all()
    assert abs(p @ dynamics.tilt_weight(p, r) - 1.0) < 1e-12


@pytest.mark.parametrize("K", [2, 3, 10, 64])
def test_huge_reward_spread(K):
    """One atom at 0 with mass 0.5, the rest at -1e4: the low atoms win only a pool of low atoms.

    Exactly, H(low) = 0.5^{K-1} and H(top) = 2 - 0.5^{K-1}.
    """
    p = np.array([0.5, 0.2, 0.2, 0.1])
    r = np.array([0.0, -1e4, -1e4, -1e4])
    H = dynamics.bt_weight(p, r, K)
    assert np.isfinite(H).all()
    assert abs(p @ H - 1.0) < 1e-9
    assert np.allclose(H, [2 - 0.5 ** (K - 1)] + [0.5 ** (K - 1)] * 3, rtol=0, atol=1e-9)


def test_huge_reward_spread_with_distinct_low_atoms():
    p = np.array([0.5, 0.2, 0.2, 0.1])
    r = np.array([0.0, -1e4, -1e4 + 3.0, -1e4 - 2.0])
    for K in (2, 3):
        H = dynamics.bt_weight(p, r, K)
        assert np.isfinite(H).all() and abs(p @ H - 1.0) < 1e-9
    assert np.allclose(dynamics.bt_weight(p, r, 2), brute_force_H2(p, r), rtol=0, atol=1e-10)
    assert np.allclose(dynamics.bt_weight(p, r, 3), brute_force_H3(p, r), rtol=0, atol=1e-10)


def test_bt_weight_table_brackets_H():
    p, r = random_atoms(8, n=20, scale=2.0)
    lattice, values, spline = dynamics.bt_weight_table(r, p, 16, r.min(), r.max())
    H = dynamics.bt_weight(p, r, 16)
    assert np.all(np.diff(values) > 0)
    assert np.allclose(spline(r), H, rtol=1e-8, atol=0)
    cell = np.floor((r - lattice[0]) / (lattice[1] - lattice[0])).astype(int)
    assert np.all(values[cell] <= H + 1e-12) and np.all(H <= values[cell + 1] + 1e-12)


@pytest.mark.parametrize("K", [2, 8, 100, math.inf])
def test_update_conserves_mass_every_step(K):
    p, r = random_atoms(6, n=50, scale=3.0)
    R = np.vstack([r, np.roll(r, 7), -r])
    for _ in range(20):
        W = dynamics.curation_multiplier(p, R, q=[0.5, 0.3, 0.2], K=K)
        assert abs(p @ W - 1.0) < 1e-9  # eq. (3), before any renormalisation
        p = dynamics.update(p, R, q=[0.5, 0.3, 0.2], K=K)
        assert abs(p.sum() - 1.0) < 1e-12
        assert (p >= 0).all()


@pytest.mark.parametrize("K", [3, 40, math.inf])
@pytest.mark.parametrize("M", [2, 3])
def test_M_reward_update_is_q_mixture(K, M):
    """Appendix B.4: the M-reward update is sum_i q_i times the single-reward update."""
    rng = np.random.default_rng(M)
    p = rng.dirichlet(np.ones(25))
    R = 2.0 * rng.normal(size=(M, 25))
    q = rng.dirichlet(np.ones(M))
    mixed = dynamics.update(p, R, q=q, K=K)
    parts = sum(q[i] * dynamics.update(p, R[i:i + 1], q=[1.0], K=K) for i in range(M))
    assert np.allclose(mixed, parts, rtol=0, atol=1e-12)


def test_update_at_K_inf_is_the_tilt():
    p, r = random_atoms(9, scale=2.0)
    expected = p * np.exp(r) / (p @ np.exp(r))
    assert np.allclose(dynamics.update(p, r, K=math.inf), expected, rtol=1e-12, atol=0)


def two_basin_1d(separation: float, n: int = 201):
    x = measures.grid_1d(0.0, 10.0, n)
    centers = [[5.0 - separation / 2], [5.0 + separation / 2]]
    return x, rewards.quadratic_rewards(x, centers)


@pytest.mark.parametrize("K", [5, math.inf])
def test_iterate_shapes_and_mass_split(K):
    x, R = two_basin_1d(6.0, n=81)
    p0 = measures.uniform(x.shape[0])
    traj = dynamics.iterate(p0, R, q=0.4, T=12, K=K, eps=0.5, store_every=5)
    assert traj.a.shape == (13, 2) and traj.mean.shape == (13, 2) and traj.var.shape == (13, 2)
    assert traj.m.shape == (13,) and traj.T == 12
    assert theory.basins_disjoint(traj.basins)
    assert np.allclose(traj.a.sum(axis=1) + traj.m, 1.0, rtol=0, atol=1e-12)
    assert traj.history_steps.tolist() == [0, 5, 10, 12]
    assert np.array_equal(traj.history[0], p0)
    assert np.array_equal(traj.history[-1], traj.p)


def test_iterate_matches_repeated_update():
    x, R = two_basin_1d(4.0, n=61)
    p = measures.gaussian_on_grid(x, [4.0], var=4.0)
    traj = dynamics.iterate(p, R, q=0.7, T=6, K=math.inf)
    for _ in range(6):
        p = dynamics.update(p, R, q=0.7, K=math.inf)
    assert np.allclose(traj.p, p, rtol=1e-10, atol=1e-300)


def test_K1_iterate_stays_put():
    x, R = two_basin_1d(6.0, n=41)
    p0 = measures.gaussian_on_grid(x, [3.0], var=2.0)
    traj = dynamics.iterate(p0, R, q=0.5, T=3, K=1)
    assert np.allclose(traj.p, p0, rtol=0, atol=1e-15)


def test_two_rewards_on_a_2d_grid_keep_both_basins():
    """K = inf, q = 0.5: both basins keep mass and the outside mass m_t decreases (Sec. 3)."""
    x = measures.grid_2d(0.0, 10.0, 41)
    R = rewards.quadratic_rewards(x, [[2.0, 2.0], [8.0, 8.0]])
    p0 = measures.uniform(x.shape[0])
    traj = dynamics.iterate(p0, R, q=0.5, T=60, K=math.inf, eps=0.5)
    print("a_T =", traj.a[-1], "m_T =", traj.m[-1])
    assert (traj.a[-1] > 0.2).all()
    assert np.all(np.diff(traj.m) < 0)
    assert traj.m[-1] < 1e-3

    single = dynamics.iterate(p0, R, q=1.0, T=60, K=math.inf, eps=0.5)
    print("q = 1: a_T =", single.a[-1])
    assert single.a[-1, 0] > 0.999
    assert single.a[-1, 1] < 1e-6


def test_tilt_robust_far_from_the_maximum():
    """gamma = 1e3 and p0 concentrated far from the reward's maximum: no under/overflow."""
    x = measures.grid_1d(0.0, 10.0, 201)
    R = rewards.quadratic_rewards(x, [[1.0], [9.0]], gamma=1e3)
    p0 = measures.gaussian_on_grid(x, [5.0], var=0.05)
    p = p0
    for _ in range(5):
        p = dynamics.update(p, R, q=0.5, K=math.inf)
        assert np.isfinite(p).all() and abs(p.sum() - 1.0) < 1e-12
    traj = dynamics.iterate(p0, R, q=0.5, T=5, K=math.inf)
    assert np.isfinite(traj.p).all() and np.isfinite(traj.a).all() and np.isfinite(traj.var).all()
    assert np.allclose(traj.p, p, rtol=1e-9, atol=1e-300)
    H = dynamics.bt_weight(p0, R[0], 16)
    assert np.isfinite(H).all() and abs(p0 @ H - 1.0) < 1e-9


def test_update_with_minus_inf_rewards_matches_exact_sum():
    """Lemma 1 at K = 2 with dead atoms: p_{t+1} = p H^2 / sum(p H^2) (H^2 by brute force)."""
    p, r = dead_atoms()
    H = brute_force_H2(p, r)
    expected = p * H / (p @ H)
    assert np.allclose(dynamics.update(p, r, K=2), expected, rtol=0, atol=1e-10)


def laplace_H(p, s, K, x):
    """Eq. (2) via 1/(a + S) = int e^{-t(a + S)} dt, integrated in log t (independent of the package)."""
    from scipy.special import logsumexp

    s = s - s.max()
    u = np.arange(-45.0, -s.min() + 6.0, 0.01)
    log_phi = logsumexp(np.log(p)[None, :] - np.exp(u)[:, None] * np.exp(s)[None, :], axis=1)
    log_f = u + s[x] - np.exp(u + s[x]) + (K - 1) * log_phi
    return K * np.exp(logsumexp(log_f) + np.log(0.01))


@pytest.mark.parametrize("K", [4, 64, 1024])
def test_far_tail_is_accurate_in_relative_terms(K):
    """An atom 300 nats below the rest wins only through pools of low atoms; H^K stays relatively exact."""
    x = np.linspace(0.0, 10.0, 200)
    p = np.exp(-((x - 5.0) ** 2) / 6.0)
    p /= p.sum()
    r = -3.0 * (x - 1.0) ** 2
    H = dynamics.bt_weight(p, r, K)
    for atom in (0, 100, 199):
        ref = laplace_H(p, r, K, atom)
        print(f"K={K} atom={atom}: H={H[atom]:.6e} laplace={ref:.6e}")
        assert abs(H[atom] / ref - 1.0) < 1e-8
