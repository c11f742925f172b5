"""Sweeps of the synthetic GMM experiment over separation, reward scale and ``q`` (Appendix C.4).

The runner :mod:`plural_utils.runners.gmm` runs Algorithm 1 for one
:class:`~plural_utils.runners.gmm.GMMConfig`; this module builds the configs
of a grid (separation ``d = ||mu_1 - mu_2||`` at a fixed midpoint, reward scale
``gamma``, polarization ``q``), runs them over seeds into one table, and holds
the small analytic pieces the sweeps are compared with.

Reward scale. Fig. 3 and Fig. 15 of the paper use ``r_i(x) = -||x - mu_i||^2``;
to study ``r_i(x) = -gamma ||x - mu_i||^2`` we use that the Bradley–Terry rule
(C.1) sees rewards only through ``r / tau``: scaling the reward by ``gamma`` is
the same curation as keeping ``gamma = 1`` and setting ``tau -> tau / gamma``.
The runner's logged ``E_r`` and ``Var_r`` stay those of the unit-scale reward;
the ``gamma``-scaled reward has mean ``gamma E_r`` and variance ``gamma^2 Var_r``.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..rewards import centers_at_distance
from .gmm import GMMConfig, run_gmm_curation


def config_at(base: GMMConfig, distance: float | None = None, gamma: float = 1.0,
              midpoint=(5.0, 5.0), **changes) -> GMMConfig:
    """``base`` with centres ``distance`` apart around ``midpoint`` and reward scale ``gamma``.

    Parameters
    ----------
    base : GMMConfig
    distance : float, optional
        ``d = ||mu_1 - mu_2||``; the centres lie on the diagonal through
        ``midpoint`` (:func:`~plural_utils.rewards.centers_at_distance`, as in
        Appendix C.4). ``None`` keeps ``base``'s centres.
    gamma : float
        Reward scale: the curation of ``r_i = -gamma ||x - mu_i||^2``, realised
        as temperature ``base.tau / gamma`` (see the module docstring).
    midpoint : tuple of float
    **changes
        Other :class:`GMMConfig` fields to replace (e.g. ``q``).
    """
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0; got {gamma}")
    if distance is not None:
        mu1, mu2 = centers_at_distance(distance, midpoint)
        changes.update(mu1=tuple(mu1), mu2=tuple(mu2))
    return dataclasses.replace(base, tau=base.tau / gamma, **changes)


def run_grid(configs: Mapping[tuple, GMMConfig], seeds: Iterable[int], keys: tuple[str, ...],
             progress: bool = True, desc: str = "grid") -> pd.DataFrame:
    """Run :func:`~plural_utils.runners.gmm.run_gmm_curation` for every config and seed.

    Parameters
    ----------
    configs : mapping
        Grid point (a tuple of values, one per name in ``keys``) -> config.
    seeds : iterable of int
        The same seeds for every grid point (so grid points share initial data).
    keys : tuple of str
        Column names of the grid-point values in the returned table.

    Returns
    -------
    pandas.DataFrame
        The per-round tables stacked, with the ``keys`` columns and ``seed``.
    """
    seeds = list(seeds)
    jobs = [(point, cfg, s) for point, cfg in configs.items() for s in seeds]
    frames = []
    for point, cfg, s in tqdm(jobs, desc=desc, disable=not progress):
        frame = run_gmm_curation(cfg, s)
        frames.append(frame.assign(seed=s, **dict(zip(keys, point))))
    return pd.concat(frames, ignore_index=True)


def distance_sweep(base: GMMConfig, distances: Iterable[float], seeds: Iterable[int],
                   gammas: Iterable[float] = (1.0,), progress: bool = True) -> pd.DataFrame:
    """Algorithm 1 over a grid of separations ``d`` and reward scales ``gamma`` (Fig. 3).

    Returns :func:`run_grid`'s table with columns ``distance`` and ``gamma``.
    """
    configs = {(float(g), float(d)): config_at(base, d, g) for g in gammas for d in distances}
    return run_grid(configs, seeds, ("gamma", "distance"), progress, desc="separation sweep")


def critical_distance(gamma: float = 1.0, tau: float = 1.0) -> float:
    """Separation below which the midpoint compromise is stable, ``d_c = sqrt(2 tau / gamma)``.

    For the ``K -> infinity`` curation (the tilt ``p e^{r/tau}``, eq. (5) with
    ``H^inf``) of a Gaussian by the equal mixture of ``r_i = -gamma ||x -
    mu_i||^2`` with ``mu_{1,2} = m -/+ (d/2) e``, both refits of Algorithm 1
    share one threshold. One component: the variance ``s^2`` along ``e`` maps
    to ``v + (2 gamma v d / (2 tau))^2`` with ``v = s^2 / (1 + 2 gamma s^2 / tau)``,
    whose only positive fixed point ``s^2 = d^2/4 - tau/(2 gamma)`` exists iff
    ``d > d_c``. Two components at ``m -/+ delta e``: to first order in
    ``delta`` the curated mass of each component is pulled outwards iff
    ``2 gamma (d/2)^2 / tau > 1``, i.e. the same ``d > d_c``. Below ``d_c`` the
    dynamics contract onto the compromise point ``m`` (the soft collapse of
    Fig. 15); above it the two components separate towards ``mu_1`` and ``mu_2``.
    """
    if gamma <= 0 or tau <= 0:
        raise ValueError("gamma and tau must be > 0")
    return float(np.sqrt(2.0 * tau / gamma))


def crossing(x, y, level: float) -> float:
    """The ``x`` above which ``y`` stays at or above ``level``, by linear interpolation.

    Takes the last grid point with ``y < level`` and interpolates to the next
    one (so a small-``x`` excursion above ``level`` does not count); returns
    ``x[0]`` if ``y >= level`` everywhere and NaN if ``y`` ends below ``level``.
    """
    order = np.argsort(np.asarray(x, dtype=float))
    x = np.asarray(x, dtype=float)[order]
    y = np.asarray(y, dtype=float)[order]
    below = np.flatnonzero(y < level)
    if below.size == 0:
        return float(x[0])
    j = below[-1]
    if j == x.size - 1:
        return float("nan")
    return float(x[j] + (level - y[j]) * (x[j + 1] - x[j]) / (y[j + 1] - y[j]))


def final_round(runs: pd.DataFrame, last: int | None = None) -> pd.DataFrame:
    """The rows of the last round (``t == last``, default the largest ``t``)."""
    t = runs["t"].max() if last is None else last
    return runs[runs["t"] == t].reset_index(drop=True)


def gmm_config(params: Mapping) -> GMMConfig:
    """The :class:`GMMConfig` of a profile dict, ignoring its sweep keys (grids, knobs)."""
    names = {f.name for f in dataclasses.fields(GMMConfig)}
    return GMMConfig(**{k: v for k, v in params.items() if k in names})


COMPARISON_COLUMNS = ("item", "paper", "ours", "interval", "tolerance", "verdict", "note")


def comparison_row(item: str, paper: str, ours: str, interval: str, tolerance: str,
                   agrees: bool | None, note: str = "") -> dict:
    """One row of a ``paper_comparison`` table; ``agrees`` is the computed criterion.

    ``agrees=None`` gives the verdict ``"cannot check"``.
    """
    verdict = "cannot check" if agrees is None else ("reproduced" if bool(agrees) else "differs")
    return dict(zip(COMPARISON_COLUMNS, (item, paper, ours, interval, tolerance, verdict, note)))
