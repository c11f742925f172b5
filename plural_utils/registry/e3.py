"""Profiles of E3 (Sec. 4.2, Appendix C.5, Table 1, Fig. 4): OT-CFM flow retraining with classifier rewards.

Choices the paper leaves open (its "Appendix C.1" only maps the appendix) and we fix:
the BT pool ``K = 10`` (fresh pools drawn from the ``N`` samples), ``tau = 1``,
``gamma = 10``; retraining continues the current flow on the curated set for
``retrain_steps`` OT-CFM steps with a fresh Adam; the sampler is a fixed-step
midpoint rule; the target classes.

``cpu`` (Fashion-MNIST, average-pooled to 16 x 16 after padding 28 -> 32): chosen by
benchmarking on this 2-core machine - a 32-channel torchcfm UNet without res blocks
or attention (0.24 M parameters) costs ~0.6 ms per image per velocity call and
~0.2 s per training step of 128; ``N = 1000`` samples x 4 midpoint steps and 50
retraining steps make a round ~15 s, so 9 runs x 8 rounds plus the one-off
pretraining (1,500 steps) and classifier fit well inside 30 minutes.

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

from ..profiles import Experiment, register

FASHION_TARGETS = [1, 8, 7, 3, 0]  # Trouser, Bag, Sneaker, Dress, T-shirt/top: visually distinct
DIGIT_TARGETS = [0, 1, 7, 4, 3]
CIFAR_TARGETS = [0, 1, 7, 8, 9]  # airplane (the paper's example), automobile, horse, ship, truck

SMOKE = dict(
    dataset="digits", image_size=None, data_dir=None, n_train=None,
    classifier_arch="small_cnn", classifier_width=16, classifier_steps=120, classifier_batch=64,
    classifier_lr=3e-3, classifier_weights=None,
    flow_channels=32, flow_res_blocks=0, flow_channel_mult=[1, 2], flow_attention="", flow_heads=1,
    flow_head_channels=-1, flow_dropout=0.0, pretrain_steps=120, pretrain_batch=64, flow_lr=2e-3,
    retrain_steps=6, retrain_batch=32, retrain_lr=1e-3, ode_steps=2,
    N=160, n=40, K=5, tau=1.0, gamma=10.0, T=2, n_ref=400, inception_fid=False,
    targets=DIGIT_TARGETS, balanced_M=[1, 2, 3], polarized_q=[0.0, 0.5],
)

CPU = dict(
    SMOKE,
    dataset="fashion-mnist", image_size=16,
    classifier_width=32, classifier_steps=1500, classifier_batch=128, classifier_lr=2e-3,
    pretrain_steps=1500, pretrain_batch=128, flow_lr=1e-3,
    retrain_steps=50, retrain_batch=128, retrain_lr=5e-4, ode_steps=4,
    N=1000, n=250, K=10, T=8, n_ref=2000,
    targets=FASHION_TARGETS, balanced_M=[1, 2, 3, 4, 5], polarized_q=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
)

PAPER = dict(
    CPU,
    dataset="cifar10", image_size=None,
    classifier_arch="vgg11", classifier_steps=30000, classifier_batch=128, classifier_lr=1e-3,
    flow_channels=128, flow_res_blocks=2, flow_channel_mult=[1, 2, 2, 2], flow_attention="16", flow_heads=4,
    flow_head_channels=64, flow_dropout=0.1, pretrain_steps=400000, pretrain_batch=128, flow_lr=2e-4,
    retrain_steps=5000, retrain_batch=128, retrain_lr=2e-4, ode_steps=50,
    N=50000, n=2500, K=10, T=25, n_ref=10000, inception_fid=True,
    targets=CIFAR_TARGETS,
)

register(
    Experiment(
        name="e3",
        title="E3: flow retraining on CIFAR-10-style images with classifier rewards (Table 1, Fig. 4)",
        notebook="notebooks/images/e3_image_curation.ipynb",
        profiles={"smoke": SMOKE, "cpu": CPU, "paper": PAPER},
    )
)
