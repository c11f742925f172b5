"""Profiles of the Appendix B.4 notebook (M rewards: basin masses, leakage constant, Nash form)."""

from ..profiles import Experiment, register

_B4_CPU = dict(
    M_values=(3, 4, 5),
    layouts=("circle", "line"),
    d_values=(2.0, 2.25, 2.5, 2.75, 3.0, 3.5),
    n_q=2,
    q_concentration=1.0,
    q_floor=0.01,
    gamma=1.0,
    eps=0.1,
    T=2000,
    n_grid_2d=101,
    n_grid_1d=801,
    entropy_distance=3.0,
    boundary_spacings=(0.6, 0.8, 1.0, 1.2, 1.5, 1.8, 2.2, 2.6),
    overlap_offsets=(0.2, 0.4),
)

register(
    Experiment(
        name="b4",
        title="Appendix B.4: M rewards",
        notebook="notebooks/theory/appendix_b4_multiple_rewards.ipynb",
        profiles={
            "smoke": {
                **_B4_CPU,
                "M_values": (3, 5),
                "d_values": (2.0, 2.5, 3.5),
                "n_q": 2,
                "T": 800,
                "n_grid_2d": 61,
                "n_grid_1d": 401,
                "boundary_spacings": (0.8, 1.0, 2.2),
                "overlap_offsets": (0.2,),
            },
            "cpu": _B4_CPU,
            "paper": _B4_CPU,
        },
    )
)
