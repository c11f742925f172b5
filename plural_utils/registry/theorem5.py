"""Profiles of the Theorem 5 / Corollary B.5 notebook (limits of the expected rewards)."""

from ..profiles import Experiment, register

_THEOREM5_CPU = dict(
    n=801,
    T=2000,
    eps=0.1,
    distances=(2.5, 3.0, 4.0, 6.0),
    gammas=(0.5, 1.0, 2.0),
    plateau_gaps=((1.5, 1.5), (3.0, 1.5), (6.0, 6.0)),
    q_values=(0.3, 0.5, 0.7),
    corollary_q=0.3,
    corollary_gaps=(1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0),
    corollary_distances=(2.0, 2.5, 3.0, 3.5, 4.0, 5.0),
    boundary_distances=(0.9, 1.1, 1.8, 2.4, 3.0),
    frontier_points=21,
)

register(
    Experiment(
        name="theorem5",
        title="Theorem 5 and Corollary B.5: where the expected rewards end up",
        notebook="notebooks/theory/theorem5_expected_rewards.ipynb",
        profiles={
            "smoke": {
                **_THEOREM5_CPU,
                "n": 301,
                "T": 1000,
                "distances": (3.0, 6.0),
                "gammas": (1.0, 2.0),
                "plateau_gaps": ((1.5, 1.5), (6.0, 6.0)),
                "q_values": (0.3, 0.7),
                "corollary_gaps": (1.5, 3.0, 6.0, 12.0),
                "corollary_distances": (2.0, 3.0, 4.0),
                "boundary_distances": (0.9, 3.0),
                "frontier_points": 5,
            },
            "cpu": _THEOREM5_CPU,
            "paper": _THEOREM5_CPU,
        },
    )
)
