"""Profiles of E5 (Figs. 6, 7, 10): the polarization sweep of the synthetic GMM experiment."""

from ..profiles import Experiment, register
from .e1 import _E1_PAPER

# Per-run settings are the paper's (Appendix C.4); the q grid is Fig. 6's. The
# boundary distance (below E2's transition) is where hard separation fails.
_E5_PAPER = {**_E1_PAPER, "qs": [0.1, 0.3, 0.5, 0.7, 0.9], "boundary_distance": 1.0}

register(
    Experiment(
        name="e5",
        title="E5: the polarization parameter q (Figs. 6, 7, 10)",
        notebook="notebooks/synthetic/e5_polarization.ipynb",
        profiles={
            "smoke": {**_E5_PAPER, "n_seeds": 2},
            "cpu": _E5_PAPER,
            "paper": _E5_PAPER,
        },
    )
)
