"""Metrics of Appendix C.3 / C.7: reward moments, the leakage proxy, basin labels, entropies."""

import numpy as np
import pytest

from plural_utils import metrics


def test_reward_moments_match_weighted_sums_and_stay_exact_when_variance_vanishes():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(9))
    R = rng.normal(size=(2, 9)) * 5
    mean, var = metrics.reward_moments(p, R)
    assert np.allclose(mean, (R * p).sum(axis=1))
    assert np.allclose(var, (p * (R - mean[:, None]) ** 2).sum(axis=1))
    # A collapsed law: variance 0 exactly, even with a large mean (centred, no cancellation).
    p1 = np.zeros(9)
    p1[3] = 1.0
    _, var1 = metrics.reward_moments(p1, R + 1e8)
    assert np.all(var1 == 0.0)


def test_leakage_rate_is_the_share_of_draws_landing_in_another_basin():
    active = np.array([0, 0, 0, 0, 1, 1])
    basin = np.array([0, 1, 0, 1, 1, 1])
    assert np.allclose(metrics.leakage_rate(active, basin, M=3)[:2], [0.5, 0.0])
    assert np.isnan(metrics.leakage_rate(active, basin, M=3)[2])
    with pytest.raises(ValueError, match="same shape"):
        metrics.leakage_rate(active, basin[:-1], M=2)


def test_nearest_center_labels_points_and_checks_dimensions():
    centers = np.array([[2.0, 2.0], [8.0, 8.0]])
    pts = np.array([[1.0, 1.0], [7.0, 9.0], [5.0, 5.0]])
    assert metrics.nearest_center(pts, centers).tolist() == [0, 1, 0]  # a tie goes to the first
    with pytest.raises(ValueError, match="dimension"):
        metrics.nearest_center(pts, centers[:, :1])


def test_entropies():
    assert metrics.entropy([0.5, 0.5], base=2) == pytest.approx(1.0)
    assert metrics.entropy([1.0, 0.0]) == 0.0
    assert metrics.label_entropy(["a", "b", "c", "d"], base=2) == pytest.approx(2.0)
    assert metrics.label_entropy([3, 3, 3]) == 0.0
    with pytest.raises(ValueError, match="non-negative"):
        metrics.entropy([0.5, -0.5])
