"""The GMM retraining runner (Appendix C.4, Algorithms 1 and 2)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from plural_utils.profiles import get_profile
from plural_utils.runners.gmm import (
    GMMConfig,
    fit_gmm,
    generator_samples,
    iterate_gmm_curation,
    run_gmm_curation,
    sample_gmm,
    simulate,
)


@pytest.fixture(scope="module")
def smoke():
    return GMMConfig(**get_profile("e1", "smoke"))


@pytest.fixture(scope="module")
def two_component_model():
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.normal(2.0, 0.5, (200, 2)), rng.normal(8.0, 1.0, (200, 2))])
    return fit_gmm(pts, 2, random_state=42)


def test_sklearn_sample_repeats_itself(two_component_model):
    """Why the runner samples on its own: sklearn re-seeds from random_state on every call."""
    a, _ = two_component_model.sample(50)
    b, _ = two_component_model.sample(50)
    np.testing.assert_array_equal(a, b)


def test_sample_gmm_is_fresh_on_every_call(two_component_model):
    rng = np.random.default_rng(1)
    a = sample_gmm(two_component_model, 50, rng)
    b = sample_gmm(two_component_model, 50, rng)
    assert not np.allclose(a, b)


def test_sample_gmm_matches_the_mixture(two_component_model):
    m = two_component_model
    x = sample_gmm(m, 200_000, np.random.default_rng(2))
    mean = m.weights_ @ m.means_
    second = sum(w * (c + np.outer(mu, mu)) for w, mu, c in zip(m.weights_, m.means_, m.covariances_))
    np.testing.assert_allclose(x.mean(axis=0), mean, atol=0.03)
    np.testing.assert_allclose(np.cov(x.T, bias=True), second - np.outer(mean, mean), atol=0.1)


def test_candidates_are_fresh_between_iterations(smoke):
    """Same-model rounds must still see new noise: standardise each round's eval draws by its model."""
    steps = list(iterate_gmm_curation(dataclasses.replace(smoke, T=3), seed=0))
    white = []
    for s in steps:
        chol = np.linalg.cholesky(s.model.covariances_[0])
        white.append(np.linalg.solve(chol, (s.eval_points - s.model.means_[0]).T).T)
    for a, b in zip(white, white[1:]):
        assert not np.allclose(a, b)
    for a, b in zip(steps[1:], steps[2:]):
        assert not np.allclose(a.curated[:10], b.curated[:10])


def test_same_seed_reproduces_the_trajectory_exactly(smoke):
    pd.testing.assert_frame_equal(run_gmm_curation(smoke, 3), run_gmm_curation(smoke, 3))


def test_different_seeds_differ(smoke):
    a, b = run_gmm_curation(smoke, 0), run_gmm_curation(smoke, 1)
    assert not np.allclose(a["Var_r1"], b["Var_r1"])


def test_table_layout(smoke):
    df = run_gmm_curation(smoke, 0)
    assert list(df["t"]) == list(range(smoke.T + 1))
    one = df["t"] < smoke.switch_iter
    assert (df.loc[one, "n_components"] == 1).all() and (df.loc[~one, "n_components"] == 2).all()
    assert df.loc[one, "weight1"].isna().all() and df.loc[~one, "weight1"].notna().all()
    np.testing.assert_allclose(df.loc[~one, "weight1"] + df.loc[~one, "weight2"], 1.0)
    assert np.isnan(df.loc[0, "leakage_r1"])


def test_generator_samples_are_the_evaluated_ones(smoke):
    pts = generator_samples(smoke, 0, [0, smoke.T])
    df = run_gmm_curation(smoke, 0)
    last = pts[pts["t"] == smoke.T][["x1", "x2"]].to_numpy()
    near = np.linalg.norm(last - smoke.mu1, axis=1) <= np.linalg.norm(last - smoke.mu2, axis=1)
    assert near.mean() == df["frac_near_mu1"].iloc[-1]
    assert len(last) == smoke.n_eval


def test_single_reward_collapses_pluralistic_keeps_both_modes(smoke):
    plural = simulate(smoke, progress=False)
    single = simulate(dataclasses.replace(smoke, q=1.0), progress=False)
    end_p = plural[plural["t"] == smoke.T].set_index("seed")
    end_s = single[single["t"] == smoke.T].set_index("seed")
    assert (end_s["Var_r1"] < 1e-2 * end_p["Var_r1"]).all()
    assert (end_s["frac_near_mu1"] > 0.95).all()
    assert end_p["frac_near_mu1"].between(0.2, 0.8).all()
    assert end_s["leakage_r2"].isna().all()


@pytest.mark.parametrize(
    "field, value",
    [("q", 1.5), ("q", -0.1), ("K", 0), ("n_curated", 0), ("tau", 0.0), ("tau", -1.0)],
)
def test_bad_inputs_name_the_parameter(field, value):
    with pytest.raises(ValueError, match=field):
        GMMConfig(**{field: value})


@pytest.mark.parametrize("field,value", [("curation", "best"), ("real_fraction", 1.5), ("real_fraction", -0.1),
                                         ("accumulate", "yes")])
def test_bad_baseline_options_name_the_parameter(field, value):
    with pytest.raises(ValueError, match=field):
        GMMConfig(**{field: value})


def test_all_real_data_keeps_the_initial_model(smoke):
    """real_fraction = 1 retrains on real data only: the model stays the initial fit, whatever q."""
    cfg = dataclasses.replace(smoke, q=1.0, real_fraction=1.0)
    last = next(step for step in iterate_gmm_curation(cfg, 0) if step.t == cfg.T)
    assert np.allclose(last.model.means_.mean(axis=0), cfg.init_mean, atol=0.5)
    assert np.all(last.model.covariances_[:, [0, 1], [0, 1]] > 1.0)


def test_no_curation_has_no_active_reward_and_no_pull_to_mu1(smoke):
    runs = run_gmm_curation(dataclasses.replace(smoke, curation="none"), 1)
    assert runs["leakage_r1"].isna().all()
    curated = run_gmm_curation(dataclasses.replace(smoke, q=1.0), 1)
    assert runs["E_r1"].iloc[-1] < curated["E_r1"].iloc[-1]


def test_accumulation_trains_on_all_data_so_far(smoke):
    """With accumulation the fitted model keeps the real data's spread far longer than without."""
    base = dataclasses.replace(smoke, q=1.0)
    plain = run_gmm_curation(base, 2)
    accumulated = run_gmm_curation(dataclasses.replace(base, accumulate=True), 2)
    assert accumulated["Var_r1"].iloc[-1] > 10 * plain["Var_r1"].iloc[-1]
