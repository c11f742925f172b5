"""Profiles of the Lemma 1 notebook (the curation update against the sampling process)."""

from ..profiles import Experiment, register

_LEMMA1_CPU = dict(
    n_atoms=12,
    n_draws=400_000,
    K_values=(1, 2, 3, 5, 10, 50, 200),
    q_values=(0.1, 0.5, 0.9),
    tau_values=(0.5, 1.0, 2.0),
    alpha=1e-3,
)

register(
    Experiment(
        name="lemma1",
        title="Lemma 1: the curation update",
        notebook="notebooks/theory/lemma1_curation_update.ipynb",
        profiles={
            "smoke": dict(
                n_atoms=8,
                n_draws=20_000,
                K_values=(1, 2, 3, 8),
                q_values=(0.3, 0.8),
                tau_values=(1.0,),
                alpha=1e-3,
            ),
            "cpu": _LEMMA1_CPU,
            "paper": {**_LEMMA1_CPU, "n_draws": 2_000_000},
        },
    )
)
