"""Profiles of the Lemma 2 / Lemma B.3 notebook (large pools turn curation into an exponential tilt)."""

from ..profiles import Experiment, register

_LEMMA2_CPU = dict(
    # the rate sweep: 1-D grid, one quadratic reward shape scaled to each range, three initial laws
    n_atoms=401,
    half_width=3.0,
    reward_peak=1.0,
    K_max_exponent=14,  # K = 2, 4, ..., 2^14
    ranges=(1.0, 3.0, 10.0),
    taus=(0.5, 1.0, 2.0),
    inits=("uniform", "gaussian", "two_bump"),
    eps=0.5,  # S_eps of Remark 1, in units of r
    monotone_from=4,  # Delta_K must decrease for K >= this
    slope_band=(-1.1, -0.9),
    coefficient_tol=0.01,  # max_x |K (H^K - H^inf) - c(x)| / sup|c| at the largest K
    # the boundary: growing reward range, and tau -> 0
    tolerance=1e-3,
    range_sweep=(1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0),
    range_inits=("uniform", "off_peak"),
    K_search_cap_exponent=20,
    tau_range=3.0,
    tau_sweep=(1.0, 0.1, 1e-2, 1e-3, 1e-5),  # 1e-4 is slow (a long quadrature lattice) and adds nothing
    K_fixed=256,
    # E6 (Appendix C.8) and the dynamics on a two-basin landscape
    distance=4.0,
    landscape_n=801,
    gammas=(1.0, 10.0),
    e6_gamma=10.0,
    e6_K=256,
    e6_steps=(0, 1, 2, 5, 20),  # rounds of the K = inf trajectory at which H^K is compared with the tilt
    q=0.5,
    T=20,
    K_dynamics=(16, 32, 256, 1024),
)

register(
    Experiment(
        name="lemma2",
        title="Lemma 2 and Lemma B.3: large pools turn curation into an exponential tilt",
        notebook="notebooks/theory/lemma2_large_k.ipynb",
        profiles={
            "smoke": {
                **_LEMMA2_CPU,
                "K_max_exponent": 8,
                "ranges": (3.0,),
                "taus": (1.0,),
                "inits": ("uniform",),
                "coefficient_tol": 0.05,
                "range_sweep": (1.0, 5.0, 10.0),
                "K_search_cap_exponent": 18,
                "tau_sweep": (1.0, 1e-5),
                "landscape_n": 401,
                "gammas": (10.0,),
                "e6_steps": (0,),
                "T": 3,
                "K_dynamics": (16, 256),
            },
            "cpu": _LEMMA2_CPU,
            "paper": _LEMMA2_CPU,
        },
    )
)
