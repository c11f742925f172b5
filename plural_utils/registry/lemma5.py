"""Profiles of the Lemma 5 / Corollary 2 notebook (uniform non-collapse of the basin mass)."""

from ..profiles import Experiment, register

# Lopsided starts give S_1 exactly this mass at t = 0; "uniform" and "gaussian" are the
# landscape's own initial laws.
_LEMMA5_CPU = dict(
    n=401,
    T=2000,
    q_values=(0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.98),
    distances=(2.5, 3.0, 4.5),
    gammas=(0.5, 2.0),
    eps_values=(0.05, 0.2),
    inits=("uniform", "gaussian", 0.001, 0.01, 0.99, 0.999),
    m_tol=1e-6,
    # t0 against how lopsided the start is, at one landscape
    lopsided_distance=4.0,
    lopsided_gamma=1.0,
    lopsided_eps_values=(0.05, 0.1, 0.2, 0.4),
    lopsided_q=(0.1, 0.5),
    lopsided_a0=(1e-1, 1e-2, 1e-3, 1e-4, 1e-6, 1e-8, 1e-10),
    # the boundary: leaky basins with a small q
    leaky_distance=1.5,
    leaky_gamma=1.0,
    leaky_eps=0.1,
    leaky_q=0.05,
    # the control for the boundary cases: well separated, same small q
    control_distance=4.5,
)

register(
    Experiment(
        name="lemma5",
        title="Lemma 5 and Corollary 2: no basin is abandoned",
        notebook="notebooks/theory/lemma5_non_collapse.ipynb",
        profiles={
            "smoke": {
                **_LEMMA5_CPU,
                "n": 201,
                "T": 1500,
                "q_values": (0.1, 0.5, 0.9),
                "distances": (3.0, 4.5),
                "gammas": (1.0,),
                "eps_values": (0.1,),
                "inits": ("uniform", 0.001, 0.999),
                "lopsided_q": (0.5,),
                "lopsided_eps_values": (0.1, 0.4),
                "lopsided_a0": (1e-1, 1e-3, 1e-6),
            },
            "cpu": _LEMMA5_CPU,
            "paper": _LEMMA5_CPU,
        },
    )
)
