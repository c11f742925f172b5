"""Retraining a Gaussian mixture on curated samples of itself (Appendix C.4).

Algorithm 1 (pluralistic curation) and Algorithm 2 (its single-reward
baseline, ``q = 1``) of the paper: at each round the current generator
``G_{t-1}`` proposes ``K`` candidates, ``n_curated`` of them are picked by the
Bradley–Terry rule (C.1) under a reward drawn with probabilities ``(q, 1-q)``,
and a GMM with 1 component (``t < switch_iter``) or 2 components (after) is
refit to them by EM. Each round logs the statistics of Appendix C.3/C.4 and
the leakage proxy of Appendix C.7.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from tqdm import tqdm

from ..curation import curate
from ..metrics import leakage_rate, nearest_center, sample_reward_moments
from ..rewards import quadratic_rewards
from ..validation import check_choice, check_K, check_nonnegative_int, check_positive, check_q

CURATION_MODES = ("bt", "none")


@dataclass(frozen=True)
class GMMConfig:
    """Settings of the synthetic GMM experiment (Appendix C.4); defaults are the paper's.

    Attributes
    ----------
    T : int
        Retraining rounds.
    K : int
        Candidates drawn from the generator per round (the Bradley–Terry pool).
    n_curated : int
        Curated draws per round, with replacement (Algorithm 1, lines 6-12).
    n_eval : int
        Fresh generator samples used to evaluate each round.
    n_init : int
        Points from ``N(init_mean, init_var I)`` the initial 1-component GMM is fit to.
    init_mean, init_var : tuple of float, float
        Mean and isotropic variance of the initial data.
    mu1, mu2 : tuple of float
        Centres of the quadratic rewards ``r_i(x) = -||x - mu_i||^2`` of (C.2).
    q : float
        Probability that ``r_1`` is the active reward of a draw; ``q = 1`` is Algorithm 2.
    tau : float
        Bradley–Terry temperature of (C.1).
    switch_iter : int
        First round whose refit has two components.
    fit_random_state : int
        ``random_state`` of every EM fit (the paper uses 42).
    n_seeds : int
        Default number of seeds for :func:`simulate`.
    curation : {"bt", "none"}
        ``"bt"``: Bradley–Terry curation (Algorithm 1). ``"none"``: the
        ``n_curated`` training points are drawn uniformly (with replacement)
        from the ``K`` candidates, pure self-consumption (the E9 baseline).
    real_fraction : float
        Share ``lambda`` of each round's training set replaced by real data,
        drawn without replacement from the ``n_init`` initial points (the
        fixed real data set of Bertrand et al. 2024 and Ferbach et al. 2024).
    accumulate : bool
        Train on every round's data accumulated since the start, real data
        included (Gerstgrasser et al. 2024), instead of on the latest round.
    """

    T: int = 50
    K: int = 100
    n_curated: int = 500
    n_eval: int = 1000
    n_init: int = 1000
    init_mean: tuple = (5.0, 5.0)
    init_var: float = 3.0
    mu1: tuple = (2.0, 2.0)
    mu2: tuple = (8.0, 8.0)
    q: float = 0.5
    tau: float = 1.0
    switch_iter: int = 10
    fit_random_state: int = 42
    n_seeds: int = 5
    curation: str = "bt"
    real_fraction: float = 0.0
    accumulate: bool = False

    def __post_init__(self) -> None:
        check_choice(self.curation, "curation", CURATION_MODES)
        if not 0.0 <= float(self.real_fraction) <= 1.0:
            raise ValueError(f"real_fraction must lie in [0, 1]; got {self.real_fraction!r}")
        if not isinstance(self.accumulate, (bool, np.bool_)):
            raise ValueError(f"accumulate must be True or False; got {self.accumulate!r}")
        check_nonnegative_int(self.T, "T")
        check_K(self.K, "K")
        for name in ("n_curated", "n_eval", "n_init"):
            check_K(getattr(self, name), name)
        check_nonnegative_int(self.switch_iter, "switch_iter")
        check_nonnegative_int(self.fit_random_state, "fit_random_state")
        check_nonnegative_int(self.n_seeds, "n_seeds")
        check_positive(self.init_var, "init_var")
        check_positive(self.tau, "tau")
        check_q(self.q, 2, "q")
        dims = {len(np.atleast_1d(v)) for v in (self.init_mean, self.mu1, self.mu2)}
        if len(dims) != 1:
            raise ValueError("init_mean, mu1 and mu2 must have the same dimension")
        for name in ("init_mean", "mu1", "mu2"):
            object.__setattr__(self, name, tuple(float(v) for v in np.atleast_1d(getattr(self, name))))

    @property
    def centers(self) -> np.ndarray:
        """Reward centres stacked as shape ``(2, d)``."""
        return np.array([self.mu1, self.mu2])

    def n_components(self, t: int) -> int:
        """Components of the GMM refit at round ``t`` (Algorithm 1, line 13)."""
        return 1 if t < self.switch_iter else 2


@dataclass(frozen=True)
class GMMRound:
    """State after round ``t`` of :func:`iterate_gmm_curation`.

    ``curated`` and ``active`` are ``None`` at ``t = 0`` (the initial generator).
    """

    t: int
    model: GaussianMixture
    eval_points: np.ndarray
    curated: np.ndarray | None
    active: np.ndarray | None


def sample_gmm(model: GaussianMixture, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` points from a fitted full-covariance GMM with ``rng``.

    ``GaussianMixture.sample`` re-seeds from the model's integer
    ``random_state`` on every call, so with a fixed ``random_state`` every
    round would reuse the same noise; this draws from ``weights_``,
    ``means_`` and ``covariances_`` with the caller's generator instead.
    """
    labels = rng.choice(model.weights_.shape[0], size=n, p=model.weights_ / model.weights_.sum())
    chol = np.linalg.cholesky(model.covariances_)
    z = rng.standard_normal((n, model.means_.shape[1]))
    return model.means_[labels] + np.einsum("nij,nj->ni", chol[labels], z)


def fit_gmm(points: np.ndarray, n_components: int, random_state: int) -> GaussianMixture:
    """EM fit with scikit-learn defaults and a fixed ``random_state`` (Appendix C.4)."""
    model = GaussianMixture(n_components=n_components, random_state=random_state)
    with warnings.catch_warnings():
        # A collapsed curated set has few distinct points; EM still returns a
        # (regularised) fit, which is the behaviour the experiment studies.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(points)


def iterate_gmm_curation(config: GMMConfig, seed: int) -> Iterator[GMMRound]:
    """Yield the generator after each round ``t = 0..T`` of Algorithm 1.

    Round ``t >= 1`` samples ``K`` candidates from ``G_{t-1}``, curates
    ``n_curated`` with :func:`~plural_utils.curation.curate` (the ``K``
    candidates are the shared pool), and refits ``G_t``. Two independent
    streams are spawned from ``seed``: one drives the training loop, the other
    the evaluation samples, so ``n_eval`` does not change the trajectory.
    """
    train_rng, eval_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    centers = config.centers
    d = centers.shape[1]
    noise = train_rng.standard_normal((config.n_init, d))
    real = np.asarray(config.init_mean) + np.sqrt(config.init_var) * noise
    model = fit_gmm(real, 1, config.fit_random_state)
    n_real = int(round(config.real_fraction * config.n_curated))
    seen = real
    yield GMMRound(0, model, sample_gmm(model, config.n_eval, eval_rng), None, None)
    for t in range(1, config.T + 1):
        candidates = sample_gmm(model, config.K, train_rng)
        n_synth = config.n_curated - n_real
        if config.curation == "bt":
            result = curate(quadratic_rewards(candidates, centers), n_synth,
                            q=config.q, tau=config.tau, pool="shared", rng=train_rng)
            curated, active = candidates[result.indices], result.active
        else:
            curated, active = candidates[train_rng.integers(0, config.K, size=n_synth)], None
        data = curated
        if n_real:
            data = np.concatenate([curated, real[train_rng.choice(config.n_init, size=n_real, replace=False)]])
        if config.accumulate:
            seen = np.concatenate([seen, data])
            data = seen
        model = fit_gmm(data, config.n_components(t), config.fit_random_state)
        yield GMMRound(t, model, sample_gmm(model, config.n_eval, eval_rng), curated, active)


def _mixture_columns(model: GaussianMixture, centers: np.ndarray) -> dict:
    """Weights and means of a 2-component fit, component 1 the one nearer ``mu_1``; NaN otherwise."""
    d = centers.shape[1]
    cols = {f"weight{k}": np.nan for k in (1, 2)}
    cols.update({f"mean{k}_x{j + 1}": np.nan for k in (1, 2) for j in range(d)})
    if model.n_components != 2:
        return cols
    order = np.argsort(np.linalg.norm(model.means_ - centers[0], axis=1))
    for k, c in enumerate(order, start=1):
        cols[f"weight{k}"] = model.weights_[c]
        for j in range(d):
            cols[f"mean{k}_x{j + 1}"] = model.means_[c, j]
    return cols


def _round_row(step: GMMRound, centers: np.ndarray) -> dict:
    mean, var = sample_reward_moments(quadratic_rewards(step.eval_points, centers))
    if step.curated is None or step.active is None:
        leak = (np.nan, np.nan)
    else:
        leak = leakage_rate(step.active, nearest_center(step.curated, centers), M=2)
    return {
        "t": step.t,
        "n_components": step.model.n_components,
        "E_r1": mean[0],
        "E_r2": mean[1],
        "Var_r1": var[0],
        "Var_r2": var[1],
        **_mixture_columns(step.model, centers),
        "frac_near_mu1": np.mean(nearest_center(step.eval_points, centers) == 0),
        "leakage_r1": leak[0],
        "leakage_r2": leak[1],
    }


def run_gmm_curation(config: GMMConfig, seed: int, progress: bool = False) -> pd.DataFrame:
    """Run Algorithm 1 (Algorithm 2 when ``config.q == 1``) for one seed.

    Parameters
    ----------
    config : GMMConfig
    seed : int
        Seeds the initial data, candidates, curation and evaluation samples.
    progress : bool
        Show a tqdm bar over rounds.

    Returns
    -------
    pandas.DataFrame
        One row per round ``t = 0..T`` (``t = 0`` is the initial generator):
        ``E_r1, E_r2, Var_r1, Var_r2`` over ``n_eval`` fresh samples of
        ``G_t`` (Appendix C.4); ``weight1, weight2`` and ``mean{k}_x{j}``
        of a 2-component fit, component 1 being the one nearer ``mu_1``
        (NaN with one component); ``frac_near_mu1``, the share of the eval
        samples in basin 1; ``leakage_r1`` (``leakage_r2``), the share of
        curated draws under ``r_1`` (``r_2``) that landed in the other basin
        (Appendix C.7; NaN at ``t = 0`` or when that reward was never active).
    """
    seed = check_nonnegative_int(seed, "seed")
    centers = config.centers
    steps = iterate_gmm_curation(config, seed)
    if progress:
        steps = tqdm(steps, total=config.T + 1, desc=f"seed {seed}", leave=False)
    return pd.DataFrame([_round_row(step, centers) for step in steps])


def generator_samples(config: GMMConfig, seed: int, iterations: Iterable[int]) -> pd.DataFrame:
    """The evaluation samples of ``G_t`` at the chosen rounds, long format.

    The same draws that :func:`run_gmm_curation` evaluates with the same
    ``seed``; columns ``t, x1, x2, ...`` (for scatter plots of the generator).
    """
    wanted = {check_nonnegative_int(t, "iterations") for t in iterations}
    frames = []
    for step in iterate_gmm_curation(config, check_nonnegative_int(seed, "seed")):
        if step.t in wanted:
            cols = {f"x{j + 1}": step.eval_points[:, j] for j in range(step.eval_points.shape[1])}
            frames.append(pd.DataFrame({"t": step.t, **cols}))
        if step.t >= max(wanted, default=-1):
            break
    return pd.concat(frames, ignore_index=True)


def simulate(config: GMMConfig, seeds: Iterable[int] | None = None, progress: bool = True) -> pd.DataFrame:
    """:func:`run_gmm_curation` over ``seeds`` (default ``range(config.n_seeds)``), stacked.

    Returns the per-round table with a ``seed`` column and the run's ``q``.
    """
    seeds = list(range(config.n_seeds) if seeds is None else seeds)
    frames = []
    for seed in tqdm(seeds, desc=f"E1 q={config.q}", disable=not progress):
        frames.append(run_gmm_curation(config, seed).assign(seed=seed, q=config.q))
    return pd.concat(frames, ignore_index=True)

