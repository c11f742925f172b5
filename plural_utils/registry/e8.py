"""Profiles of E8 (Appendix C.9, Tables 3-5, Figs. 12-14): leakage corroborations."""

from ..profiles import Experiment, register

# The paper's setting (Appendix C.9): K -> inf update, 50 rounds, eps = 0.1. The finite-K
# runs (part d, not in the paper) use a coarser grid: their update costs ~1 s per run.
_E8_PAPER = dict(
    T=50,
    eps=0.1,
    gamma=1.0,
    grid_n=121,
    init_var=3.0,
    table3_qs=[0.1, 0.2, 0.4, 0.6, 0.8, 0.9],
    table3_ds=[2.0, 4.0, 6.0],
    fig12_qs=[0.1, 0.25, 0.4, 0.6, 0.75, 0.9],
    fig12_ds=[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0],
    table4_ds=[2.0, 4.0, 6.0, 8.0],
    table4_q=0.5,
    slope_grids=[21, 41, 121],
    table5_qs=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    table5_ds=[1.0, 2.0, 3.0, 5.0],
    finite_Ks=[16, 64, 256],
    finite_grid_n=41,
    finite_table5_qs=[0.1, 0.3, 0.5, 0.7, 0.9],
)

register(
    Experiment(
        name="e8",
        title="E8: leakage corroborations (Tables 3-5, Figs. 12-14)",
        notebook="notebooks/synthetic/e8_leakage_corroboration.ipynb",
        profiles={
            "smoke": {
                **_E8_PAPER,
                "grid_n": 61,
                "fig12_ds": [0.0, 2.0, 4.0, 6.0, 8.0],
                "slope_grids": [21, 61],
                "finite_Ks": [16],
                "finite_grid_n": 21,
                "finite_table5_qs": [0.1, 0.5, 0.9],
            },
            "cpu": _E8_PAPER,
            "paper": _E8_PAPER,
        },
    )
)
