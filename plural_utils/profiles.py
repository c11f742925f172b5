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
import json
import os
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

PROFILES = ("smoke", "cpu", "paper")
DEFAULT_PROFILE = "cpu"
# JSON object {experiment: {key: value}} of profile values set from outside the
# notebook (a sweep job's grid point for a key its parameters cell does not expose).
OVERRIDES_ENV = "PLURAL_PROFILE_OVERRIDES"


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
    stage : int
        ``run-all`` executes experiments in increasing stage; pages that
        gather other experiments' result files (the reproduction page) use
        ``stage=1`` so that they run after the experiments.
    """

    name: str
    title: str
    notebook: str
    profiles: Mapping[str, Mapping[str, Any]] = field(repr=False)
    stage: int = 0

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
    """Names of the registered experiments, in the order ``run-all`` executes them."""
    return [e.name for e in sorted(EXPERIMENTS.values(), key=lambda e: e.stage)]


def get_experiment(experiment: str) -> Experiment:
    """The registered :class:`Experiment` called ``experiment``."""
    if experiment not in EXPERIMENTS:
        raise ValueError(
            f"unknown experiment={experiment!r}; allowed values: {', '.join(EXPERIMENTS)}"
        )
    return EXPERIMENTS[experiment]


def _environment_overrides(experiment: str) -> dict:
    """This experiment's entry of ``PLURAL_PROFILE_OVERRIDES`` (empty when unset)."""
    text = os.environ.get(OVERRIDES_ENV)
    if not text:
        return {}
    try:
        values = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{OVERRIDES_ENV} must be a JSON object; got {text!r} ({err})") from None
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise ValueError(f"{OVERRIDES_ENV} must be a JSON object {{experiment: {{key: value}}}}; got {text!r}")
    return values.get(experiment, {})


def get_profile(experiment: str, profile: str = DEFAULT_PROFILE, **overrides: Any) -> dict:
    """Parameters of ``experiment`` at ``profile``, with ``overrides`` applied.

    Returns a deep copy, so callers may mutate it freely. An override whose
    value is ``None`` is ignored: a notebook can pass its parameter-cell
    variables straight through, leaving unset ones at ``None``. Values in the
    environment variable ``PLURAL_PROFILE_OVERRIDES`` (JSON
    ``{experiment: {key: value}}``, set by ``python -m plural_utils sweep``
    for grid keys the notebook's parameters cell does not expose) apply
    first; explicit overrides win over them.

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
    for source, values in (("environment " + OVERRIDES_ENV, _environment_overrides(experiment)), ("override", overrides)):
        for key, value in values.items():
            if key not in params:
                raise ValueError(
                    f"unknown {source} {key}={value!r} for experiment {experiment!r}; "
                    f"allowed keys: {', '.join(params)}"
                )
            if value is not None:
                params[key] = value
    return params


def _load_registry() -> None:
    """Import every module of :mod:`plural_utils.registry`; each registers its experiments.

    One module per experiment keeps each experiment's profiles in a file
    named for it (``plural_utils/registry/e6.py`` holds E6's settings).
    """
    import importlib
    import pkgutil

    from . import registry

    for module in sorted(m.name for m in pkgutil.iter_modules(registry.__path__)):
        importlib.import_module(f"{registry.__name__}.{module}")


_load_registry()
