"""Profile values shared by E3 and E10 (``plural_utils/registry/e3.py`` documents the choices)."""

FASHION_TARGETS = [1, 8, 7, 3, 0]  # Trouser, Bag, Sneaker, Dress, T-shirt/top: visually distinct
DIGIT_TARGETS = [0, 1, 7, 4, 3]
CIFAR_TARGETS = [0, 1, 7, 8, 9]  # airplane (the paper's example), automobile, horse, ship, truck

SMOKE = dict(
    dataset="digits", image_size=None, data_dir=None, n_train=None,
    classifier_arch="small_cnn", classifier_width=16, classifier_steps=100, classifier_batch=64,
    classifier_lr=3e-3, classifier_weights=None,
    flow_channels=32, flow_res_blocks=0, flow_channel_mult=[1, 2], flow_attention="", flow_heads=1,
    flow_head_channels=-1, flow_dropout=0.0, pretrain_steps=100, pretrain_batch=64, flow_lr=2e-3,
    retrain_steps=6, retrain_batch=32, retrain_lr=1e-3, ode_steps=2,
    N=128, n=32, K=5, tau=1.0, gamma=10.0, T=2, n_ref=400, inception_fid=False,
    targets=DIGIT_TARGETS, balanced_M=[1, 2, 3], polarized_q=[0.0, 0.5],
)

CPU = dict(
    SMOKE,
    dataset="fashion-mnist", image_size=16,
    classifier_width=32, classifier_steps=1500, classifier_batch=128, classifier_lr=2e-3,
    pretrain_steps=1500, pretrain_batch=128, flow_lr=1e-3,
    retrain_steps=50, retrain_batch=128, retrain_lr=5e-4, ode_steps=4,
    N=1000, n=250, K=10, T=6, n_ref=2000,
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
