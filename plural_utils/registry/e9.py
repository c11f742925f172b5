"""Profiles of E9 (Appendix C.1): baselines against collapse on the E1 setting.

The GMM settings are E1's (Appendix C.4). The knobs are the real-data shares
``lambdas`` mixed into single-reward curation (Ferbach et al. 2024; Bertrand
et al. 2024) and ``plural_lambdas`` mixed into pluralistic curation;
accumulation (Gerstgrasser et al. 2024) and no curation take no knob.
"""

from ..profiles import Experiment, register
from .e1 import _E1_PAPER

_E9_CPU = dict(_E1_PAPER, lambdas=(0.1, 0.25, 0.5), plural_lambdas=(0.25,))

register(
    Experiment(
        name="e9",
        title="E9: baselines against collapse",
        notebook="notebooks/synthetic/e9_baselines.ipynb",
        profiles={
            "smoke": {
                **_E9_CPU,
                "T": 14,
                "K": 50,
                "n_curated": 100,
                "n_eval": 200,
                "n_init": 300,
                "n_seeds": 2,
            },
            "cpu": _E9_CPU,
            "paper": _E9_CPU,
        },
    )
)
