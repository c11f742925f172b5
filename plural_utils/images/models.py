"""Networks of the image experiments, with their training and sampling loops.

* :class:`SmallCNN` - the cpu/smoke classifier (and, with one output, a reward regressor);
  its penultimate layer is the feature space of our "FID (classifier features)".
* :class:`VGG11` - the paper's classifier (Simonyan and Zisserman, 2015), CIFAR variant
  (batch norm, 512-d head), written here so that torchvision is not needed.
* :func:`make_flow` - torchcfm's ``UNetModelWrapper`` (Tong et al., 2023), the velocity
  field ``v_theta(t, x)`` of the OT-CFM flow of Sec. 4.2.

Training and sampling are batched over images; nothing loops over single samples.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from torch import nn

CLASSIFIER_ARCHS = ("small_cnn", "vgg11")
_VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class SmallCNN(nn.Module):
    """Two conv blocks, global average pooling, a ``width``-d feature layer and a linear head."""

    def __init__(self, in_channels: int, n_outputs: int, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(2 * width, 2 * width), nn.ReLU(),
        )
        self.head = nn.Linear(2 * width, n_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (the FID feature space at the cpu and smoke profiles)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class VGG11(nn.Module):
    """VGG11 with batch norm for 32 x 32 inputs (configuration "A" of Simonyan and Zisserman, 2015)."""

    def __init__(self, in_channels: int = 3, n_outputs: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for v in _VGG11:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
                c = v
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(512, n_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def make_classifier(arch: str, in_channels: int, n_outputs: int, width: int = 32) -> nn.Module:
    """A fresh classifier of architecture ``arch`` (one of :data:`CLASSIFIER_ARCHS`)."""
    if arch == "small_cnn":
        return SmallCNN(in_channels, n_outputs, width)
    if arch == "vgg11":
        return VGG11(in_channels, n_outputs)
    raise ValueError(f"classifier arch={arch!r} is not supported; allowed values: {', '.join(CLASSIFIER_ARCHS)}")


def make_flow(shape, channels: int, res_blocks: int = 1, channel_mult=(1, 2), attention: str = "",
              heads: int = 1, head_channels: int = -1, dropout: float = 0.0) -> nn.Module:
    """torchcfm's UNet as the velocity field of the flow; ``attention=""`` has no attention layer.

    The paper profile uses the configuration of torchcfm's CIFAR-10 example
    (``channels=128, res_blocks=2, channel_mult=(1, 2, 2, 2), attention="16", heads=4,
    head_channels=64, dropout=0.1``), the one Ferbach et al. (2024) retrain.
    """
    from torchcfm.models.unet.unet import UNetModelWrapper

    # torchcfm adds attention at resolutions image_size // r; r = 2 * side is never reached.
    attn = attention or str(2 * shape[-1])
    return UNetModelWrapper(dim=tuple(shape), num_channels=channels, num_res_blocks=res_blocks,
                            channel_mult=tuple(channel_mult), attention_resolutions=attn, num_heads=heads,
                            num_head_channels=head_channels, dropout=dropout)


def state_dict_cpu(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def load_weights(model: nn.Module, tensors: Mapping[str, torch.Tensor]) -> nn.Module:
    model.load_state_dict(dict(tensors))
    return model


def _batches(n: int, batch: int, steps: int, gen: torch.Generator):
    """``steps`` index batches drawn by reshuffling epochs of ``n`` items."""
    done = 0
    while done < steps:
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n - batch + 1 if n >= batch else 1, batch):
            if done == steps:
                return
            yield perm[start:start + batch]
            done += 1


def train_supervised(model: nn.Module, x: np.ndarray, y: np.ndarray, steps: int, batch: int, lr: float,
                     loss: str, seed: int, device: str = "cpu", progress: bool = False) -> nn.Module:
    """Adam with a cosine schedule on ``loss``: ``"ce"`` (integer ``y``), ``"bce"`` or ``"mse"`` (float ``y``)."""
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model.to(device).train()
    xt = torch.as_tensor(x)
    yt = torch.as_tensor(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    losses = {"ce": nn.functional.cross_entropy, "bce": nn.functional.binary_cross_entropy_with_logits,
              "mse": nn.functional.mse_loss}
    if loss not in losses:
        raise ValueError(f"loss={loss!r} is not supported; allowed values: {', '.join(losses)}")
    fn = losses[loss]
    for idx in tqdm(_batches(len(xt), batch, steps, gen), total=steps, disable=not progress, desc="train"):
        xb = xt[idx].to(device)
        out = model(xb)
        target = yt[idx].to(device)
        value = fn(out if loss == "ce" else out.squeeze(-1), target)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray | torch.Tensor, batch: int = 1024, device: str = "cpu",
            features: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Outputs (logits) and, with ``features=True``, penultimate features, batched."""
    model.to(device).eval()
    xt = torch.as_tensor(x)
    outs, feats = [], []
    for start in range(0, len(xt), batch):
        xb = xt[start:start + batch].to(device)
        f = model.features(xb)
        outs.append(model.head(f).cpu())
        if features:
            feats.append(f.cpu())
    out = torch.cat(outs).numpy().astype(np.float64)
    return out, (torch.cat(feats).numpy().astype(np.float64) if features else None)


def train_flow(flow: nn.Module, x: np.ndarray, steps: int, batch: int, lr: float, seed: int,
               device: str = "cpu", progress: bool = False, desc: str = "flow") -> nn.Module:
    """OT conditional flow matching (Tong et al., 2023, Alg. 3 with ``sigma = 0``) for ``steps`` steps.

    Each minibatch of data is paired with Gaussian noise by an exact OT plan
    (``ExactOptimalTransportConditionalFlowMatcher``) and ``v_theta(t, x_t)`` is
    regressed on ``x_1 - x_0``. A fresh Adam optimiser per call: "retrain"
    continues from the current weights for a fixed number of steps (Ferbach et al., 2024).
    """
    from torchcfm.conditional_flow_matching import ExactOptimalTransportConditionalFlowMatcher
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))  # the OT pairing samples its plan with numpy's global generator
    matcher = ExactOptimalTransportConditionalFlowMatcher(sigma=0.0)
    flow.to(device).train()
    data = torch.as_tensor(x)
    opt = torch.optim.Adam(flow.parameters(), lr=lr)
    for idx in tqdm(_batches(len(data), min(batch, len(data)), steps, gen), total=steps,
                    disable=not progress, desc=desc, leave=False):
        x1 = data[idx].to(device)
        x0 = torch.randn(x1.shape, generator=gen).to(device)
        t, xt, ut = matcher.sample_location_and_conditional_flow(x0, x1)
        loss = ((flow(t, xt) - ut) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), 1.0)
        opt.step()
    return flow.eval()


@torch.no_grad()
def sample_flow(flow: nn.Module, n: int, shape, ode_steps: int, seed: int, batch: int = 2048,
                device: str = "cpu") -> np.ndarray:
    """``n`` images from the flow: Gaussian noise pushed through ``dx/dt = v(t, x)`` by the midpoint rule.

    A fixed-step midpoint integrator over ``[0, 1]`` (two velocity calls per
    step), batched over images; the result is clipped to ``[-1, 1]``.
    """
    gen = torch.Generator().manual_seed(seed)
    flow.to(device).eval()
    out = []
    h = 1.0 / ode_steps
    for start in range(0, n, batch):
        m = min(batch, n - start)
        x = torch.randn((m, *shape), generator=gen).to(device)
        for k in range(ode_steps):
            t = torch.full((m,), k * h, device=device)
            mid = x + 0.5 * h * flow(t, x)
            x = x + h * flow(t + 0.5 * h, mid)
        out.append(x.clamp(-1, 1).cpu())
    return torch.cat(out).numpy()
