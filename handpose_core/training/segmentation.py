"""Stage core for f_s: train the segmentation network on labelled depth crops.

:func:`train_segmentation` reads a synthetic store (or any pair of ``(N, S, S)`` depth /
label arrays) memory-mapped, a batch at a time -- a sorted index slice per batch, so
even a store larger than RAM trains -- optionally augments it (shifts, rotations and
depth offsets; never flips, a left hand is not a right hand), minimises the per-pixel
negative log-likelihood, and keeps the checkpoint with the best validation accuracy on
hand pixels. The loop itself is :func:`engine.run_stage`.

Defaults (``TrainConfig()``, fast preset) are the bundled model's recipe: 6 epochs of
32-crop batches over a 40k-crop clean store, no augmentation, AdamW at 6e-3 with cosine
decay, background pixels weighted 0.2 so that the loss is not ruled by the pixels that
are not hand (most of a crop). What that recipe measured is in the bundled model's
manifest (``resources/models/segnet_fast.json``).

Augmentation is off because it cost accuracy on held-out synthetic and on real-like
frames: the renders already cover every roll, and every crop the project cuts
(synthetic, demo, NYU) is a cube around the ground-truth palm centre, so shifting,
rotating (nearest neighbour: jagged part boundaries) and depth-offsetting crops only
move the training data away from what the network is tested on. Validation accuracy
may swing between early epochs at the high learning rate; the best checkpoint is kept.
The experiments behind these choices (augmentations one by one, background weight,
learning rate, data repetition, BatchNorm re-estimation, weight averaging) are in
docs/f_s.md.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..datasets.synthetic import SyntheticStore
from ..errors import BadInput
from ..evaluation import segmentation_accuracy
from ..nets.checkpoint import load_segnet
from ..nets.segnet import ARCHITECTURE, SegNet, SegNetConfig, build_segnet
from ..progress import ProgressFn, check_cancel
from .augment import augment
from .config import TrainConfig
from .engine import TrainResult, keeps_torch_rng, run_stage

IGNORE = 255
"""Label of a pixel that neither the loss nor validation counts (an uncertain weak label)."""


def part_set_matrix(joint_parts, num_classes: int) -> torch.Tensor:
    """``(J, num_classes)`` float32: row j is 1 on the part ids of joint j's part set."""
    m = torch.zeros(len(joint_parts), num_classes)
    for j, parts in enumerate(joint_parts):
        for k in parts:
            if not 0 < k < num_classes:
                raise ValueError(f"part id {k} of joint {j} is not a hand class of "
                                 f"{num_classes}")
            m[j, k] = 1.0
    return m


def soft_barycenters(logits: torch.Tensor, part_sets: torch.Tensor, eps: float = 1e-6,
                     mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable barycenters of part sets: ``logits`` (B, C, S, S), ``part_sets``
    (J, C) 0/1 -> ``(centres (B, J, 2) as crop pixel (x, y), masses (B, J))``.

    Each pixel counts with the softmax probability of the part set (the sum over its
    parts), so the centre is the probability-weighted mean pixel index -- the quality
    check's 2D barycenter (mean pixel of the part set's pixels) with hard labels
    replaced by probabilities; a one-hot prediction gives exactly that barycenter.
    ``mask`` (B, S, S): only these pixels count (the crop's surface pixels: a pixel
    without depth cannot be hand, and the small probabilities of the many background
    pixels would otherwise pull every small part's centre towards the crop's middle)."""
    prob = torch.softmax(logits.float(), dim=1)
    q = torch.einsum("bchw,jc->bjhw", prob, part_sets.to(prob.device, prob.dtype))
    if mask is not None:
        q = q * mask.to(q.device, q.dtype)[:, None]
    s_h, s_w = logits.shape[-2:]
    ys = torch.arange(s_h, device=q.device, dtype=q.dtype)
    xs = torch.arange(s_w, device=q.device, dtype=q.dtype)
    mass = q.sum(dim=(2, 3))
    cx = (q.sum(dim=2) * xs).sum(-1) / (mass + eps)
    cy = (q.sum(dim=3) * ys).sum(-1) / (mass + eps)
    return torch.stack([cx, cy], dim=-1), mass


def joint_barycenter_loss(logits: torch.Tensor, joints: torch.Tensor, part_sets: torch.Tensor,
                          margin: torch.Tensor | None = None,
                          mask: torch.Tensor | None = None) -> torch.Tensor:
    """Weak joint loss per sample ``(B,)``: the mean over the scored joints (non-empty
    part sets, finite target) of ``max(0, |soft barycenter - joint| - margin_j)`` in crop
    pixels. ``joints`` (B, J, 2) crop pixel (x, y) of the annotated joints, NaN where a
    sample has none (its loss is 0); ``margin`` (J,) px or None (0); ``mask`` (B, S, S)
    the pixels that count (:func:`soft_barycenters`)."""
    centres, _ = soft_barycenters(logits, part_sets, mask=mask)
    tgt = joints.to(centres.device, centres.dtype)
    ok = torch.isfinite(tgt).all(-1) & (part_sets.sum(1) > 0).to(centres.device)[None]
    diff = centres - torch.where(torch.isfinite(tgt), tgt, torch.zeros_like(tgt))
    dist = torch.sqrt((diff ** 2).sum(-1) + 1e-6)
    if margin is not None:
        dist = (dist - margin.to(dist.device, dist.dtype)[None]).clamp_min(0.0)
    dist = torch.where(ok, dist, torch.zeros_like(dist))
    return dist.sum(-1) / ok.sum(-1).clamp_min(1)


def _open_source(store_or_arrays) -> tuple[np.ndarray, np.ndarray, dict]:
    """-> depth (N,S,S) float32, labels (N,S,S) uint8 (memmaps stay memmaps), description."""
    if isinstance(store_or_arrays, (str, os.PathLike)):
        store_or_arrays = SyntheticStore.open(store_or_arrays)
    if isinstance(store_or_arrays, SyntheticStore):
        s = store_or_arrays
        keep = ("style", "seed", "count", "size", "cube_mm")
        desc = {"source": str(Path(s.root).resolve()),
                **{k: s.meta[k] for k in keep if k in s.meta}}
        return s.depth, s.labels, desc
    if isinstance(store_or_arrays, dict):
        depth, labels = store_or_arrays["depth"], store_or_arrays["labels"]
    else:
        depth, labels = store_or_arrays
    if depth.ndim != 3 or depth.shape != labels.shape or depth.shape[1] != depth.shape[2]:
        raise ValueError(f"segmentation data must be (N, S, S) depth and labels of one shape, "
                         f"got {depth.shape} and {labels.shape}")
    return depth, labels, {"source": "arrays", "count": int(depth.shape[0]),
                           "size": int(depth.shape[1])}


def freeze_all_but_head(model) -> int:
    """Leave only the per-pixel head and classifier trainable; returns the number of
    parameters still trained."""
    keep = [m for m in (getattr(model, "head", None), getattr(model, "classifier", None))
            if m is not None]
    if not keep:
        raise BadInput(f"{type(model).__name__} has no per-pixel head to tune alone")
    for p in model.parameters():
        p.requires_grad_(False)
    n = 0
    for m in keep:
        for p in m.parameters():
            p.requires_grad_(True)
            n += p.numel()
    return n



class WeakTargets:
    """What fine-tuning on weakly labelled frames adds to f_s's loss, per sample.

    ``joints`` (N, J, 2) float32: annotated joints in crop pixels (x, y), NaN rows for
    samples without any (synthetic crops); ``sample_weight`` (N,) float32 scales each
    sample's per-pixel NLL (1 for synthetic crops; 0 leaves only the joint loss);
    ``joint_weight``: weight of :func:`joint_barycenter_loss` (per image of a batch)
    over the part sets ``part_sets`` (J, C), with a per-joint ``margin`` (J,) px or None.
    """

    def __init__(self, joints, sample_weight, part_sets: torch.Tensor, joint_weight: float,
                 margin=None):
        self.joints = np.asarray(joints, np.float32)
        self.sample_weight = np.asarray(sample_weight, np.float32)
        if self.joints.ndim != 3 or self.joints.shape[2] != 2 \
                or self.joints.shape[1] != part_sets.shape[0]:
            raise ValueError(f"joints must be (N, {part_sets.shape[0]}, 2), got "
                             f"{self.joints.shape}")
        if self.sample_weight.shape != (self.joints.shape[0],):
            raise ValueError(f"sample_weight must be ({self.joints.shape[0]},), got "
                             f"{self.sample_weight.shape}")
        if not np.isfinite(self.sample_weight).all() or (self.sample_weight < 0).any():
            raise ValueError("sample weights must be finite and >= 0")
        if joint_weight < 0:
            raise ValueError(f"joint_weight must be >= 0, got {joint_weight}")
        self.part_sets, self.joint_weight = part_sets, float(joint_weight)
        self.margin = None if margin is None else torch.as_tensor(np.asarray(margin,
                                                                             np.float32))

    def batch(self, idx, augment_fn, depth, labels, rng, cfg, total_weight):
        """``(x, y, norm, joints (B, J, 2) crop px, sample weights (B,))`` of samples
        ``idx``; the joints move with the augmentation."""
        s = depth.shape[-1]
        j = self.joints[idx]
        # crop pixel index -> augment's [-1, 1] (pixel centres at (2i + 1) / S - 1)
        j3 = np.concatenate([(2.0 * j + 1.0) / s - 1.0, np.zeros_like(j[..., :1])], -1)
        x, y, t = augment_fn(depth[idx], labels[idx], rng, cfg, joints=j3)
        jt = ((t[..., :2] + 1.0) * s - 1.0) / 2.0
        sw = torch.from_numpy(self.sample_weight[idx])
        return x, y, total_weight(y, sw), jt, sw


class SegmentationTask:
    """The f_s training stage for :func:`engine.run_stage`."""

    architecture = ARCHITECTURE
    select_metric = "val_acc"

    def __init__(self, model: SegNet, depth, labels, train_idx, val_idx, config: TrainConfig,
                 describe: dict, stage: str, class_weight=None, weak=None):
        self.model, self.model_config = model, model.config
        self.weak = weak
        self.depth, self.labels = depth, labels
        self.train_idx, self.val_idx = train_idx, val_idx
        self.config, self.stage, self._describe = config, stage, describe
        self.images_per_batch = min(config.batch_size, len(train_idx))
        # Drop the last incomplete batch: batch statistics of a handful of crops are noise.
        self.steps_per_epoch = max(1, len(train_idx) // config.batch_size)
        w = torch.ones(model.config.num_classes)
        if class_weight is not None:
            w = torch.as_tensor(np.asarray(class_weight, np.float32)).clone()
        w[0] = config.background_weight
        self.class_weight = w

    def describe(self) -> dict:
        return {**self._describe, "train": len(self.train_idx), "val": len(self.val_idx)}

    def batches(self, epoch: int, start: int):
        cfg = self.config
        order = np.random.default_rng([cfg.seed, epoch]).permutation(self.train_idx)
        for k in range(start, self.steps_per_epoch):
            idx = np.sort(order[k * cfg.batch_size:(k + 1) * cfg.batch_size])
            rng = np.random.default_rng([cfg.seed, epoch, k, 1])
            if self.weak is None:
                yield augment(self.depth[idx], self.labels[idx], rng, cfg)[:2]
                continue
            yield self.weak.batch(idx, augment, self.depth, self.labels, rng, cfg,
                                  self._total_weight)

    def _total_weight(self, y: torch.Tensor, sample_weight: torch.Tensor | None = None
                      ) -> torch.Tensor:
        w = self.class_weight.to(y.device)
        counted = y != IGNORE
        pw = w[torch.where(counted, y, 0)] * counted
        if sample_weight is not None:
            pw = pw * sample_weight.to(pw.device, pw.dtype)[:, None, None]
        return pw.sum().clamp_min(1e-12)

    def shard(self, batch, rank: int, world: int):
        """Rank ``rank``'s share of a batch for a distributed run: ``(x, y, norm)``
        with ``norm`` the whole batch's loss weight over ``world``, so that the
        processes' averaged gradients are those of the whole batch."""
        from .distributed import shard_range

        x, y = batch[:2]
        sl = shard_range(x.shape[0], rank, world)
        if self.weak is not None:  # (x, y, norm, joints, sample weights): cut all but norm
            return (x[sl], y[sl], batch[2] / world, batch[3][sl], batch[4][sl])
        return x[sl], y[sl], self._total_weight(y) / world

    def train_step(self, model, batch, cancel) -> float:
        x, y = batch[:2]
        dev = next(model.parameters()).device
        x = x.to(dev).contiguous(memory_format=torch.channels_last)
        y = y.to(dev)
        w = self.class_weight.to(dev)
        total_w = batch[2].to(dev) if len(batch) > 2 else self._total_weight(y)
        joints = batch[3].to(dev) if len(batch) > 3 else None
        sw = batch[4].to(dev) if len(batch) > 4 else None
        chunk = model.train_chunk or x.shape[0]
        loss_sum = 0.0
        for s in range(0, x.shape[0], chunk):
            check_cancel(cancel)
            logits = model(x[s:s + chunk])
            # Sum / total weight of the whole batch: chunked = unchunked, exactly.
            if sw is None:
                loss = F.cross_entropy(logits, y[s:s + chunk], weight=w, reduction="sum",
                                       ignore_index=IGNORE) / total_w
            else:
                nll = F.cross_entropy(logits, y[s:s + chunk], weight=w, reduction="none",
                                      ignore_index=IGNORE)
                loss = (nll * sw[s:s + chunk, None, None]).sum() / total_w
            if joints is not None and self.weak.joint_weight > 0:
                surface = x[s:s + chunk, 0] < 1.0  # +1: no surface in the crop's cube
                jl = joint_barycenter_loss(logits, joints[s:s + chunk], self.weak.part_sets,
                                           self.weak.margin, mask=surface)
                # per image of the whole (global) batch, so chunks and shards add up
                loss = loss + self.weak.joint_weight * jl.sum() / self.images_per_batch
            loss.backward()
            loss_sum += float(loss.detach())
        return loss_sum

    def validate(self, model, cancel) -> dict:
        if len(self.val_idx) == 0:
            return {}
        model.eval()
        dev = next(model.parameters()).device
        n = len(self.val_idx)
        step = max(1, min(self.config.val_batch, model.infer_chunk))
        pred = np.empty((n, *self.labels.shape[1:]), np.uint8)
        gt = np.empty_like(pred)
        nll = 0.0
        with torch.inference_mode():
            for s in range(0, n, step):
                check_cancel(cancel)
                idx = self.val_idx[s:s + step]
                x = torch.from_numpy(np.asarray(self.depth[idx], np.float32)).unsqueeze(1)
                y = np.asarray(self.labels[idx])
                logits = model(x.to(dev).contiguous(memory_format=torch.channels_last))
                yt = torch.from_numpy(y).long().to(dev)
                nll += float(F.cross_entropy(logits, yt, reduction="sum", ignore_index=IGNORE))
                pred[s:s + step] = logits.argmax(1).to(torch.uint8).cpu().numpy()
                gt[s:s + step] = y
        counted = gt != IGNORE
        pred, gt = pred[counted], gt[counted]
        acc = segmentation_accuracy(pred, gt)
        bg = gt == 0
        return {"val_acc": float(acc.per_pixel), "val_class_acc": float(acc.per_class),
                "val_bg_acc": float((pred[bg] == 0).mean()) if bg.any() else math.nan,
                "val_loss": nll / max(1, gt.size)}


def split_indices(n: int, val_fraction: float, seed: int, val_max: int):
    """Seeded train / validation split of ``range(n)``: two sorted int64 arrays."""
    if not 0.0 <= val_fraction < 1.0:
        raise BadInput(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = 0 if val_fraction == 0 else max(1, int(round(val_fraction * n)))
    n_val = min(n_val, val_max, n - 1)
    perm = np.random.default_rng([seed, 7919]).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


@keeps_torch_rng
def train_segmentation(store_or_arrays, config: TrainConfig | None, out_dir: str | os.PathLike,
                       *, net: SegNetConfig | None = None, init_from: str | os.PathLike | None = None,
                       stage: str = "pretrain-seg", val_fraction: float = 0.05,
                       progress: ProgressFn | None = None, cancel=None,
                       resume: bool = True, class_weight=None,
                       weak: WeakTargets | None = None, tune: str = "all") -> TrainResult:
    """Train f_s on ``store_or_arrays`` and write a run to ``out_dir``.

    ``store_or_arrays``: a ``SyntheticStore``, its directory, or ``(depth, labels)``
    arrays ``(N, S, S)`` float32 / uint8. ``config``: ``TrainConfig()`` if None.
    ``net``: architecture, default ``SegNetConfig("fast", in_size=S)``; ``init_from``: a
    checkpoint to start from (fine-tuning; its architecture is used and ``net`` must
    agree). A seeded ``val_fraction`` of the samples (at most ``config.val_max``) is held
    out; ``best.pt`` has the best per-pixel accuracy on their hand pixels. See
    :func:`engine.run_stage` for files, resuming, cancelling. Labels may hold
    :data:`IGNORE` (255) for pixels that count neither in the loss nor in validation;
    ``class_weight`` (num_classes,) scales each class's loss (the background's is
    ``config.background_weight`` regardless). ``weak``: per-sample joint targets and
    NLL weights (:class:`WeakTargets`, indexed like the samples) for fine-tuning.
    ``tune``: "all" parameters, or "head" (only the per-pixel head and classifier).
    """
    config = config or TrainConfig()
    depth, labels, desc = _open_source(store_or_arrays)
    n, size = int(depth.shape[0]), int(depth.shape[1])
    if config.max_samples > 0:
        n = min(n, config.max_samples)
        depth, labels = depth[:n], labels[:n]
    if n < 2:
        raise BadInput(f"{desc['source']}: need at least 2 samples to train, got {n}")
    init = None
    if init_from is not None:
        model, init_cfg, _ = load_segnet(init_from)
        if net is not None and net != init_cfg:
            raise BadInput(f"{init_from}: its network config differs from the requested one")
        net, init = init_cfg, str(init_from)
    net = net or SegNetConfig("fast", in_size=size)
    if net.in_size != size:
        raise BadInput(f"{desc['source']}: crops are {size}x{size} but the network expects "
                       f"{net.in_size}x{net.in_size}")
    if init is None:
        torch.manual_seed(config.seed)
        model = build_segnet(net)
    if tune not in ("all", "head"):
        raise BadInput(f"tune must be 'all' or 'head', got {tune!r}")
    if tune == "head":
        desc = {**desc, "tune": "head", "trained_parameters": freeze_all_but_head(model)}
    model = model.to(memory_format=torch.channels_last).train()
    train_idx, val_idx = split_indices(n, val_fraction, config.seed, config.val_max)
    desc = {**desc, "val_fraction": val_fraction, **({"init_from": init} if init else {})}
    if class_weight is not None:
        desc = {**desc, "class_weight": [round(float(v), 4) for v in class_weight]}
    if weak is not None:
        if len(weak.joints) < n:
            raise ValueError(f"weak targets cover {len(weak.joints)} samples, data has {n}")
        desc = {**desc, "joint_weight": weak.joint_weight,
                "weak_frames": int(np.isfinite(weak.joints[:n]).all(-1).any(-1).sum())}
    task = SegmentationTask(model, depth, labels, train_idx, val_idx, config, desc, stage,
                            class_weight=class_weight, weak=weak)
    return run_stage(task, config, out_dir, progress=progress, cancel=cancel, resume=resume)
