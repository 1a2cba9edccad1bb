"""The segmentation network f_s: a normalised depth crop -> 21 part classes per pixel.

Two presets, built from one frozen :class:`SegNetConfig`:

``paper`` -- faithful to Table 1 of Neverova et al.: 5x5 convolutions with 32, 64 and
128 maps, each followed by *overlapping* 2x2 / 2x2 / 1x1 max pooling with stride 1 (so
the 48x48 resolution is kept throughout), then two per-pixel hidden layers of 500 units
(1x1 convolutions) and a per-pixel output. ReLU everywhere; normalisation statistics are
taken over all pixels of the same image at training *and* test time (instance
normalisation with a learned scale and shift, as the paper describes f_s's "batch
normalisation"). Its convolutional receptive field is 15x15 pixels, which is why its
raw maps are noisy and worth restoring. About 1.3 GMAC per 48x48 frame. The paper feeds
the LCN image and adds the subtracted depth back at the output; here depth and LCN are
two input channels, the same information from the first layer on.

``fast`` -- the default on CPU, designed for accuracy per millisecond. A small
encoder-decoder: a stride-2 stem to 24x24, a stride-2 stage to 12x12 where three
dilated 3x3 convolutions (dilation 1, 2, 4) see the whole hand (which finger a pixel
belongs to depends on the whole hand, not a 15-pixel window), a bilinear decoder back
to 24x24 with an additive skip, and a per-pixel head at 48x48 that mixes the
upsampled context with a full-resolution path of three 3x3 convolutions (16 maps) on
the input, so part boundaries stay sharp. Batch normalisation (folded into the
convolutions by :meth:`SegNet.fuse`), channels-last friendly; 46 MMAC per frame against
1341 for ``paper`` (29x less), with a receptive field larger than the crop.

Why the 48x48 path: at 48x48 a hand's parts are a few pixels wide, so most errors sit
on part boundaries, which a full-resolution path keeps sharp; ``full_depth`` sets how
many 3x3 convolutions it has (3 by default). The experiments that chose it (depths,
widths, heads, upsampling) are in docs/f_s.md. Checkpoints saved before ``full_depth``
existed rebuild with their single 8-map convolution.

Inputs: channel "depth" is the crop itself (float32 in [-1, 1], +1 = background);
channel "lcn" is its local contrast normalisation (Gaussian window, kernel 9 as in the
paper) computed *inside* the network by :class:`LocalContrastNorm`. In-network LCN is
a fixed separable convolution -- two 9-tap passes, negligible next to the first
convolution -- so callers pass raw crops everywhere (training, evaluation, the studio)
and preprocessing can never differ between them; it matches
``datasets.crop.local_contrast_normalise`` to float precision. ``paper`` uses it as the
paper did; ``fast`` does not: with batch normalisation and a learned first layer, an
LCN channel gave no measurable gain (docs/f_s.md) and costs time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..configs import check_known_fields
from ..datasets.crop import DEFAULT_CROP_SIZE
from ..errors import BadInput

PRESETS = ("paper", "fast")
INPUTS = ("depth", "lcn", "depth+lcn")
ARCHITECTURE = "segnet"
"""Architecture name stored in checkpoints; the preset is part of the config."""

_PRESET_DEFAULTS = {
    # paper: conv maps of Table 1, 500-unit per-pixel hidden layers, LCN added to depth.
    "paper": {"inputs": "depth+lcn", "channels": (32, 64, 128), "hidden": 500, "full_depth": 0},
    # fast: 48x48 stem maps, 24x24 maps, 12x12 context maps; 32-unit per-pixel head.
    "fast": {"inputs": "depth", "channels": (16, 32, 64), "hidden": 32, "full_depth": 3},
}


@dataclass(frozen=True)
class SegNetConfig:
    """Architecture of f_s. ``None`` fields take the preset's default at construction.

    ``preset``: "paper" or "fast"; ``in_size``: crop side S in pixels (the network is
    fully convolutional, any S divisible by 4 works; 48 as in the paper);
    ``num_classes``: 21 (background + 20 parts); ``inputs``: "depth", "lcn" or
    "depth+lcn"; ``lcn_kernel``: odd Gaussian window of the LCN channel;
    ``channels``: three widths (see the module docstring); ``hidden``: per-pixel hidden
    units of the head; ``full_depth``: 3x3 convolutions of the fast preset's 48x48 path
    (0 for ``paper``, which has no such path).
    """

    preset: str = "fast"
    in_size: int = DEFAULT_CROP_SIZE
    num_classes: int = 21
    inputs: str | None = None
    lcn_kernel: int = 9
    channels: tuple[int, int, int] | None = None
    hidden: int | None = None
    full_depth: int | None = None

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise BadInput(f"unknown segnet preset {self.preset!r}; expected one of {PRESETS}")
        for name, value in _PRESET_DEFAULTS[self.preset].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if self.inputs not in INPUTS:
            raise BadInput(f"unknown segnet inputs {self.inputs!r}; expected one of {INPUTS}")
        if len(self.channels) != 3 or min(self.channels) < 1 or self.hidden < 1:
            raise BadInput(f"segnet channels must be 3 positive widths, got {self.channels}")
        if self.preset == "fast" and self.full_depth < 1:
            raise BadInput(f"fast segnet needs full_depth >= 1, got {self.full_depth}")
        if self.in_size < 8 or self.in_size % 4:
            raise BadInput(f"segnet in_size must be a multiple of 4 >= 8, got {self.in_size}")
        if self.num_classes < 2:
            raise BadInput(f"segnet needs at least 2 classes, got {self.num_classes}")
        if self.lcn_kernel < 3 or self.lcn_kernel % 2 == 0:
            raise BadInput(f"lcn_kernel must be odd and >= 3, got {self.lcn_kernel}")

    @property
    def in_channels(self) -> int:
        return 2 if self.inputs == "depth+lcn" else 1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SegNetConfig:
        check_known_fields(cls, d)
        d = dict(d)
        if d.get("preset") == "fast" and "full_depth" not in d:
            d["full_depth"] = 1  # checkpoints from before the field: one 48x48 convolution
        if d.get("channels") is not None:
            d["channels"] = tuple(d["channels"])
        return cls(**d)


class LocalContrastNorm(nn.Module):
    """Subtractive + divisive local contrast normalisation with a fixed Gaussian window.

    ``(N, 1, H, W)`` -> ``(N, 1, H, W)``; same formula and symmetric ("reflect" in
    OpenCV terms) borders as ``datasets.crop.local_contrast_normalise``. The divisor is
    floored per image by ``max(eps, mean local std)`` so flat regions stay near 0.
    """

    def __init__(self, kernel: int = 9, eps: float = 1e-2):
        super().__init__()
        sigma = kernel / 4.0
        x = np.arange(kernel, dtype=np.float64) - (kernel - 1) / 2.0
        g = np.exp(-(x * x) / (2.0 * sigma * sigma))
        g = torch.tensor(g / g.sum(), dtype=torch.float32)
        self.register_buffer("gx", g.view(1, 1, 1, kernel), persistent=False)
        self.register_buffer("gy", g.view(1, 1, kernel, 1), persistent=False)
        self.pad = kernel // 2
        self.eps = eps

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        p = self.pad
        # Symmetric padding (edge pixel repeated), OpenCV's BORDER_REFLECT.
        x = torch.cat([x[..., :p].flip(-1), x, x[..., -p:].flip(-1)], dim=-1)
        x = F.conv2d(x, self.gx)
        x = torch.cat([x[..., :p, :].flip(-2), x, x[..., -p:, :].flip(-2)], dim=-2)
        return F.conv2d(x, self.gy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        centred = x - self._blur(x)
        std = self._blur(centred * centred).clamp_min(0.0).sqrt()
        floor = std.mean(dim=(-2, -1), keepdim=True).clamp_min(self.eps)
        return centred / torch.maximum(std, floor)


class ImageNormReLU(nn.Module):
    """Per-image normalisation + ReLU: ``InstanceNorm2d(affine=True)`` then ReLU, faster.

    Statistics (mean, variance over all H x W pixels of each image and channel) are taken
    at training and test time alike. One pass for E[x] and E[x^2] and one fused
    multiply-add beat PyTorch's instance norm several times over on CPU, above all in
    channels-last layout, where the native kernel copies the tensor back and forth.
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean((2, 3), keepdim=True)
        var = ((x * x).mean((2, 3), keepdim=True) - mean * mean).clamp_min(0.0)
        scale = self.weight.view(1, -1, 1, 1) * torch.rsqrt(var + self.eps)
        shift = self.bias.view(1, -1, 1, 1) - mean * scale
        # In place on a fresh tensor: addcmul's backward does not need its output.
        return torch.relu_(torch.addcmul(shift, x, scale))


class ConvNormReLU(nn.Sequential):
    """Conv (no bias) -> normalisation -> ReLU; ``fuse()`` folds a BatchNorm away.

    ``norm="batch"``: BatchNorm (running statistics at test time); ``norm="image"``:
    statistics over all pixels of each image, at training and test time (paper's f_s).
    """

    def __init__(self, cin, cout, k, *, stride=1, dilation=1, norm="batch"):
        pad = dilation * (k - 1) // 2
        conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dilation, bias=False)
        if norm == "batch":
            super().__init__(conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
        elif norm == "image":
            super().__init__(conv, ImageNormReLU(cout))
        else:
            raise ValueError(f"unknown norm {norm!r}")

    def fuse(self) -> None:
        if isinstance(self[1], nn.BatchNorm2d) and not self.training:
            self[0] = torch.nn.utils.fusion.fuse_conv_bn_eval(self[0], self[1])
            self[1] = nn.Identity()


class OverlapMaxPool(nn.Module):
    """2x2 max pooling over windows shifted by one pixel: stride 1, resolution kept."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Inputs follow a ReLU (>= 0), so zero padding acts like -inf padding.
        return F.max_pool2d(F.pad(x, (0, 1, 0, 1)), kernel_size=2, stride=1)


class SegNet(nn.Module):
    """Base of both presets: input channels, inference helpers.

    ``forward``: ``(N, 1, S, S)`` float32 normalised depth -> ``(N, C, S, S)`` logits.
    """

    architecture = ARCHITECTURE
    infer_chunk = 256
    """Largest batch one forward pass should see at inference (cache-friendly size)."""
    train_chunk = 0
    """> 0: training may split a batch into chunks of this size and accumulate gradients
    (exact only when samples do not interact, i.e. with per-image normalisation)."""

    def __init__(self, config: SegNetConfig):
        super().__init__()
        self.config = config
        self.lcn = LocalContrastNorm(config.lcn_kernel) if "lcn" in config.inputs else None

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"segnet expects (N, 1, S, S) depth crops, got {tuple(x.shape)}")
        if self.config.inputs == "depth":
            return x
        lcn = self.lcn(x)
        return lcn if self.config.inputs == "lcn" else torch.cat([x, lcn], dim=1)

    def fuse(self) -> SegNet:
        """Fold BatchNorm into convolutions (eval mode only); returns ``self``."""
        if self.training:
            raise RuntimeError("fuse() is for inference: call model.eval() first")
        for m in self.modules():
            if isinstance(m, ConvNormReLU):
                m.fuse()
        return self

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def predict(self, depth_crops: np.ndarray, *, batch: int = 256,
                probabilities: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Label ``(N, S, S)`` (or ``(S, S)``) float32 crops; the model is put in eval mode.

        Returns ``labels`` ``(N, S, S)`` uint8 part ids and, if ``probabilities``,
        the softmax ``(N, C, S, S)`` float32 (else ``None``). A single crop gives
        ``(S, S)`` / ``(C, S, S)``.
        """
        a = np.asarray(depth_crops, dtype=np.float32)
        single = a.ndim == 2
        if single:
            a = a[None]
        if a.ndim != 3 or a.shape[1] != a.shape[2]:
            raise ValueError(f"predict expects (N, S, S) depth crops, got shape {a.shape}")
        self.eval()
        labels = np.empty(a.shape, dtype=np.uint8)
        probs = (np.empty((a.shape[0], self.config.num_classes, *a.shape[1:]), np.float32)
                 if probabilities else None)
        dev = self.device
        batch = max(1, min(batch, self.infer_chunk))
        with torch.inference_mode():
            for s in range(0, a.shape[0], batch):
                x = torch.tensor(a[s:s + batch]).unsqueeze(1).to(dev)  # copies: memmaps are read-only
                logits = self(x.contiguous(memory_format=torch.channels_last))
                labels[s:s + batch] = logits.argmax(1).to(torch.uint8).cpu().numpy()
                if probs is not None:
                    probs[s:s + batch] = torch.softmax(logits, 1).float().cpu().numpy()
        if single:
            return labels[0], (probs[0] if probs is not None else None)
        return labels, probs


class PaperSegNet(SegNet):
    """Table 1 of the seed paper (see the module docstring)."""

    # Per-image normalisation makes samples independent, so chunking is exact; 500-map
    # activations of a few frames fit in cache, of 64 frames they do not (chunks of 4
    # were the fastest measured: docs/f_s.md).
    infer_chunk = 4
    train_chunk = 4

    def __init__(self, config: SegNetConfig):
        super().__init__(config)
        c1, c2, c3 = config.channels
        h = config.hidden
        norm = "image"
        self.features = nn.Sequential(
            ConvNormReLU(config.in_channels, c1, 5, norm=norm), OverlapMaxPool(),
            ConvNormReLU(c1, c2, 5, norm=norm), OverlapMaxPool(),
            ConvNormReLU(c2, c3, 5, norm=norm),  # pooling 1x1: none
            ConvNormReLU(c3, h, 1, norm=norm),
            ConvNormReLU(h, h, 1, norm=norm),
        )
        self.classifier = nn.Conv2d(h, config.num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self._inputs(x)))


class FastSegNet(SegNet):
    """Small dilated encoder-decoder (see the module docstring)."""

    def __init__(self, config: SegNetConfig):
        super().__init__(config)
        c0, c1, c2 = config.channels
        cin = config.in_channels
        # 48x48 detail for the head (one conv: a ConvNormReLU, as checkpoints before
        # full_depth store it; more: a Sequential of them)
        full = [ConvNormReLU(cin if i == 0 else c0, c0, 3) for i in range(config.full_depth)]
        self.full = full[0] if len(full) == 1 else nn.Sequential(*full)
        self.down1 = nn.Sequential(ConvNormReLU(cin, c1, 5, stride=2),   # 24x24
                                   ConvNormReLU(c1, c1, 3))
        self.down2 = nn.Sequential(ConvNormReLU(c1, c2, 3, stride=2),    # 12x12
                                   ConvNormReLU(c2, c2, 3, dilation=1),
                                   ConvNormReLU(c2, c2, 3, dilation=2),
                                   ConvNormReLU(c2, c2, 3, dilation=4))
        self.lateral = nn.Conv2d(c2, c1, 1)
        self.up1 = ConvNormReLU(c1, c1, 3)                        # 24x24 after the skip
        self.head = ConvNormReLU(c1 + c0, config.hidden, 1)       # per pixel at 48x48
        self.classifier = nn.Conv2d(config.hidden, config.num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._inputs(x)
        full = self.full(x)
        s24 = self.down1(x)
        s12 = self.down2(s24)
        up = F.interpolate(self.lateral(s12), size=s24.shape[-2:], mode="bilinear",
                           align_corners=False)
        s24 = self.up1(s24 + up)
        up = F.interpolate(s24, size=full.shape[-2:], mode="bilinear", align_corners=False)
        return self.classifier(self.head(torch.cat([up, full], dim=1)))


def build_segnet(config: SegNetConfig) -> SegNet:
    """A freshly initialised f_s for ``config`` (float32, CPU, training mode)."""
    if not isinstance(config, SegNetConfig):
        raise TypeError(f"build_segnet needs a SegNetConfig, got {type(config).__name__}")
    cls = PaperSegNet if config.preset == "paper" else FastSegNet
    return cls(config)
