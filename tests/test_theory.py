"""Basins, leakage, Lemmas 4-5, Theorem 6 and the Nash point of Theorem 7 (Sec. 3, App. B)."""

import math

import numpy as np
import pytest

from plural_utils import dynamics, measures, rewards, theory

EPS = 0.1
Q_SWEEP = (0.2, 0.35, 0.5, 0.65, 0.8)
SEPARATIONS = (2.2, 3.0)


# --- basins and leakage -------------------------------------------------------

def test_basins_match_definition():
    rng = np.random.default_rng(0)
    R = rng.normal(size=(3, 40))
    for eps in (0.05, 0.5, 2.0):
        masks = theory.basins(R, eps)
        expected = R >= R.max(axis=1, keepdims=True) - eps
        assert np.array_equal(masks, expected)


def test_basins_respect_support():
    R = np.array([[5.0, 1.0, 0.9, 0.0], [0.0, 0.0, 1.0, 3.0]])
    support = np.array([False, True, True, True])
    masks = theory.basins(R, 0.2, support=support)
    assert masks.tolist() == [[False, True, True, False], [False, False, False, True]]
    with pytest.raises(ValueError, match="support"):
        theory.basins(R, 0.2, support=np.zeros(4, dtype=bool))
    with pytest.raises(ValueError, match="support"):
        theory.basins(R, 0.2, support=np.ones(3, dtype=bool))


def test_basins_disjoint():
    assert theory.basins_disjoint([[True, False, False], [False, False, True]])
    assert not theory.basins_disjoint([[True, True, False], [False, True, True]])
    R = np.array([[0.0, -0.05, -1.0], [-1.0, -0.05, 0.0]])
    assert theory.basins_disjoint(theory.basins(R, 0.01))
    assert not theory.basins_disjoint(theory.basins(R, 0.1))


def test_basin_masses():
    masks = np.array([[True, True, False, False, False], [False, False, False, True, False]])
    p = np.array([0.1, 0.2, 0.3, 0.15, 0.25])
    a, m = theory.basin_masses(p, masks)
    assert np.allclose(a, [0.3, 0.15]) and math.isclose(m, 0.55)


def test_leakage_gaps_hand_computed():
    """1-D, r_i = -(x - c_i)^2 on x in {0, ..., 4}, c = (0, 4), eps = 1.5.

    S_1 = {x : x^2 <= 1.5} = {0, 1}, S_2 = {3, 4}; r_1^* = r_2^* = 0.
    Delta_1 = r_1^* + eps - max_{S_2} r_1 = 0 + 1.5 - (-9) = 10.5 and, by symmetry, Delta_2 = 10.5.
    """
    x = np.arange(5.0)
    R = np.stack([-(x - 0.0) ** 2, -(x - 4.0) ** 2])
    masks = theory.basins(R, 1.5)
    assert masks.tolist() == [[True, True, False, False, False], [False, False, False, True, True]]
    gaps = theory.leakage_gaps(R, 1.5)
    assert np.isnan(np.diag(gaps)).all()
    assert gaps[0, 1] == 10.5 and gaps[1, 0] == 10.5


def test_leakage_gaps_asymmetric():
    """r_1 = (0, -1, -3, -7), r_2 = (-2, -2.5, 0, 0.1), eps = 0.5.

    S_1 = {0}, S_2 = {2, 3}. Delta[0, 1] = 0 + 0.5 - max(-3, -7) = 3.5; Delta[1, 0] = 0.1 + 0.5 - (-2) = 2.6.
    """
    R = np.array([[0.0, -1.0, -3.0, -7.0], [-2.0, -2.5, 0.0, 0.1]])
    gaps = theory.leakage_gaps(R, 0.5)
    assert np.allclose([gaps[0, 1], gaps[1, 0]], [3.5, 2.6])
    sup = np.array([True, True, True, False])
    gaps_sup = theory.leakage_gaps(R, 0.5, support=sup)  # r_2^* = 0 over the support, S_2 = {2}
    assert np.allclose([gaps_sup[0, 1], gaps_sup[1, 0]], [3.5, 2.5])


def test_kappa():
    gaps = np.array([[np.nan, 3.0], [1.2, np.nan]])
    k = theory.kappa(gaps, 0.25)
    assert np.allclose([k[0, 1], k[1, 0]], [math.exp(-2.5), math.exp(-0.7)])
    assert np.isnan(np.diag(k)).all()
    assert theory.kappa(0.2, 0.1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="eps"):
        theory.kappa(1.0, 0.0)


# --- Lemmas 4 and 5, Theorem 6 ------------------------------------------------

def test_lemma4_bounds_values():
    lo, hi = theory.lemma4_bounds(0.5, 0.1, 0.2)
    assert lo == pytest.approx((0.5 - 0.1) / 0.9) and hi == pytest.approx(0.5 / 0.8)
    assert theory.lemma4_bounds(0.05, 0.1, 0.2)[0] == 0.0  # clipped at 0
    assert theory.lemma4_bounds(0.9, 0.1, 0.2)[1] == 1.0  # clipped at 1
    assert theory.lemma4_bounds(0.3, 1e-12, 1e-12) == pytest.approx((0.3, 0.3))


@pytest.mark.parametrize("k1,k2,name", [(0.0, 0.2, "kappa1"), (1.0, 0.2, "kappa1"), (1.5, 0.2, "kappa1"),
                                        (0.2, 0.0, "kappa2"), (0.2, 1.0, "kappa2"), (0.2, -0.1, "kappa2")])
def test_lemma4_bounds_rejects_kappa_outside_unit_interval(k1, k2, name):
    with pytest.raises(ValueError, match=name):
        theory.lemma4_bounds(0.5, k1, k2)


@pytest.mark.parametrize("q", [-0.1, 1.1])
def test_lemma4_bounds_rejects_bad_q(q):
    with pytest.raises(ValueError, match="q"):
        theory.lemma4_bounds(q, 0.1, 0.1)


def test_lemma5_bounds_values():
    b = theory.lemma5_bounds(0.5, 0.1, 0.2)
    assert b.L == pytest.approx(0.4 / 0.9) and b.U == pytest.approx(0.625)
    assert b.eta == pytest.approx(0.5 * min(0.4 / 0.9, 0.375))
    assert 0 < b.eta < 0.5 and b.L <= b.U


@pytest.mark.parametrize("q", [0.1, 0.05, 0.8, 0.95])
def test_lemma5_bounds_rejects_q_outside_window(q):
    with pytest.raises(ValueError, match="q"):
        theory.lemma5_bounds(q, 0.1, 0.2)  # window (0.1, 0.8), open


def test_variance_lower_bound_values():
    assert theory.variance_lower_bound(0.3, 2.0, 0.1) == pytest.approx(0.21 * 1.8 ** 2)
    assert theory.variance_lower_bound(0.3, 0.15, 0.1) == 0.0
    assert theory.variance_lower_bound(1.0, 5.0, 0.1) == 0.0
    with pytest.raises(ValueError, match=r"^a\b"):
        theory.variance_lower_bound(1.2, 2.0, 0.1)


def two_basin_run(q, separation, T=300):
    """K = inf dynamics on a 1-D grid with quadratic rewards centred separation apart."""
    x = measures.grid_1d(0.0, 10.0, 401)
    R = rewards.quadratic_rewards(x, [[5.0 - separation / 2], [5.0 + separation / 2]])
    traj = dynamics.iterate(measures.uniform(x.shape[0]), R, q=q, T=T, K=math.inf, eps=EPS)
    return R, traj


@pytest.mark.parametrize("separation", SEPARATIONS)
def test_lemma4_interval_contains_a_inf(separation):
    """Lemma 4 / B.5 with the gaps measured on the grid, asserted over the whole q sweep."""
    for q in Q_SWEEP:
        R, traj = two_basin_run(q, separation)
        assert theory.basins_disjoint(traj.basins)
        gaps = theory.leakage_gaps(R, EPS)
        k = theory.kappa(gaps, EPS)
        lo, hi = theory.lemma4_bounds(q, k[0, 1], k[1, 0])
        a_inf = traj.a[-1, 0]
        print(f"d={separation} q={q}: a_inf={a_inf:.6f} in [{lo:.6f}, {hi:.6f}], "
              f"margins {a_inf - lo:.2e}, {hi - a_inf:.2e}; m_T={traj.m[-1]:.1e}")
        assert traj.m[-1] < 1e-6  # the lemma assumes m_t -> 0
        assert abs(traj.a[-1, 0] - traj.a[-2, 0]) < 1e-5  # and a_t converged
        assert lo <= a_inf <= hi


@pytest.mark.parametrize("separation", SEPARATIONS)
def test_lemma5_and_theorem6_on_the_runs(separation):
    """a_t ends in [L, U] (Lemma 5) and Var_{p_T}[r_i] >= a (1 - a)(Delta_i - 2 eps)^2 (Theorem 6)."""
    for q in Q_SWEEP:
        R, traj = two_basin_run(q, separation)
        gaps = theory.leakage_gaps(R, EPS)
        k = theory.kappa(gaps, EPS)
        bounds = theory.lemma5_bounds(q, k[0, 1], k[1, 0])
        a_inf = traj.a[-1, 0]
        assert bounds.eta <= a_inf <= 1 - bounds.eta
        assert bounds.L - 1e-9 <= a_inf <= bounds.U + 1e-9
        for i, gap in ((0, gaps[0, 1]), (1, gaps[1, 0])):
            bound = theory.variance_lower_bound(a_inf, gap, EPS)
            print(f"d={separation} q={q} r_{i + 1}: Var={traj.var[-1, i]:.4f} >= {bound:.4f}")
            assert bound > 0
            assert traj.var[-1, i] >= bound


def test_outside_multiplier_sup_and_decay():
    """Lemma 3 / B.4: with sup_{outside} W_t <= rho < 1, m_{t+1} <= rho m_t."""
    R, traj = two_basin_run(0.5, 3.0, T=40)
    p0 = measures.uniform(R.shape[1])
    p = p0
    for t in range(40):
        rho = theory.outside_multiplier_sup(p, R, 0.5, traj.basins)
        assert traj.m[t + 1] <= rho * traj.m[t] + 1e-15
        p = dynamics.update(p, R, q=0.5)
    inside_only = np.where(traj.basins.any(axis=0), 1.0, 0.0)
    assert theory.outside_multiplier_sup(inside_only / inside_only.sum(), R, 0.5, traj.basins) == -np.inf


def test_basin_reward_means():
    R = np.array([[1.0, 2.0, 3.0, 4.0], [0.0, -1.0, 5.0, 7.0]])
    masks = np.array([[True, True, False, False], [False, False, True, True]])
    p = np.array([0.1, 0.3, 0.4, 0.2])
    mu = theory.basin_reward_means(p, R, masks)
    assert np.allclose(mu, [[(0.1 * 1 + 0.3 * 2) / 0.4, (0.4 * 3 + 0.2 * 4) / 0.6],
                            [(0.0 - 0.3) / 0.4, (0.4 * 5 + 0.2 * 7) / 0.6]])
    with pytest.raises(ValueError, match="basin"):
        theory.basin_reward_means(np.array([0.5, 0.5, 0.0, 0.0]), R, masks)


# --- Theorem 7: the Nash point ------------------------------------------------

def own_basin_utilities(rng, M):
    """u_i(P_j) with each reward strictly preferring its own basin."""
    U = rng.normal(size=(M, M))
    U[np.diag_indices(M)] = U.max(axis=1) + rng.uniform(0.1, 3.0, size=M)
    return U


def test_nash_maximiser_is_q_for_two_rewards():
    rng = np.random.default_rng(3)
    for trial in range(6):
        U = own_basin_utilities(rng, 2)
        for q in (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95):
            alpha = theory.nash_maximiser(q, U)
            assert np.allclose(alpha, [q, 1 - q], rtol=0, atol=1e-6), (trial, q, alpha)
            util = theory.utilitarian_maximiser(q, U)
            assert sorted(util.tolist()) == [0.0, 1.0]
            assert np.abs(util - alpha).max() > 0.04


def test_nash_product_closed_form():
    U = np.array([[3.0, 1.0], [0.5, 2.0]])
    q = 0.3
    for a in (0.1, 0.3, 0.7):
        expected = (a * 2.0) ** q * ((1 - a) * 1.5) ** (1 - q)
        assert theory.nash_product(a, q, U) == pytest.approx(expected)
    assert theory.nash_product(0.0, q, U) == 0.0
    grid = np.linspace(0, 1, 2001)
    values = theory.nash_product(grid, q, U)
    assert grid[np.argmax(values)] == pytest.approx(q, abs=1e-3)


def test_nash_maximiser_is_q_for_three_rewards_with_symmetric_off_basin_utilities():
    """u_i(P_j) = c_i for j != i: gains are alpha_i (u_i(P_i) - c_i), maximised at alpha = q."""
    rng = np.random.default_rng(4)
    for _ in range(4):
        c = rng.normal(size=3)
        U = np.repeat(c[:, None], 3, axis=1)
        U[np.diag_indices(3)] += rng.uniform(0.5, 2.0, size=3)
        q = rng.dirichlet(np.ones(3) * 2)
        alpha = theory.nash_maximiser(q, U)
        assert np.allclose(alpha, q, rtol=0, atol=1e-6), (q, alpha)
        util = theory.utilitarian_maximiser(q, U)
        assert np.count_nonzero(util) == 1 and util.sum() == 1.0


def test_nash_maximiser_finds_a_point_other_than_q():
    """With a disagreement point where the closed form is not q, the solver must still find the
    maximiser (checked against a dense simplex grid), not just return its starting point."""
    U = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.5]])
    q = np.array([0.5, 0.3, 0.2])
    d = np.array([-1.0, 0.0, 0.0])  # gains: 2 a_1 + 1, a_2, 1.5 a_3
    alpha = theory.nash_maximiser(q, U, disagreement=d)
    g = np.linspace(0, 1, 401)
    A1, A2 = np.meshgrid(g, g, indexing="ij")
    keep = A1 + A2 <= 1
    grid = np.column_stack([A1[keep], A2[keep], 1 - A1[keep] - A2[keep]])
    best = grid[np.argmax(theory.nash_product(grid, q, U, disagreement=d))]
    value = theory.nash_product(alpha, q, U, disagreement=d)
    assert value >= theory.nash_product(best, q, U, disagreement=d) - 1e-9
    assert np.abs(alpha - best).max() < 5e-3
    assert np.abs(alpha - q).max() > 0.05
