"""Profiles of E3 (Sec. 4.2, Appendix C.5, Table 1, Fig. 4): OT-CFM flow retraining with classifier rewards.

Choices the paper leaves open (its "Appendix C.1" only maps the appendix) and we fix:
the BT pool ``K = 10`` (fresh pools drawn from the ``N`` samples), ``tau = 1``,
``gamma = 10``; retraining continues the current flow on the curated set for
``retrain_steps`` OT-CFM steps with a fresh Adam; the sampler is a fixed-step
midpoint rule; the target classes.

``cpu`` (Fashion-MNIST, average-pooled to 16 x 16 after padding 28 -> 32): chosen by
benchmarking on this 2-core machine - a 32-channel torchcfm UNet without res blocks
or attention (0.24 M parameters) costs ~0.6 ms per image per velocity call and
~0.2 s per training step of 128 on an idle machine; ``N = 1000`` samples x 4 midpoint
steps and 50 retraining steps make a round ~15 s idle (~26 s measured with the two
cores shared by three jobs). A single reward collapses the flow within 2-3 rounds
(measured), so ``T = 6`` rounds x 9 runs; the one-off classifier fit and 1,500-step
flow pretraining took 503 s under the same load, and are cached for E10 and reruns; the 9 x 6
rounds then took 1,368 s, ~31 minutes in all on a cold cache (an idle machine should need about 20, an estimate).

``paper`` (CIFAR-10 binary, VGG11, torchcfm's CIFAR-10 UNet of 36 M parameters, ``N = 50,000``,
``n = 2,500``, ``T = 25``, Inception FID when torch-fidelity and its weights are present):
``python -m plural_utils run e3 --profile paper`` on a CUDA machine. Expected time, an
*estimate* scaled from per-step costs (not measured on a GPU here): pretraining
400k steps of 128 ~ 30-40 h on one A100 (torchcfm's reference run); per round,
sampling 50,000 images with 50 midpoint steps (100 UNet calls) ~ 0.5-1 h and 5,000 retraining
steps ~ 0.3 h, so ~1-1.5 h per round, ~30 h per condition of 25 rounds, ~10 days for
the 9 conditions on one GPU (run conditions in parallel on several). Point
``classifier_weights`` at a trained VGG11 (safetensors) to skip its training.
"""

from ..images.settings import CPU, PAPER, SMOKE
from ..profiles import Experiment, register

register(
    Experiment(
        name="e3",
        title="E3: flow retraining on CIFAR-10-style images with classifier rewards (Table 1, Fig. 4)",
        notebook="notebooks/images/e3_image_curation.ipynb",
        profiles={"smoke": SMOKE, "cpu": CPU, "paper": PAPER},
    )
)
