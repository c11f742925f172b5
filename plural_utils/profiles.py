"""Run profiles: one parameter set per experiment and compute budget.

``smoke``
    seconds; what CI and ``tests/test_notebooks.py`` run.
``cpu``
    the default; minutes on a 2-core laptop, offline stand-ins where data or
    weights are missing.
``paper``
    the paper's exact settings (may want a GPU).

Notebooks read their knobs with :func:`get_profile` so that the parameter cell
holds only ``profile``, ``seed`` and optional overrides.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

PROFILES = ("smoke", "cpu", "paper")
DEFAULT_PROFILE = "cpu"


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: its notebook and one parameter dict per profile.

    Parameters
    ----------
    name : str
        Short key used on the command line and in ``data/results/<name>/``.
    title : str
        Human-readable title (the notebook's heading).
    notebook : str
        Notebook path relative to the repository root.
    profiles : Mapping[str, Mapping[str, Any]]
        Profile name -> parameter dict; every name in :data:`PROFILES`.
    """

    name: str
    title: str
    notebook: str
    profiles: Mapping[str, Mapping[str, Any]] = field(repr=False)

    def __post_init__(self) -> None:
        missing = set(PROFILES) - set(self.profiles)
        if missing:
            raise ValueError(f"experiment {self.name!r} lacks profiles {sorted(missing)}")
        frozen = {p: MappingProxyType(dict(v)) for p, v in self.profiles.items()}
        object.__setattr__(self, "profiles", MappingProxyType(frozen))


EXPERIMENTS: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    """Add ``experiment`` to :data:`EXPERIMENTS` (names must be unique)."""
    if experiment.name in EXPERIMENTS:
        raise ValueError(f"experiment {experiment.name!r} is already registered")
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def list_experiments() -> list[str]:
    """Names of the registered experiments, in registration order."""
    return list(EXPERIMENTS)


def get_experiment(experiment: str) -> Experiment:
    """The registered :class:`Experiment` called ``experiment``."""
    if experiment not in EXPERIMENTS:
        raise ValueError(
            f"unknown experiment={experiment!r}; allowed values: {', '.join(EXPERIMENTS)}"
        )
    return EXPERIMENTS[experiment]


def get_profile(experiment: str, profile: str = DEFAULT_PROFILE, **overrides: Any) -> dict:
    """Parameters of ``experiment`` at ``profile``, with ``overrides`` applied.

    Returns a deep copy, so callers may mutate it freely. An override whose
    value is ``None`` is ignored: a notebook can pass its parameter-cell
    variables straight through, leaving unset ones at ``None``.

    Raises
    ------
    ValueError
        For an unknown experiment, an unknown profile, or an override key the
        profile does not define; the message names the parameter and the
        allowed values.
    """
    exp = get_experiment(experiment)
    if profile not in PROFILES:
        raise ValueError(f"unknown profile={profile!r}; allowed values: {', '.join(PROFILES)}")
    params = copy.deepcopy(dict(exp.profiles[profile]))
    for key, value in overrides.items():
        if key not in params:
            raise ValueError(
                f"unknown override {key}={value!r} for experiment {experiment!r}; "
                f"allowed keys: {', '.join(params)}"
            )
        if value is not None:
            params[key] = value
    return params


_LEMMA1_CPU = dict(
    n_atoms=12,
    n_draws=400_000,
    K_values=(1, 2, 3, 5, 10, 50, 200),
    q_values=(0.1, 0.5, 0.9),
    tau_values=(0.5, 1.0, 2.0),
    alpha=1e-3,
)

register(
    Experiment(
        name="lemma1",
        title="Lemma 1: the curation update",
        notebook="notebooks/theory/lemma1_curation_update.ipynb",
        profiles={
            "smoke": dict(
                n_atoms=8,
                n_draws=20_000,
                K_values=(1, 2, 3, 8),
                q_values=(0.3, 0.8),
                tau_values=(1.0,),
                alpha=1e-3,
            ),
            "cpu": _LEMMA1_CPU,
            "paper": {**_LEMMA1_CPU, "n_draws": 2_000_000},
        },
    )
)

# The synthetic cpu profile IS the paper's setting (Appendix C.4): it runs in minutes on a CPU.
_E1_PAPER = dict(
    T=50,
    K=100,
    n_curated=500,
    n_eval=1000,
    n_init=1000,
    init_mean=(5.0, 5.0),
    init_var=3.0,
    mu1=(2.0, 2.0),
    mu2=(8.0, 8.0),
    q=0.5,
    tau=1.0,
    switch_iter=10,
    fit_random_state=42,
    n_seeds=5,
)

register(
    Experiment(
        name="e1",
        title="E1: pluralistic vs single-reward curation on a 2-D GMM",
        notebook="notebooks/synthetic/e1_gmm_curation.ipynb",
        profiles={
            "smoke": {
                **_E1_PAPER,
                "T": 12,
                "K": 50,
                "n_curated": 100,
                "n_eval": 200,
                "n_init": 300,
                "n_seeds": 2,
            },
            "cpu": _E1_PAPER,
            "paper": _E1_PAPER,
        },
    )
)
