"""Profiles of E10 (Appendix C.8, Fig. 8): the E3 loop with three learned reward models.

The paper's rewards are PickScore, ImageReward and the LAION aesthetic predictor
(``paper``: loaded from local weights under ``data/external/reward_models`` or
``$PLURAL_REWARD_WEIGHTS_DIR``; they fail fast with what to download). At ``cpu`` and
``smoke`` three small CNNs are trained here on different targets of the data and used
as black boxes: the probability of a class group (two groups) and a regressor of the
image's ink mass. The generator, classifier and data settings are E3's, and the
cached classifier and pretrained flow are shared with E3.

Measured at ``cpu`` on the shared 2-core machine: 1,026 s for the whole notebook (three reward
nets, ~50 s, plus 7 conditions x 6 rounds; the classifier and flow came from E3's cache).
Expected ``paper`` time (an estimate, as for E3): 7 conditions x 25 rounds x ~1-1.5 h.
"""

from ..images.settings import CPU, PAPER, SMOKE
from ..profiles import Experiment, register

_E3_ONLY = ("targets", "balanced_M", "polarized_q")


def _e10(base: dict, rewards: list, **changes) -> dict:
    out = {k: v for k, v in base.items() if k not in _E3_ONLY}
    out.update(rewards=rewards, reward_steps=400, reward_batch=128, reward_lr=2e-3, reward_gamma=10.0)
    out.update(changes)
    return out


SMOKE_REWARDS = [
    {"name": "loops", "kind": "group", "classes": [0, 6, 8, 9]},
    {"name": "strokes", "kind": "group", "classes": [1, 4, 7]},
    {"name": "ink", "kind": "ink"},
]
CPU_REWARDS = [
    {"name": "footwear", "kind": "group", "classes": [5, 7, 9]},
    {"name": "tops", "kind": "group", "classes": [0, 2, 4, 6]},
    {"name": "ink", "kind": "ink"},
]
PAPER_REWARDS = [{"name": "pickscore", "kind": "paper"}, {"name": "imagereward", "kind": "paper"},
                 {"name": "aesthetic", "kind": "paper"}]

register(
    Experiment(
        name="e10",
        title="E10: flow retraining with learned reward models (Fig. 8)",
        notebook="notebooks/images/e10_learned_rewards.ipynb",
        profiles={
            "smoke": _e10(SMOKE, SMOKE_REWARDS, reward_steps=60, reward_batch=64),
            "cpu": _e10(CPU, CPU_REWARDS, T=6),
            "paper": _e10(PAPER, PAPER_REWARDS),
        },
    )
)
