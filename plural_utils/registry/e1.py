"""Profiles of E1 (Appendix C.4): pluralistic vs single-reward curation of a 2-D GMM."""

from ..profiles import Experiment, register

# The synthetic cpu profile IS the paper's setting (Appendix C.4): it runs in minutes on a CPU.
_E1_PAPER = dict(
    T=50,
    K=100,
    n_curated=500,
    n_eval=1000,
    n_init=1000,
    init_mean=(5.0, 5.0),
    init_var=3.0,
    mu1=(2.0, 2.0),
    mu2=(8.0, 8.0),
    q=0.5,
    tau=1.0,
    switch_iter=10,
    fit_random_state=42,
    n_seeds=5,
)

register(
    Experiment(
        name="e1",
        title="E1: pluralistic vs single-reward curation on a 2-D GMM",
        notebook="notebooks/synthetic/e1_gmm_curation.ipynb",
        profiles={
            "smoke": {
                **_E1_PAPER,
                "T": 12,
                "K": 50,
                "n_curated": 100,
                "n_eval": 200,
                "n_init": 300,
                "n_seeds": 2,
            },
            "cpu": _E1_PAPER,
            "paper": _E1_PAPER,
        },
    )
)
