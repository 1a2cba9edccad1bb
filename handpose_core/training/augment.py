"""Batch augmentation shared by the f_s and f_r stages (``TrainConfig.rotate_deg``,
``shift_px``, ``depth_jitter``): an in-plane rotation about the crop centre, a shift and
a depth offset of hand pixels, applied alike to the depth crop, its part labels and
(for f_r) its joints. Nearest-neighbour sampling keeps depth and labels aligned; there
are no flips (a left hand is not a right hand).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .config import TrainConfig


def augment(depth: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
            config: TrainConfig, joints: np.ndarray | None = None
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Randomly rotate, shift and depth-offset a batch.

    ``depth`` (B, S, S) float32 in [-1, 1] (+1 background), ``labels`` (B, S, S) uint8,
    ``joints`` (B, J, 3) float32 in f_r target coordinates (x, y in [-1, 1] across the
    crop, z in depth units) or None -> ``(depth (B, 1, S, S) float32, labels (B, S, S)
    int64, joints (B, J, 3) float32 or None)``. Pixels moved in from outside the crop are
    background (+1, label 0); the depth offset moves hand pixels (clamped to [-1, 0.999])
    and the joints' z alike. The draws from ``rng`` (angle, shift, offset for each crop)
    do not depend on ``joints``, so f_s and f_r batches of one seed move alike.
    """
    x = torch.from_numpy(np.ascontiguousarray(depth, np.float32)).unsqueeze(1)
    y = torch.from_numpy(np.ascontiguousarray(labels)).long()
    t = None if joints is None else torch.from_numpy(np.ascontiguousarray(joints, np.float32)).clone()
    b, s = x.shape[0], x.shape[-1]
    ang = np.deg2rad(rng.uniform(-config.rotate_deg, config.rotate_deg, b))
    shift = rng.uniform(-config.shift_px, config.shift_px, (b, 2)) * 2.0 / s
    offset = rng.uniform(-config.depth_jitter, config.depth_jitter, b)
    if config.rotate_deg > 0 or config.shift_px > 0:
        c, sn = np.cos(ang), np.sin(ang)
        a = np.stack([np.stack([c, -sn], 1), np.stack([sn, c], 1)], 1)  # (B, 2, 2)
        theta = torch.tensor(np.concatenate([a, shift[:, :, None]], 2), dtype=torch.float32)
        grid = F.affine_grid(theta, [b, 1, s, s], align_corners=False)
        # Sample (depth - 1) so that zero padding outside the crop reads as background.
        both = torch.cat([x - 1.0, y.unsqueeze(1).float()], 1)
        both = F.grid_sample(both, grid, mode="nearest", padding_mode="zeros",
                             align_corners=False)
        x, y = both[:, :1] + 1.0, both[:, 1].round().long()
        if t is not None:  # output p samples input A p + t: a joint at q moves to A^-1 (q - t)
            ainv = torch.tensor(np.linalg.inv(a), dtype=torch.float32)
            q = t[:, :, :2] - torch.tensor(shift, dtype=torch.float32)[:, None, :]
            t[:, :, :2] = torch.einsum("bij,bkj->bki", ainv, q)
    if config.depth_jitter > 0:
        off = torch.tensor(offset, dtype=torch.float32)
        fg = x < 1.0
        x = torch.where(fg, (x + off.view(b, 1, 1, 1)).clamp(-1.0, 0.999), x)
        if t is not None:
            t[:, :, 2] += off.view(b, 1)
    return x, y, t
