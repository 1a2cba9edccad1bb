"""Stage core for f_r: train the joint regression network on cropped frames.

:class:`RegressionTask` is the f_r stage for :func:`engine.run_stage`: L2 loss on the
joint targets of :func:`handpose_core.nets.regnet.uvd_to_target`, optional in-plane
rotation / shift / depth-offset augmentation applied to the crop, its part labels and
its joints alike (``TrainConfig.rotate_deg``, ``shift_px``, ``depth_jitter``), and
validation in millimetres (``val_mm``: mean 3D joint error on the held-out frames;
``val_score = -val_mm`` selects ``best.pt``).

**Guidance hook** (HandMap's dense guidance maps). A :class:`GuidanceHook` brings a head
that reads :meth:`RegNet.features` and its own loss; the task attaches the head to the
model (so the optimiser trains it and checkpoints keep it) and adds
``weight * hook.loss(head(features), hook.targets(...))`` to the joint loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..camera import NYU_CAMERA
from ..nets.regnet import ARCHITECTURE, RegNet, target_to_uvd
from ..progress import check_cancel
from .augment import augment
from .config import TrainConfig

REG_TRAIN = TrainConfig(epochs=40, batch_size=32, optimizer="adam", lr=1e-3, weight_decay=0.0,
                        schedule="cosine", warmup_steps=50, final_lr_fraction=0.02,
                        rotate_deg=0.0, shift_px=0.0, depth_jitter=0.0,
                        background_weight=1.0, val_max=500)
"""Default training of f_r: Adam (as the paper), cosine decay."""


class GuidanceHook(Protocol):
    """A dense-guidance module for f_r (built by ``handpose_core.guidance``).

    ``head``: module mapping f_r's guidance features (``RegNet.guidance_features``) to maps;
    ``weight``: factor of its loss; ``targets(joints, labels, depth)``: the target maps
    of a batch as a tensor, from its (augmented) joints ``(B, J, 3)`` in f_r target
    coordinates, part labels ``(B, S, S)`` int64 and depth crops ``(B, 1, S, S)``;
    ``loss(pred, target)``: a scalar tensor.
    """

    head: nn.Module
    weight: float

    def targets(self, joints: torch.Tensor, labels: torch.Tensor,
                depth: torch.Tensor) -> torch.Tensor: ...

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...


@dataclass
class Batch:
    depth: torch.Tensor    # (B, 1, S, S) float32
    labels: torch.Tensor   # (B, S, S) int64 (zeros when the variant needs none)
    target: torch.Tensor   # (B, J, 3) float32


class RegressionTask:
    """The f_r training stage for :func:`engine.run_stage`.

    ``depth`` (N, S, S) float32 crops, ``labels`` (N, S, S) uint8 (f_s maps, or None for
    the silhouette variants), ``target`` (N, J, 3) float32, ``tfs`` (N, 11) crop
    transforms and ``gt_uvd`` (N, J, 3) full-frame joints for validation in mm.
    """

    architecture = ARCHITECTURE
    select_metric = "val_score"

    def __init__(self, model: RegNet, depth, labels, target, tfs, gt_uvd, train_idx, val_idx,
                 config: TrainConfig, describe: dict, stage: str,
                 guidance: GuidanceHook | None = None):
        self.model, self.model_config = model, model.config
        self.depth = depth
        self.labels = labels if labels is not None else np.zeros(depth.shape, np.uint8)
        self.target, self.tfs, self.gt_uvd = target, tfs, gt_uvd
        self.train_idx, self.val_idx = np.asarray(train_idx), np.asarray(val_idx)
        self.config, self.stage, self._describe = config, stage, describe
        self.guidance = guidance
        if guidance is not None:
            model.attach_guidance(guidance.head)
        self.images_per_batch = min(config.batch_size, len(self.train_idx))
        self.steps_per_epoch = max(1, len(self.train_idx) // config.batch_size)

    def describe(self) -> dict:
        return {**self._describe, "train": len(self.train_idx), "val": len(self.val_idx),
                "guidance": None if self.guidance is None else type(self.guidance).__name__}

    def batches(self, epoch: int, start: int):
        cfg = self.config
        order = np.random.default_rng([cfg.seed, epoch]).permutation(self.train_idx)
        bs = min(cfg.batch_size, len(order))
        for k in range(start, self.steps_per_epoch):
            idx = np.sort(order[k * bs:(k + 1) * bs])
            rng = np.random.default_rng([cfg.seed, epoch, k, 2])
            yield Batch(*augment(self.depth[idx], self.labels[idx], rng, cfg,
                                 self.target[idx]))

    def train_step(self, model, batch: Batch, cancel) -> float:
        check_cancel(cancel)
        dev = next(model.parameters()).device
        x, lab, t = batch.depth.to(dev), batch.labels.to(dev), batch.target.to(dev)
        pred, maps = model.forward_guided(x, lab)
        loss = F.mse_loss(pred, t)
        if self.guidance is not None and maps is not None:
            g = self.guidance
            loss = loss + g.weight * g.loss(maps, g.targets(t, lab, x))
        loss.backward()
        return float(loss.detach())

    def predict_uvd(self, model, idx, cancel=None) -> np.ndarray:
        """Full-frame predictions ``(len(idx), J, 3)`` of samples ``idx``."""
        model.eval()
        out = []
        step = max(1, self.config.val_batch)
        for s in range(0, len(idx), step):
            check_cancel(cancel)
            sel = idx[s:s + step]
            out.append(model.predict(self.depth[sel], self.labels[sel]))
        pred = np.concatenate(out) if out else np.zeros((0, model.config.num_joints, 3))
        return target_to_uvd(pred, self.tfs[idx])

    def validate(self, model, cancel) -> dict:
        if len(self.val_idx) == 0:
            return {}
        uvd = self.predict_uvd(model, self.val_idx, cancel)
        gt = self.gt_uvd[self.val_idx]
        e = np.linalg.norm(NYU_CAMERA.uvd_to_xyz(uvd) - NYU_CAMERA.uvd_to_xyz(gt), axis=-1)
        px = np.linalg.norm(uvd[..., :2] - gt[..., :2], axis=-1)
        mm = float(e.mean())
        return {"val_mm": mm, "val_px": float(px.mean()),
                "val_score": -mm if math.isfinite(mm) else -math.inf}
