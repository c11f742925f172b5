"""Profiles of the Lemma 4 notebook (leakage bounds on the limiting basin mass, Lemma 4 / B.5)."""

from ..profiles import Experiment, register

_LEMMA4_CPU = dict(
    # quadratic pairs (landscapes.quadratic_pair, 1-D)
    q_values=(0.1, 0.3, 0.5, 0.7, 0.9),
    d_values=(1.0, 1.5, 2.0, 3.0, 4.0, 6.0),
    gamma_values=(0.5, 1.0, 4.0),
    eps_values=(0.05, 0.1, 0.3),
    n=401,
    T=800,
    # plateau pairs (landscapes.plateau_pair): gaps (gap1, gap2)
    plateau_gaps=(0.05, 0.3, 1.0, 3.0),
    # premises: outside mass and non-stationarity below these at T
    m_small=1e-6,
    converged=1e-6,
    # finite-K check (Remark 1)
    K_values=(16, 64, 256),
    K_q_values=(0.1, 0.5, 0.9),
    K_d=3.0,
    K_n=201,
    K_T=200,
    # Fig. 12-like picture: gamma = 1, eps = 0.1 as in Appendix C.9.1
    fig_q_values=(0.1, 0.25, 0.4, 0.6, 0.75, 0.9),
    fig_d_values=(0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0),
    fig_T=400,
)

register(
    Experiment(
        name="lemma4",
        title="Lemma 4: leakage controls the split between basins",
        notebook="notebooks/theory/lemma4_leakage_bounds.ipynb",
        profiles={
            "smoke": {
                **_LEMMA4_CPU,
                "q_values": (0.1, 0.5, 0.9),
                "d_values": (1.5, 3.0, 6.0),
                "gamma_values": (1.0,),
                "eps_values": (0.05, 0.1),
                "n": 201,
                "T": 600,
                "plateau_gaps": (0.05, 1.0),
                "K_values": (16, 256),
                "K_q_values": (0.1,),
                "K_n": 101,
                "K_T": 100,
                "fig_q_values": (0.1, 0.5),
                "fig_d_values": (1.0, 2.0, 4.0),
                "fig_T": 200,
            },
            "cpu": _LEMMA4_CPU,
            "paper": _LEMMA4_CPU,
        },
    )
)
