"""Profiles of the Theorem 6 notebook (variance preservation under pluralistic curation)."""

from ..profiles import Experiment, register

_THEOREM6_CPU = dict(
    q_values=(0.1, 0.3, 0.5, 0.7, 0.9),
    distances=(3.0, 4.0, 6.0),
    gammas=(0.5, 1.0, 2.0),
    eps_values=(0.1, 0.3),
    dims=(1, 2),
    plateau_gaps=(1.0, 3.0, 9.0),
    n_1d=801,
    n_2d=101,
    T=300,
    trajectory_q_values=(0.0, 0.1, 0.3, 0.5, 1.0),
    trajectory_distance=4.0,
    finite_K_values=(4, 32),
    finite_K_n=401,
    finite_K_T=100,
    finite_K_q=0.3,
    separation_grid=(0.1, 4.0, 0.05),
    separation_gammas=(0.5, 1.0, 2.0),
)

register(
    Experiment(
        name="theorem6",
        title="Theorem 6: pluralistic curation keeps reward variance",
        notebook="notebooks/theory/theorem6_variance.ipynb",
        profiles={
            "smoke": {
                **_THEOREM6_CPU,
                "q_values": (0.3, 0.5),
                "distances": (3.0, 6.0),
                "gammas": (0.5, 2.0),
                "eps_values": (0.1,),
                "plateau_gaps": (1.0, 9.0),
                "n_1d": 401,
                "n_2d": 41,
                "T": 200,
                "finite_K_values": (4,),
                "finite_K_n": 101,
                "finite_K_T": 40,
                "separation_grid": (0.2, 4.0, 0.2),
            },
            "cpu": _THEOREM6_CPU,
            "paper": _THEOREM6_CPU,
        },
    )
)
