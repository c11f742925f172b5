"""Finite pool size ``K``: Best-of-K retraining of a GMM and its exact counterpart (Appendix C.8, Fig. 11).

The paper's finite-K ablation (Appendix C.8) retrains a toy generator for
``T = 20`` rounds; each round draws ``N_pool`` candidates, keeps ``N_keep`` of
them by Best-of-K Bradley–Terry choice *with replacement* (every kept item
wins its own pool of ``K`` candidates drawn i.i.d. from the ``N_pool``), and
refits. It tracks an alignment ``a_t`` (mean reward under ``p_t``) and a
diversity proxy ``m_t`` ("entropy/variance-based"). The paper does not name
the generator; here it is the E1 Gaussian mixture (Appendix C.4) with rewards
``-gamma ||x - mu_i||^2``.

Two routes are provided:

* :func:`run_gmm_finite_k` / :func:`simulate_finite_k` — the sampled loop,
  with a GMM refit every round (finite-sample and EM noise included);
* :func:`exact_finite_k` — the exact law of the same loop on a grid,
  ``p_{t+1} = p_t sum_i q_i H^{K,r_i}_{p_t}`` (Lemma 1 / B.1, eq. 2), which
  isolates the effect of ``K`` from refitting noise.

The sampled loop checkpoints every round when given a folder
(``checkpoint_dir=`` or ``$PLURAL_CHECKPOINT_DIR``) and resumes from it with a
bitwise identical table (:mod:`plural_utils.checkpoint`).
"""

from __future__ import annotations

import math
import os
from typing import Iterable

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..checkpoint import (RoundCheckpoint, generator_state, maybe_simulate_kill,
                          resolve_checkpoint_dir, restore_generator)
from ..curation import curate
from ..dynamics import iterate
from ..metrics import entropy
from ..rewards import quadratic_rewards
from ..validation import check_K, check_nonnegative_int, check_q
from .gmm import fit_gmm, model_state, restore_model, sample_gmm


def gmm_entropy(model, rng: np.random.Generator, n: int = 20_000) -> float:
    """Differential entropy (nats) of a fitted full-covariance GMM.

    One component: the closed form ``0.5 log det(2 pi e Sigma)``. Several:
    the Monte Carlo estimate ``-mean log p(X)`` over ``n`` fresh draws (its
    standard error is ``sd(log p) / sqrt(n)``, ~0.01 nats at ``n = 20,000``).
    """
    if model.n_components == 1:
        cov = model.covariances_[0]
        return float(0.5 * np.linalg.slogdet(2.0 * np.pi * np.e * cov)[1])
    return float(-model.score_samples(sample_gmm(model, n, rng)).mean())


def _alignment_and_spread(R: np.ndarray, q: np.ndarray) -> tuple[float, float]:
    """Alignment = mean of ``E[r_i]`` over the rewards with ``q_i > 0``; spread = mean of their variances."""
    used = q > 0
    return float(R[used].mean(axis=1).mean()), float(R[used].var(axis=1).mean())


def run_gmm_finite_k(K, q, seed: int, T: int = 20, n_pool: int = 50_000, n_keep: int = 2_500,
                     gamma: float = 10.0, mu1=(2.0, 2.0), mu2=(8.0, 8.0), init_mean=(5.0, 5.0),
                     init_var: float = 3.0, n_init: int = 1_000, n_eval: int = 5_000,
                     n_entropy: int = 20_000, switch_iter: int = 0, fit_random_state: int = 42,
                     checkpoint_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """One run of Best-of-K GMM retraining (Appendix C.8 ablation on the C.4 generator).

    Parameters
    ----------
    K : int or math.inf
        Pool size of each Best-of-K draw. ``math.inf`` keeps each item with
        probability proportional to ``e^{r}`` over all ``n_pool`` candidates
        (the tilt of eq. (5) applied to the candidates' empirical law).
    q : float or array_like
        Probability that ``r_1`` is the active reward (``q = 1``: single reward).
    seed : int
        Seeds the initial data, candidates, curation and evaluation draws.
    T, n_pool, n_keep, gamma : the paper's ``T = 20``, ``N_pool = 50,000``,
        ``N_keep = 2,500``, ``gamma = 10`` by default.
    switch_iter : int
        Rounds ``t < switch_iter`` refit one component, later rounds two
        (E1 uses 10; the default 0 refits two components throughout).
    checkpoint_dir : path, optional
        Save the state after every round there (default
        ``$PLURAL_CHECKPOINT_DIR``; neither: no checkpoints); a rerun resumes
        from the last saved round with the same table, bitwise.

    Returns
    -------
    pandas.DataFrame
        One row per round ``t = 0..T``: ``alignment`` (mean of ``E[r_i]``
        over the active rewards, on ``n_eval`` fresh draws of ``G_t``),
        ``variance`` (mean of their variances), ``entropy`` (of the fitted
        GMM, :func:`gmm_entropy`), ``E_r1, E_r2, Var_r1, Var_r2`` and
        ``E_rmax`` (mean of ``max_i r_i``, the reward of the nearer centre).
    """
    K = check_K(K, allow_inf=True)
    qv = check_q(q, 2)
    T = check_nonnegative_int(T, "T")
    centers = np.array([mu1, mu2], dtype=float)
    folder = resolve_checkpoint_dir(checkpoint_dir)
    settings = dict(K=K, q=qv, seed=seed, T=T, n_pool=n_pool, n_keep=n_keep, gamma=gamma, mu1=mu1, mu2=mu2,
                    init_mean=init_mean, init_var=init_var, n_init=n_init, n_eval=n_eval,
                    n_entropy=n_entropy, switch_iter=switch_iter, fit_random_state=fit_random_state)
    checkpoint = None if folder is None else RoundCheckpoint(folder, "finite_k", settings)
    saved = None if checkpoint is None else checkpoint.load()
    if saved is None:
        train_rng, eval_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        init = np.asarray(init_mean) + np.sqrt(init_var) * train_rng.standard_normal((n_init, centers.shape[1]))
        model = fit_gmm(init, 1 if switch_iter > 0 else 2, fit_random_state)
        rows, first = [], 0
    else:
        train_rng, eval_rng = (restore_generator(saved.state[k]) for k in ("train_rng", "eval_rng"))
        model = restore_model(saved.state["model"], saved.arrays)
        rows, first = saved.rows, saved.state["t"] + 1
    for t in range(first, T + 1):
        if t > 0:
            candidates = sample_gmm(model, n_pool, train_rng)
            R = quadratic_rewards(candidates, centers, gamma)
            if math.isinf(K):
                kept = curate(R, n_keep, q=qv, pool="shared", rng=train_rng)
            else:
                kept = curate(R, n_keep, K=K, q=qv, pool="fresh", rng=train_rng)
            model = fit_gmm(candidates[kept.indices], 1 if t < switch_iter else 2, fit_random_state)
        R_eval = quadratic_rewards(sample_gmm(model, n_eval, eval_rng), centers, gamma)
        align, spread = _alignment_and_spread(R_eval, qv)
        rows.append({"t": t, "alignment": align, "variance": spread,
                     "entropy": gmm_entropy(model, eval_rng, n_entropy),
                     "E_r1": R_eval[0].mean(), "E_r2": R_eval[1].mean(),
                     "Var_r1": R_eval[0].var(), "Var_r2": R_eval[1].var(),
                     "E_rmax": R_eval.max(axis=0).mean()})
        if checkpoint is not None:
            meta, arrays = model_state(model)
            checkpoint.save({"t": t, "model": meta, "train_rng": generator_state(train_rng),
                             "eval_rng": generator_state(eval_rng)}, arrays, rows)
            maybe_simulate_kill(t)
    return pd.DataFrame(rows)


def simulate_finite_k(Ks: Iterable, qs: Iterable, seeds: Iterable[int], progress: bool = True,
                      **settings) -> pd.DataFrame:
    """:func:`run_gmm_finite_k` over every ``(q, K, seed)``, stacked with those columns.

    ``K`` is stored as a float (``inf`` for the tilt limit).
    """
    jobs = [(q, K, s) for q in qs for K in Ks for s in seeds]
    frames = []
    for q, K, s in tqdm(jobs, desc="E6 GMM runs", disable=not progress):
        frames.append(run_gmm_finite_k(K, q, s, **settings).assign(q=float(q), K=float(K), seed=s))
    return pd.concat(frames, ignore_index=True)


def exact_finite_k(landscape, Ks: Iterable, q, T: int = 20, eps: float = 0.1) -> pd.DataFrame:
    """Exact finite-K dynamics (Lemma 1) on a grid landscape, one trajectory per ``K``.

    Parameters
    ----------
    landscape : plural_utils.landscapes.Landscape
        A regular grid (the cell area is taken from the spacing of the first
        coordinate); rewards ``(2, n)`` and initial law ``p0``.
    Ks : iterable of int or math.inf
    q : float
        Probability of ``r_1``.

    Returns
    -------
    pandas.DataFrame
        Rows ``(K, t)``: ``alignment`` and ``variance`` as in
        :func:`run_gmm_finite_k` (exact moments under ``p_t``), ``entropy``
        = Shannon entropy of the grid law plus ``log(cell area)`` (the
        differential entropy of the piecewise-constant density), ``E_rmax``
        (exact mean of ``max_i r_i``), ``deficit`` (``-E[r_1]`` when ``q = 1``,
        else ``-E_rmax``: the distance in reward to the nearer centre), and
        the basin masses ``a1, a2`` and outside mass ``m_out`` at ``eps``.
    """
    qv = check_q(q, 2)
    used = qv > 0
    pts = landscape.points
    spacing = np.diff(np.unique(pts[:, 0]))[0]
    log_cell = pts.shape[1] * math.log(spacing)
    frames = []
    for K in Ks:
        traj = iterate(landscape.p0, landscape.rewards, qv, T=T, K=K, eps=eps, store_every=1)
        ent = np.array([entropy(p) for p in traj.history]) + log_cell
        e_rmax = traj.history @ landscape.rewards.max(axis=0)
        deficit = -traj.mean[:, 0] if used.sum() == 1 and used[0] else -e_rmax
        frames.append(pd.DataFrame({
            "K": float(K), "t": np.arange(T + 1),
            "alignment": traj.mean[:, used].mean(axis=1), "variance": traj.var[:, used].mean(axis=1),
            "entropy": ent, "E_rmax": e_rmax, "deficit": deficit, "a1": traj.a[:, 0], "a2": traj.a[:, 1], "m_out": traj.m,
        }))
    return pd.concat(frames, ignore_index=True)


def curve_gaps(runs: pd.DataFrame, metric: str, pairs: Iterable[tuple], by=("q", "seed"),
               reference=math.inf) -> pd.DataFrame:
    """Largest gap between the ``metric`` trajectories of two pool sizes, relative to the reference's span.

    For each group in ``by`` (columns missing from ``runs`` are skipped) and
    each pair ``(K_a, K_b)``: ``max_t |f_{K_a}(t) - f_{K_b}(t)| / (max_t f_ref - min_t f_ref)``,
    ``f_ref`` the trajectory at ``K = reference`` in the same group. This is
    how "the curves nearly coincide" (Appendix C.8) is made a number: 0.05
    means the two curves never differ by more than 5% of the distance the
    metric travels over the run.

    Returns a DataFrame with the ``by`` columns, ``K_a``, ``K_b``, ``metric`` and ``gap``.
    """
    keys = [c for c in by if c in runs.columns]
    rows = []
    for group, frame in (runs.groupby(keys) if keys else [((), runs)]):
        curves = {K: f.sort_values("t")[metric].to_numpy() for K, f in frame.groupby("K")}
        ref = curves[float(reference)]
        span = float(ref.max() - ref.min())
        group = group if isinstance(group, tuple) else (group,)
        for K_a, K_b in pairs:
            gap = float(np.max(np.abs(curves[float(K_a)] - curves[float(K_b)]))) / span
            rows.append({**dict(zip(keys, group)), "K_a": float(K_a), "K_b": float(K_b), "metric": metric, "gap": gap})
    return pd.DataFrame(rows)
