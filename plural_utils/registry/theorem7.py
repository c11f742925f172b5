"""Profiles of the Theorem 7 / Corollary 8 notebook (the limit as a weighted Nash bargaining point)."""

from ..profiles import Experiment, register

_THEOREM7_CPU = dict(
    n_q_grid=49,
    n_matrices=40,
    curve_q_values=(0.1, 0.3, 0.5, 0.7, 0.9),
    q_values=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    plateau_gaps=(0.5, 1.0, 2.0, 4.0, 8.0, 16.0),
    distances=(1.0, 2.0, 3.0, 5.0),
    gamma=1.0,
    n=801,
    T=400,
    finite_T_values=(20, 50),
    finite_K_values=(16, 32, 64),
    finite_K_distances=(3.0, 5.0),
    finite_K_n=201,
    finite_K_T=60,
    sample_sizes=(1000, 2500, 10000, 15000, 50000),
    n_sample_repeats=2000,
)

register(
    Experiment(
        name="theorem7",
        title="Theorem 7 and Corollary 8: the limit is the weighted Nash bargaining point",
        notebook="notebooks/theory/theorem7_nash_bargaining.ipynb",
        profiles={
            "smoke": {
                **_THEOREM7_CPU,
                "n_q_grid": 9,
                "n_matrices": 5,
                "q_values": (0.2, 0.5, 0.8),
                "plateau_gaps": (1.0, 4.0, 16.0),
                "n": 401,
                "T": 200,
                "finite_K_values": (16, 32, 64),
                "finite_K_distances": (5.0,),
                "finite_K_n": 81,
                "finite_K_T": 30,
                "n_sample_repeats": 200,
            },
            "cpu": _THEOREM7_CPU,
            "paper": _THEOREM7_CPU,
        },
    )
)
