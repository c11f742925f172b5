"""Profiles of E7 (Fig. 15): initial and final generators across reward separations."""

from ..profiles import Experiment, register
from .e1 import _E1_PAPER

# Per-run settings are the paper's (Appendix C.4); distances are Fig. 15's, read
# as d = ||mu_1 - mu_2|| at the fixed midpoint (5, 5) as in Appendix C.4.
_E7_PAPER = {**_E1_PAPER, "q": 0.5, "distances": [0.0, 1.0, 2.0, 4.0, 6.0]}

register(
    Experiment(
        name="e7",
        title="E7: initial and final distributions across separations (Fig. 15)",
        notebook="notebooks/synthetic/e7_separation_gallery.ipynb",
        profiles={
            "smoke": {**_E7_PAPER, "n_seeds": 2},
            "cpu": _E7_PAPER,
            "paper": _E7_PAPER,
        },
    )
)
