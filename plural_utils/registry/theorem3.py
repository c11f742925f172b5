"""Profiles of the Theorem 3 notebook (the two-basin limit and its conditionals)."""

from ..profiles import Experiment, register

# 1-D grids have the centres on grid points for these distances (multiples of 2 h, h = 0.075);
# the 2-D grid is aligned with the centres by the notebook.
_THEOREM3_CPU = dict(
    T=4000,
    store_every=10,
    n_1d=161,
    n_2d=41,
    dims=(1, 2),
    distances=(2.4, 3.0, 3.6, 4.8, 6.0),
    q_values=(0.1, 0.3, 0.5, 0.7),
    gammas=(0.5, 2.0),
    eps_values=(0.05, 0.2),
    m_tol=1e-6,
    conv_tol=1e-3,
    separated_kappa=1e-3,
    # within-basin sharpening on a finer 1-D grid
    sharp_n=801,
    sharp_T=25000,
    sharp_store_every=5,
    sharp_distance=4.8,
    sharp_gamma=1.0,
    sharp_q=0.3,
    sharp_eps=1.0,
    # the boundary: a compromise point between close centres
    compromise_distance=1.2,
    compromise_gamma=0.5,
    compromise_q=0.5,
)

register(
    Experiment(
        name="theorem3",
        title="Theorem 3: the limit is a two-basin mixture",
        notebook="notebooks/theory/theorem3_two_basin_limit.ipynb",
        profiles={
            "smoke": {
                **_THEOREM3_CPU,
                "T": 2000,
                "n_2d": 31,
                "distances": (2.4, 3.6, 6.0),
                "q_values": (0.3,),
                "gammas": (2.0,),
                "eps_values": (0.1,),
                "sharp_n": 401,
                "sharp_T": 6500,
            },
            "cpu": _THEOREM3_CPU,
            "paper": _THEOREM3_CPU,
        },
    )
)
