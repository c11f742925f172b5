"""Profiles of E6 (Appendix C.8, Fig. 11): finite pool size K, Best-of-K with replacement."""

from ..profiles import Experiment, register

# The paper's setting (Appendix C.8) runs in a few minutes on 2 cores, so cpu = paper.
_E6_PAPER = dict(
    T=20,
    n_pool=50_000,
    n_keep=2_500,
    gamma=10.0,
    Ks=[16, 32, 256, 512, 1024],
    qs=[0.5, 1.0],
    mu1=(2.0, 2.0),
    mu2=(8.0, 8.0),
    init_mean=(5.0, 5.0),
    init_var=3.0,
    n_init=1_000,
    n_eval=5_000,
    n_entropy=10_000,
    switch_iter=0,
    fit_random_state=42,
    n_seeds=5,
    grid_n=121,
    eps=0.1,
)

register(
    Experiment(
        name="e6",
        title="E6: finite pools K (Fig. 11)",
        notebook="notebooks/synthetic/e6_finite_k.ipynb",
        profiles={
            "smoke": {
                **_E6_PAPER,
                "T": 5,
                "n_pool": 5_000,
                "n_keep": 250,
                "Ks": [16, 256, 1024],
                "n_eval": 1_000,
                "n_entropy": 2_000,
                "n_seeds": 2,
                "grid_n": 41,
            },
            "cpu": _E6_PAPER,
            "paper": _E6_PAPER,
        },
    )
)
