"""Profiles of the Proposition 4 notebook (plateau basins keep their shape)."""

import math

from ..profiles import Experiment, register

_PROP4_CPU = dict(
    n=801,
    T=400,
    eps=0.1,
    gap_pairs=((1.5, 1.5), (3.0, 1.5), (1.5, 4.0), (6.0, 6.0)),
    q_values=(0.3, 0.5, 0.7),
    K_values=(2, 16, math.inf),
    init_laws=("gaussian_left", "gaussian_right", "bumpy"),
    gap_grid=(1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0),
    slopes=(0.005, 0.01, 0.025, 0.05, 0.1, 0.3),
    tilt_T=400,
    grid_T=3000,
)

register(
    Experiment(
        name="prop4",
        title="Proposition 4: plateau basins keep their shape",
        notebook="notebooks/theory/prop4_plateau_basins.ipynb",
        profiles={
            "smoke": {
                **_PROP4_CPU,
                "n": 201,
                "T": 200,
                "gap_pairs": ((1.5, 1.5), (3.0, 1.5), (6.0, 6.0)),
                "q_values": (0.3, 0.7),
                "init_laws": ("gaussian_left", "bumpy"),
                "gap_grid": (1.0, 2.0, 4.0, 8.0),
                "slopes": (0.01, 0.05, 0.3),
                "tilt_T": 100,
                "grid_T": 1500,
            },
            "cpu": _PROP4_CPU,
            "paper": _PROP4_CPU,
        },
    )
)
