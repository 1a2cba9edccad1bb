"""The dense guidance map supervision (GMS) module: a head, its loss and its targets (torch).

How a regressor plugs it in (the ``guidance`` setting of train-reg)::

    guidance = "none" | "heatmap" | "euclidean" | "geodesic"

    # in the model: one head on an intermediate feature map (B, C, h, w), any h, w
    self.guidance_head = GuidanceHead(C, n_joints=14, out_size=48) if guidance != "none" else None
    features = self.trunk(x)                       # (B, C, h, w)
    maps = self.guidance_head(features)            # (B, 14, 48, 48) in [0, 1]
    joints = self.regressor(features)

    # in the training step: targets computed on the fly from the batch (CPU, numpy)
    target = torch.from_numpy(guidance_targets(depth, joints_crop_xy, kind=guidance,
                                               labels=labels))    # (B, 14, 48, 48)
    loss = regression_loss + guidance_loss(maps, target, weight=lambda_g)

At inference the head is not needed (the joints come from the regressor); its maps are
what the studio shows as "predicted". The loss is the seed's: an L2 between predicted and
target maps, averaged over pixels and joints, times ``weight``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .maps import DEFAULT_SIGMA_PX, KINDS, guidance_maps_batch

GUIDANCE_SETTINGS = ("none", *KINDS)
"""Values of the regressors' ``guidance`` setting; "none" turns the head off."""

DEFAULT_GUIDANCE_WEIGHT = 1.0
"""Default weight of the guidance loss next to the regression loss."""


class GuidanceHead(nn.Module):
    """Predicts J guidance maps from an intermediate feature map.

    Input ``(B, in_channels, h, w)`` float; output ``(B, n_joints, out_size, out_size)``
    float in (0, 1) (sigmoid). Two 3x3 convolutions with batch norm and ReLU at the
    feature resolution, a 1x1 convolution to J maps, bilinear resizing to ``out_size``
    when h, w differ from it, and a sigmoid: the targets live in [0, 1].
    """

    def __init__(self, in_channels: int, n_joints: int = 14, out_size: int = 48, hidden: int = 32):
        super().__init__()
        if in_channels < 1 or n_joints < 1 or out_size < 2 or hidden < 1:
            raise ValueError(f"invalid GuidanceHead(in_channels={in_channels}, n_joints={n_joints}, "
                             f"out_size={out_size}, hidden={hidden})")
        self.in_channels, self.n_joints, self.out_size = int(in_channels), int(n_joints), int(out_size)
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, padding=1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(),
        )
        self.out = nn.Conv2d(hidden, n_joints, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim != 4 or features.shape[1] != self.in_channels:
            raise ValueError(f"GuidanceHead expects (B, {self.in_channels}, h, w) features, "
                             f"got {tuple(features.shape)}")
        x = self.out(self.body(features))
        if x.shape[-2:] != (self.out_size, self.out_size):
            x = F.interpolate(x, size=(self.out_size, self.out_size), mode="bilinear",
                              align_corners=False)
        return torch.sigmoid(x)


def guidance_loss(pred: torch.Tensor, target: torch.Tensor, weight: float = DEFAULT_GUIDANCE_WEIGHT,
                  joint_weight: torch.Tensor | None = None) -> torch.Tensor:
    """``weight`` x mean squared error of ``pred`` and ``target`` (both (B, J, S, S)).

    ``joint_weight`` (B, J) optional, e.g. 0 for joints whose target took a fallback you
    do not want to train on; the mean is then over the weighted joints. Returns a scalar
    tensor (differentiable in ``pred``)."""
    if pred.shape != target.shape or pred.ndim != 4:
        raise ValueError(f"guidance maps must be (B, J, S, S) of one shape, got prediction "
                         f"{tuple(pred.shape)} and target {tuple(target.shape)}")
    per = ((pred - target.to(pred.dtype)) ** 2).mean(dim=(2, 3))  # (B, J)
    if joint_weight is None:
        return weight * per.mean()
    if joint_weight.shape != per.shape:
        raise ValueError(f"joint_weight must be (B, J) = {tuple(per.shape)}, got "
                         f"{tuple(joint_weight.shape)}")
    jw = joint_weight.to(per.dtype)
    return weight * (per * jw).sum() / jw.sum().clamp_min(1e-6)


def guidance_targets(depth: np.ndarray, joints: np.ndarray, *, kind: str,
                     labels: np.ndarray | None = None, mask: np.ndarray | None = None,
                     sigma: float = DEFAULT_SIGMA_PX) -> np.ndarray:
    """Target maps of a batch: ``depth`` (B, S, S) float32 crops in [-1, 1], ``joints``
    (B, J, 2|3) crop pixels x, y[, z], optional part ``labels`` (B, S, S) (mask = depth < 1
    and label > 0) -> ``(B, J, S, S)`` float32 in [0, 1]. ``kind`` is one of
    :data:`~handpose_core.guidance.maps.KINDS` (not "none"). Fallbacks as in
    :mod:`~handpose_core.guidance.maps`."""
    maps, _ = guidance_maps_batch(depth, joints, kind=kind, labels=labels, mask=mask, sigma=sigma)
    return maps


def target_to_crop_xy(joints: np.ndarray, size: int) -> np.ndarray:
    """f_r's joint targets ``(..., 3)`` (x, y in [-1, 1] over the crop, as
    ``nets.regnet.uvd_to_target`` makes them) -> ``(..., 2)`` crop pixels x, y."""
    joints = np.asarray(joints, dtype=np.float64)
    return ((joints[..., :2] + 1.0) * size - 1.0) / 2.0


class DenseGuidance:
    """The GMS module as f_r's training task takes it (``training.regression.GuidanceHook``).

    ``head``: a :class:`GuidanceHead` on the trunk features; ``weight``: factor of its loss;
    :meth:`targets` computes the target maps of a batch on the fly (after augmentation, so
    they follow rotated / shifted crops); :meth:`loss` is :func:`guidance_loss` with weight 1
    (the task multiplies by :attr:`weight`).
    """

    def __init__(self, kind: str, *, channels: int, size: int, weight: float = DEFAULT_GUIDANCE_WEIGHT,
                 n_joints: int = 14, out_size: int | None = None):
        if kind not in KINDS:
            raise ValueError(f"guidance kind must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        self.weight = float(weight)
        self.out_size = int(out_size or 4 * size)
        self.head = GuidanceHead(channels, n_joints=n_joints, out_size=self.out_size)

    def targets(self, joints: torch.Tensor, labels: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """Target maps ``(B, J, S', S')`` float32 (S' = the head's ``out_size``) on the joints'
        device, from joints ``(B, J, 3)`` in f_r target coordinates, part labels ``(B, S, S)``
        (all zero for a crop = no segmentation: its mask is depth < 1 alone) and depth
        crops ``(B, 1, S, S)`` or ``(B, S, S)``."""
        d = depth.detach().float().cpu().numpy()
        d = d[:, 0] if d.ndim == 4 else d
        s = d.shape[-1]
        lab = labels.detach().cpu().numpy()
        mask = d < 1.0
        has = lab.reshape(len(lab), -1).any(1)
        mask[has] &= lab[has] > 0
        xy = target_to_crop_xy(joints.detach().float().cpu().numpy(), s)
        maps, _ = guidance_maps_batch(d, xy, kind=self.kind, mask=mask)
        out = torch.from_numpy(maps)
        if s != self.out_size:
            out = F.interpolate(out, size=(self.out_size, self.out_size), mode="bilinear",
                                align_corners=False)
        return out.to(joints.device)

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return guidance_loss(pred, target, weight=1.0)


def make_guidance_hook(kind: str, *, channels: int, size: int, weight: float = DEFAULT_GUIDANCE_WEIGHT,
                       n_joints: int = 14, out_size: int | None = None) -> DenseGuidance:
    """The GMS module for a regressor whose trunk features are ``(B, channels, size, size)``;
    maps are predicted and supervised at ``out_size`` (default ``4 * size``, the crop side
    of f_r). ``kind``: "heatmap", "euclidean" or "geodesic" ("none" means no hook)."""
    return DenseGuidance(kind, channels=channels, size=size, weight=weight, n_joints=n_joints,
                         out_size=out_size)
