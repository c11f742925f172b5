"""Retraining a Gaussian mixture on curated samples of itself (Appendix C.4).

Algorithm 1 (pluralistic curation) and Algorithm 2 (its single-reward
baseline, ``q = 1``) of the paper: at each round the current generator
``G_{t-1}`` proposes ``K`` candidates, ``n_curated`` of them are picked by the
Bradley–Terry rule (C.1) under a reward drawn with probabilities ``(q, 1-q)``,
and a GMM with 1 component (``t < switch_iter``) or 2 components (after) is
refit to them by EM. Each round logs the statistics of Appendix C.3/C.4 and
the leakage proxy of Appendix C.7.

With a checkpoint folder (``checkpoint_dir=`` or ``$PLURAL_CHECKPOINT_DIR``)
:func:`run_gmm_curation` saves its state after every round and a rerun
resumes from the last finished one with a bitwise identical table (see
:mod:`plural_utils.checkpoint`).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from tqdm import tqdm

from ..checkpoint import (RoundCheckpoint, generator_state, maybe_simulate_kill,
                          resolve_checkpoint_dir, restore_generator)
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
class GMMState:
    """Everything round ``t + 1`` of :func:`iterate_gmm_curation` needs from round ``t``.

    ``model`` is ``G_t``; ``real`` the initial (real) data set; ``seen`` the
    training data accumulated so far (used when ``accumulate=True``);
    ``train_rng`` and ``eval_rng`` the exact ``bit_generator.state`` of the
    two streams after round ``t``'s evaluation draws.
    """

    t: int
    model: GaussianMixture
    real: np.ndarray
    seen: np.ndarray
    train_rng: dict
    eval_rng: dict


@dataclass(frozen=True)
class GMMRound:
    """State after round ``t`` of :func:`iterate_gmm_curation`.

    ``curated`` and ``active`` are ``None`` at ``t = 0`` (the initial generator).
    ``state`` is what a resumed run starts from (see :class:`GMMState`).
    """

    t: int
    model: GaussianMixture
    eval_points: np.ndarray
    curated: np.ndarray | None
    active: np.ndarray | None
    state: GMMState | None = None


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


def iterate_gmm_curation(config: GMMConfig, seed: int, start: GMMState | None = None) -> Iterator[GMMRound]:
    """Yield the generator after each round ``t = 0..T`` of Algorithm 1.

    Round ``t >= 1`` samples ``K`` candidates from ``G_{t-1}``, curates
    ``n_curated`` with :func:`~plural_utils.curation.curate` (the ``K``
    candidates are the shared pool), and refits ``G_t``. Two independent
    streams are spawned from ``seed``: one drives the training loop, the other
    the evaluation samples, so ``n_eval`` does not change the trajectory.
    Given ``start`` (the ``state`` of an earlier run's round ``t``), it yields
    rounds ``t + 1..T`` exactly as that run would have.
    """
    centers = config.centers
    n_real = int(round(config.real_fraction * config.n_curated))

    def state(t: int) -> GMMState:
        return GMMState(t, model, real, seen, generator_state(train_rng), generator_state(eval_rng))

    if start is None:
        train_rng, eval_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        noise = train_rng.standard_normal((config.n_init, centers.shape[1]))
        real = np.asarray(config.init_mean) + np.sqrt(config.init_var) * noise
        model = fit_gmm(real, 1, config.fit_random_state)
        seen = real
        eval_points = sample_gmm(model, config.n_eval, eval_rng)
        yield GMMRound(0, model, eval_points, None, None, state(0))
    else:
        train_rng, eval_rng = restore_generator(start.train_rng), restore_generator(start.eval_rng)
        model, real, seen = start.model, start.real, start.seen
    for t in range(1 if start is None else start.t + 1, config.T + 1):
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
        eval_points = sample_gmm(model, config.n_eval, eval_rng)
        yield GMMRound(t, model, eval_points, curated, active, state(t))


def model_state(model: GaussianMixture) -> tuple[dict, dict[str, np.ndarray]]:
    """A fitted GMM as JSON (constructor parameters, scalar fitted attributes) and arrays.

    The arrays are the fitted ``weights_``, ``means_``, ``covariances_``,
    ``precisions_cholesky_``, ``precisions_`` (and ``lower_bounds_``): all that
    sampling and scoring read. :func:`restore_model` inverts it exactly.
    """
    fitted = {k: v for k, v in vars(model).items() if k.endswith("_") and not k.startswith("_")}
    arrays = {k: np.asarray(v) for k, v in fitted.items() if isinstance(v, (np.ndarray, list))}
    scalars = {k: v.item() if isinstance(v, np.generic) else v for k, v in fitted.items() if k not in arrays}
    return {"params": model.get_params(), "fitted": scalars}, arrays


def restore_model(meta: dict, arrays: dict[str, np.ndarray]) -> GaussianMixture:
    """The GMM :func:`model_state` described, ready to sample and score."""
    model = GaussianMixture(**meta["params"])
    for name, value in {**meta["fitted"], **arrays}.items():
        setattr(model, name, list(value) if name == "lower_bounds_" else value)
    return model


def _gmm_checkpoint(config: GMMConfig, seed: int, directory) -> RoundCheckpoint | None:
    folder = resolve_checkpoint_dir(directory)
    if folder is None:
        return None
    return RoundCheckpoint(folder, "gmm", {"config": dataclasses.asdict(config), "seed": seed})


def _save_state(checkpoint: RoundCheckpoint, state: GMMState, rows: list[dict]) -> None:
    model_meta, model_arrays = model_state(state.model)
    arrays = {f"model__{k}": v for k, v in model_arrays.items()}
    arrays.update(real=state.real, seen=state.seen)
    checkpoint.save({"t": state.t, "model": model_meta, "train_rng": state.train_rng,
                     "eval_rng": state.eval_rng}, arrays, rows)


def _load_state(checkpoint: RoundCheckpoint) -> tuple[GMMState | None, list[dict]]:
    saved = checkpoint.load()
    if saved is None:
        return None, []
    model_arrays = {k.removeprefix("model__"): v for k, v in saved.arrays.items() if k.startswith("model__")}
    s = saved.state
    model = restore_model(s["model"], model_arrays)
    return GMMState(s["t"], model, saved.arrays["real"], saved.arrays["seen"],
                    s["train_rng"], s["eval_rng"]), saved.rows


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


def run_gmm_curation(config: GMMConfig, seed: int, progress: bool = False,
                     checkpoint_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Run Algorithm 1 (Algorithm 2 when ``config.q == 1``) for one seed.

    Parameters
    ----------
    config : GMMConfig
    seed : int
        Seeds the initial data, candidates, curation and evaluation samples.
    progress : bool
        Show a tqdm bar over rounds.
    checkpoint_dir : path, optional
        Save the run's state after every round to a file in this folder
        (default ``$PLURAL_CHECKPOINT_DIR``; neither: no checkpoints). A rerun
        with the same config and seed continues from the last saved round and
        returns the same table, bitwise, as an uninterrupted run; a finished
        run's table is read back without recomputing.

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
    checkpoint = _gmm_checkpoint(config, seed, checkpoint_dir)
    start, rows = _load_state(checkpoint) if checkpoint is not None else (None, [])
    if start is not None and start.t >= config.T:
        return pd.DataFrame(rows)
    steps = iterate_gmm_curation(config, seed, start)
    if progress:
        steps = tqdm(steps, total=config.T + 1, initial=len(rows), desc=f"seed {seed}", leave=False)
    for step in steps:
        rows.append(_round_row(step, centers))
        if checkpoint is not None:
            _save_state(checkpoint, step.state, rows)
            maybe_simulate_kill(step.t)
    return pd.DataFrame(rows)


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


def simulate(config: GMMConfig, seeds: Iterable[int] | None = None, progress: bool = True,
             checkpoint_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """:func:`run_gmm_curation` over ``seeds`` (default ``range(config.n_seeds)``), stacked.

    Returns the per-round table with a ``seed`` column and the run's ``q``.
    ``checkpoint_dir`` is passed on (one checkpoint file per seed).
    """
    seeds = list(range(config.n_seeds) if seeds is None else seeds)
    frames = []
    for seed in tqdm(seeds, desc=f"E1 q={config.q}", disable=not progress):
        run = run_gmm_curation(config, seed, checkpoint_dir=checkpoint_dir)
        frames.append(run.assign(seed=seed, q=config.q))
    return pd.concat(frames, ignore_index=True)

