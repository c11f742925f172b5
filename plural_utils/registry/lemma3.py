"""Profiles of the Lemma 3 notebook (outside mass decays under outside domination, Lemma 3 / B.4)."""

from ..profiles import Experiment, register

_LEMMA3_CPU = dict(
    # the sweep of Lemma 3 / B.4: K = inf dynamics from a uniform start
    dims=(1, 2),
    q_values=(0.3, 0.5, 0.8),
    d_values=(3.0, 5.0, 8.0),
    gamma_values=(0.5, 1.0, 4.0),
    eps_values=(0.05, 0.1, 0.3),
    n_1d=801,
    n_2d=121,
    T=60,
    # Appendix C.9.2 (Table 4): q = 0.5, eps = 0.1, uniform start, 50 rounds
    paper_d_values=(2.0, 4.0, 6.0, 8.0),
    paper_T=50,
    paper_n_2d=161,
    rate_eps_values=(0.05, 0.1, 0.2, 0.4, 0.585, 0.8),
    # dropping outside domination: centres close enough that the midpoint wins
    compromise_d_values=(0.8, 1.0, 1.2, 1.3, 1.5, 1.6, 2.0, 3.0),
    compromise_T=300,
)

register(
    Experiment(
        name="lemma3",
        title="Lemma 3: mass leaves the low-reward region",
        notebook="notebooks/theory/lemma3_outside_decay.ipynb",
        profiles={
            "smoke": {
                **_LEMMA3_CPU,
                "q_values": (0.5,),
                "d_values": (4.0,),
                "gamma_values": (1.0,),
                "eps_values": (0.1, 0.3),
                "n_1d": 201,
                "n_2d": 41,
                "T": 30,
                "paper_d_values": (2.0, 8.0),
                "paper_n_2d": 61,
                "rate_eps_values": (0.1, 0.585),
                "compromise_d_values": (1.0, 3.0),
                "compromise_T": 150,
            },
            "cpu": _LEMMA3_CPU,
            "paper": _LEMMA3_CPU,
        },
    )
)
