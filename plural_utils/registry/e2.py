"""Profiles of E2 (Fig. 3): the separation sweep of the synthetic GMM experiment (Appendix C.4)."""

from ..profiles import Experiment, register
from .e1 import _E1_PAPER

# Per-run settings are the paper's (Appendix C.4, as in E1). The paper does not
# list the distances of Fig. 3; this grid is dense around its "transition around
# distance ~2" and ends at E1's 6 sqrt(2). The whole grid runs in about a minute
# on 2 cores, so cpu = paper. gammas scale the rewards (tau -> tau / gamma).
_DISTANCES = [0.0, 0.5, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 6.0, 8.49]
_E2_PAPER = {**_E1_PAPER, "q": 0.5, "distances": _DISTANCES, "gammas": [0.25, 1.0, 4.0]}

register(
    Experiment(
        name="e2",
        title="E2: a phase transition in reward separation (Fig. 3)",
        notebook="notebooks/synthetic/e2_phase_transition.ipynb",
        profiles={
            # smoke keeps the per-run settings (a run takes ~0.1 s) and thins the grid.
            "smoke": {**_E2_PAPER, "n_seeds": 2, "gammas": [1.0, 4.0],
                      "distances": [0.5, 1.0, 2.0, 3.0, 4.0]},
            "cpu": _E2_PAPER,
            "paper": _E2_PAPER,
        },
    )
)
