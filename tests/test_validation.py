"""Bad input fails early with a ValueError whose message starts with the parameter's name."""

import math

import numpy as np
import pytest

from plural_utils import curation, dynamics, theory

R2 = np.array([[0.0, -1.0, -2.0, -3.0], [-3.0, -2.0, -1.0, 0.0]])
P4 = np.full(4, 0.25)


def named(parameter: str) -> str:
    """Regex for a message that names ``parameter`` first (as validation.py writes them)."""
    return rf"^{parameter}\b"


@pytest.mark.parametrize("q", [1.5, -0.2, [1.2, -0.2], [-0.1, 1.1], [0.5, float("nan")]])
def test_q_outside_unit_interval(q):
    with pytest.raises(ValueError, match=named("q")):
        curation.curate(R2, 10, q=q, rng=0)
    with pytest.raises(ValueError, match=named("q")):
        dynamics.update(P4, R2, q=q)


@pytest.mark.parametrize("q", [[0.5, 0.6], [0.2, 0.2]])
def test_q_not_summing_to_one(q):
    with pytest.raises(ValueError, match=named("q")):
        curation.curate(R2, 10, q=q, rng=0)
    with pytest.raises(ValueError, match=named("q")):
        dynamics.iterate(P4, R2, q=q, T=1)


@pytest.mark.parametrize("q", [[1.0], [0.2, 0.3, 0.5], [[0.5, 0.5]]])
def test_q_of_wrong_length(q):
    with pytest.raises(ValueError, match=named("q")):
        curation.curate(R2, 10, q=q, rng=0)
    with pytest.raises(ValueError, match=named("q")):
        dynamics.curation_multiplier(P4, R2, q=q)


def test_scalar_q_needs_two_rewards():
    R3 = np.vstack([R2, R2[:1]])
    with pytest.raises(ValueError, match=named("q")):
        curation.curate(R3, 10, q=0.3, rng=0)


@pytest.mark.parametrize("K", [0, -3, 1.5, float("nan"), "4"])
def test_bad_K(K):
    with pytest.raises(ValueError, match=named("K")):
        curation.curate(R2, 10, K=K, pool="fresh", rng=0)
    with pytest.raises(ValueError, match=named("K")):
        dynamics.bt_weight(P4, R2[0], K)
    with pytest.raises(ValueError, match=named("K")):
        dynamics.update(P4, R2, K=K)


def test_K_inf_only_where_allowed():
    with pytest.raises(ValueError, match=named("K")):
        dynamics.bt_weight(P4, R2[0], math.inf)
    with pytest.raises(ValueError, match=named("K")):
        curation.curate(R2, 10, K=math.inf, pool="fresh", rng=0)
    assert np.allclose(dynamics.update(P4, R2, K=math.inf).sum(), 1.0)


@pytest.mark.parametrize("tau", [0.0, -1.0, float("nan"), float("inf"), "warm"])
def test_bad_tau(tau):
    with pytest.raises(ValueError, match=named("tau")):
        curation.bt_probabilities(R2, tau=tau)
    with pytest.raises(ValueError, match=named("tau")):
        curation.curate(R2, 10, tau=tau, rng=0)
    with pytest.raises(ValueError, match=named("tau")):
        curation.curate_reference(R2, 10, tau=tau, rng=0)
    with pytest.raises(ValueError, match=named("tau")):
        dynamics.bt_weight(P4, R2[0], 3, tau=tau)
    with pytest.raises(ValueError, match=named("tau")):
        dynamics.update(P4, R2, tau=tau)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_plus_inf_rewards(bad):
    R = R2.copy()
    R[1, 2] = bad
    with pytest.raises(ValueError, match=named("rewards")):
        curation.bt_probabilities(R)
    with pytest.raises(ValueError, match=named("rewards")):
        curation.curate(R, 10, rng=0)
    with pytest.raises(ValueError, match=named("rewards")):
        curation.curate_reference(R, 10, rng=0)
    with pytest.raises(ValueError, match=named("rewards")):
        dynamics.update(P4, R)
    with pytest.raises(ValueError, match=named("reward")):
        dynamics.bt_weight(P4, R[1], 2)
    with pytest.raises(ValueError, match=named("rewards")):
        theory.basins(R, 0.1)


def test_reward_that_is_all_minus_inf():
    R = R2.copy()
    R[0] = -np.inf
    with pytest.raises(ValueError, match=named("rewards")):
        curation.curate(R, 10, rng=0)
    with pytest.raises(ValueError, match=named("rewards")):
        dynamics.update(P4, R)


@pytest.mark.parametrize("rewards", [np.zeros((2, 2, 4)), np.float64(1.0), np.zeros((0, 4)), np.zeros((2, 0))])
def test_rewards_of_wrong_ndim_or_empty(rewards):
    with pytest.raises(ValueError, match=named("rewards")):
        curation.curate(rewards, 10, rng=0)
    with pytest.raises(ValueError, match=named("rewards")):
        dynamics.update(P4, rewards)


def test_bt_weight_needs_one_reward():
    with pytest.raises(ValueError, match=named("reward")):
        dynamics.bt_weight(P4, R2, 2)
    with pytest.raises(ValueError, match=named("reward")):
        dynamics.tilt_weight(P4, R2)


@pytest.mark.parametrize("p", [np.full(3, 1 / 3), np.full(5, 0.2), np.array([0.5, 0.6, -0.1, 0.0]),
                               np.array([0.3, 0.3, 0.3, 0.3]), np.array([0.5, 0.5, np.nan, 0.0]),
                               np.full((2, 2), 0.25)])
def test_bad_p(p):
    with pytest.raises(ValueError, match=named("p")):
        dynamics.update(p, R2)
    with pytest.raises(ValueError, match=named("p")):
        dynamics.bt_weight(p, R2[0], 2)
    with pytest.raises(ValueError, match=named("p")):
        dynamics.tilt_weight(p, R2[0])
    with pytest.raises(ValueError, match=named("p0")):
        dynamics.iterate(p, R2, T=1)


def test_bad_candidate_weights():
    with pytest.raises(ValueError, match=named("candidate_weights")):
        curation.curate(R2, 10, K=2, pool="fresh", candidate_weights=[0.5, 0.5], rng=0)
    with pytest.raises(ValueError, match=named("candidate_weights")):
        curation.curate(R2, 10, K=2, pool="fresh", candidate_weights=[0.5, 0.5, 0.5, -0.5], rng=0)


def test_candidate_weights_with_shared_pool():
    with pytest.raises(ValueError, match=named("candidate_weights")):
        curation.curate(R2, 10, K=2, pool="shared", candidate_weights=P4, rng=0)


@pytest.mark.parametrize("pool", ["Shared", "private", None, ""])
def test_unknown_pool(pool):
    with pytest.raises(ValueError, match=named("pool")):
        curation.curate(R2, 10, pool=pool, rng=0)


@pytest.mark.parametrize("pool", ["shared", "fresh"])
@pytest.mark.parametrize("method", ["exactly", "gumbel", None])
def test_unknown_method(pool, method):
    with pytest.raises(ValueError, match=named("method")):
        curation.curate(R2, 10, K=2, pool=pool, method=method, rng=0)


def test_K_larger_than_N_with_shared_pool():
    with pytest.raises(ValueError, match=named("K")):
        curation.curate(R2, 10, K=5, pool="shared", rng=0)
    assert curation.curate(R2, 10, K=5, pool="fresh", rng=0).indices.shape == (10,)


@pytest.mark.parametrize("n", [-1, 2.5, True])
def test_bad_n(n):
    with pytest.raises(ValueError, match=named("n")):
        curation.curate(R2, n, rng=0)


def test_bad_rng():
    with pytest.raises(ValueError, match=named("rng")):
        curation.curate(R2, 10, rng="seed")


def test_bad_T_and_eps_in_iterate():
    with pytest.raises(ValueError, match=named("T")):
        dynamics.iterate(P4, R2, T=-1)
    with pytest.raises(ValueError, match=named("eps")):
        dynamics.iterate(P4, R2, T=1, eps=0.0)
