"""Stage ``train-reg`` (seed paper, step 5 and Table 4): the joint regression network f_r.

``--variant`` picks the row of Table 4:

- ``a`` direct regression from the depth crop only (f_r with the hand silhouette as
  every joint's region of interest);
- ``b`` the cascade: the project's variant ``a`` is the first step; a second f_r is
  trained on tighter crops (``cascade_cube_mm``) around the first step's palm centre,
  jittered by ``cascade_jitter_mm`` (the first step fits its own training frames better
  than it will fit new ones); at test time it refines the first step;
- ``c`` f_r fed by the segmentation of the synthetic-only f_s (the project's
  pre-trained one);
- ``d`` f_r fed by the fine-tuned f_s (stage ``finetune-seg``): the full method.

It trains on the ``split`` frames' crops around the ground-truth palm centre (a seeded
``val_fraction`` held out for choosing the best epoch), then measures the mean 3D / 2D
joint error on the test split's frames and makes the model the project's f_r of that
variant. A hand centre detected from depth alone is off the palm (on the demo by a
median ~20 mm, biased towards the wrist), and an f_r that has seen only ground-truth
centred crops is then about twice as wrong; ``centre_copies`` adds, per training frame,
crops around the ground-truth palm centre moved by Gaussian noise (``centre_jitter_mm``
per axis), and ``detected_centres`` a crop around the centre that
:func:`handpose_core.detection.detect_center` finds in the frame (the detector's own
error distribution). For the cascade (b) the first step then predicts from those
centres too. ``guidance`` plugs HandMap's dense guidance head (``handpose_core.guidance``)
onto f_r (:meth:`RegNet.guidance_features`: the trunk's S/4 maps, or with ``guidance_at``
"early" the first convolution's S x S maps) for variants a and d: its
maps of the batch's crops are an extra L2 loss weighted ``guidance_weight``. A run with
the same settings resumes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from ..camera import NYU_CAMERA
from ..datasets.crop import crop_depth, crop_transform
from ..detection import NoHandError, detect_center
from ..errors import BadInput
from ..fileio import write_json_atomic
from ..nets.checkpoint import load_regnet
from ..nets.inference import load_segnet_model, predict_labels, segnet_path
from ..nets.joints import PALM_14, JointPredictor, regnet_path, set_regnet_path
from ..nets.regnet import GUIDANCE_AT, VARIANT_TITLES, VARIANTS, RegNetConfig, build_regnet, uvd_to_target
from ..progress import check_cancel, phase_progress
from ..skeleton import joints_36_to_14
from ..training.config import TrainConfig
from ..training.engine import keeps_torch_rng, run_stage
from ..training.regression import REG_TRAIN, RegressionTask
from ..training.segmentation import split_indices
from .base import recorded_run
from .evaluate import measure_variant

NAME = "train-reg"
GUIDANCE = ("none", "heatmap", "euclidean", "geodesic")


@dataclass(frozen=True)
class TrainRegSettings:
    variant: str = field(default="d", metadata={
        "choices": VARIANTS,
        "help": "a: direct regression, b: cascade, c: f_r + synthetic-only f_s, "
                "d: f_r + fine-tuned f_s (Table 4)"})
    split: str = field(default="train", metadata={"help": "frames to train on"})
    test_split: str = field(default="test", metadata={"help": "frames to measure on"})
    val_fraction: float = field(default=0.05, metadata={
        "help": "share of the training frames held out to choose the best epoch"})
    channels: int = field(default=32, metadata={"help": "f_r trunk maps (paper 32)"})
    hidden: int = field(default=128, metadata={"help": "units of each joint's FC layer "
                                                      "(paper 1200)"})
    inception: int = field(default=16, metadata={"help": "maps of each joint's Inception "
                                                         "module"})
    cascade_cube_mm: float = field(default=200.0, metadata={
        "help": "variant b: cube of the refinement's tighter crop (mm)"})
    cascade_jitter_mm: float = field(default=10.0, metadata={
        "help": "variant b: std of the noise added to the first step's centres (mm)"})
    cascade_copies: int = field(default=3, metadata={
        "help": "variant b: jittered crops per training frame"})
    cascade_init: bool = field(default=True, metadata={
        "help": "variant b: start the refinement from the first step's weights"})
    centre_copies: int = field(default=0, metadata={
        "help": "extra training crops per frame around the ground-truth palm centre "
                "moved by noise (robustness to detected centres)"})
    centre_jitter_mm: float = field(default=15.0, metadata={
        "help": "std per axis (mm) of that noise"})
    detected_centres: bool = field(default=False, metadata={
        "help": "also train on a crop around each frame's centre detected from depth"})
    guidance: str = field(default="none", metadata={
        "choices": GUIDANCE,
        "help": "dense guidance head on f_r's trunk (variants a, d): none, heatmap, "
                "euclidean or geodesic"})
    guidance_at: str = field(default="trunk", metadata={
        "choices": GUIDANCE_AT,
        "help": "where the guidance head reads f_r: trunk (its output, S/4) or early (the "
                "first convolution's maps at S x S, before pooling; see docs/guidance.md)"})
    guidance_feedback: bool = field(default=False, metadata={
        "help": "feed the guidance maps (pooled to S/4) into the features f_r's per-joint "
                "layers read; the head is then part of the model at inference"})
    guidance_weight: float = field(default=1.0, metadata={
        "help": "weight of the guidance loss (at 0.1 it changed nothing measurable on the "
                "demo; see docs/guidance.md)"})
    run_name: str = field(default="", metadata={
        "help": "folder under PROJECT/models (default train-reg-<variant>)"})
    restart: bool = field(default=False, metadata={
        "help": "train from scratch instead of resuming or re-evaluating a finished run"})
    train: TrainConfig = field(default_factory=lambda: REG_TRAIN, metadata={
        "help": "training hyper-parameters (--set key=value)"})

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise BadInput(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        if self.guidance not in GUIDANCE:
            raise BadInput(f"guidance must be one of {', '.join(GUIDANCE)}, "
                           f"got {self.guidance!r}")
        if self.guidance_at not in GUIDANCE_AT:
            raise BadInput(f"guidance_at must be one of {', '.join(GUIDANCE_AT)}, "
                           f"got {self.guidance_at!r}")
        if (self.guidance_at != "trunk" or self.guidance_feedback) and self.guidance == "none":
            raise BadInput("guidance_at / guidance_feedback need a guidance kind "
                           "(--guidance heatmap|euclidean|geodesic)")
        if self.centre_copies < 0 or not self.centre_jitter_mm >= 0:
            raise BadInput(f"centre_copies and centre_jitter_mm must be >= 0, got "
                           f"{self.centre_copies}, {self.centre_jitter_mm}")
        if self.guidance != "none" and self.variant not in ("a", "d"):
            raise BadInput("guidance plugs onto variants a and d only")

    def folder(self) -> str:
        return self.run_name or f"{NAME}-{self.variant}" + (
            f"-{self.guidance}" if self.guidance != "none" else "") + (
            f"-{self.guidance_at}" if self.guidance_at != "trunk" else "") + (
            "-feedback" if self.guidance_feedback else "")

    def net(self, size: int) -> RegNetConfig:
        return RegNetConfig(variant=self.variant, in_size=size, channels=self.channels,
                            hidden=self.hidden, inception=self.inception,
                            guidance_at=self.guidance_at,
                            guidance_feedback=self.guidance_feedback)


def frame_set(project, split: str, *, progress=None, cancel=None):
    """``(frames, depth crops (N,S,S), transforms (N,11), joints (N,14,3) uvd)`` of a
    split's frames, cropped around the ground-truth palm centre."""
    frames = project.frames(split)
    if not frames:
        raise BadInput(f"{project.root}: no frames in split {split!r}")
    depth, tfs, _ = project.crops(frames, progress=progress, cancel=cancel)
    gt = np.stack([joints_36_to_14(project.joints_uvd(f)) for f in frames])
    return frames, depth, tfs, gt


def _segmentation(project, variant: str, depth, cancel):
    if variant not in ("c", "d"):
        return None, None
    which = "pretrained" if variant == "c" else "finetuned"
    path = segnet_path(project, which)
    if path is None:
        raise BadInput(f"{project.root}: variant d needs the fine-tuned f_s; run "
                       f"'handpose-studio train finetune-seg --project {project.root}' first")
    return predict_labels(load_segnet_model(path), depth, cancel=cancel), str(path)


def training_centres(project, frames, gt, settings, *, cancel=None):
    """Every training frame's crop centres: ``(centres (M, 3) u, v, d, src (M,) indices
    into frames)``, sorted by frame; per frame the ground-truth palm centre first, then
    ``centre_copies`` centres moved by N(0, ``centre_jitter_mm``) per axis (camera space,
    mm; seeded by ``train.seed``), then the detected centre when ``detected_centres`` (none
    for a frame the detector finds no hand in)."""
    n = len(frames)
    palm = np.asarray(gt, np.float64)[:, PALM_14]
    per_frame = [[palm[i]] for i in range(n)]
    rng = np.random.default_rng([settings.train.seed, 37])
    xyz = NYU_CAMERA.uvd_to_xyz(palm)
    for _ in range(settings.centre_copies):
        moved = NYU_CAMERA.xyz_to_uvd(xyz + rng.normal(0.0, settings.centre_jitter_mm, xyz.shape))
        for i in range(n):
            per_frame[i].append(moved[i])
    if settings.detected_centres:
        for i, f in enumerate(frames):
            check_cancel(cancel)
            try:
                per_frame[i].append(detect_center(project.depth(f), name=f.key))
            except NoHandError:
                pass
    src = np.array([i for i in range(n) for _ in per_frame[i]], np.int64)
    return np.array([c for cs in per_frame for c in cs], np.float64).reshape(-1, 3), src


def _centred_crops(project, frames, centres, src, cancel):
    """Crops of the project's cube around ``centres`` (M, 3) of ``frames[src]`` (src sorted):
    depth (M, S, S) float32 and transforms (M, 11)."""
    depth = np.empty((len(src), project.crop_size, project.crop_size), np.float32)
    tfs = np.empty((len(src), 11), np.float64)
    last, d = -1, None
    for k, (i, c) in enumerate(zip(src, centres)):
        if i != last:
            check_cancel(cancel)
            last, d = i, project.depth(frames[i])
        tf = crop_transform(c, project.cube_mm, project.crop_size)
        depth[k], tfs[k] = crop_depth(d, tf), tf.to_array()
    return depth, tfs


def _cascade_crops(project, frames, gt, settings, first_path, cancel):
    """Variant b's training crops: tighter cubes around the first step's palm centre,
    jittered; the first step starts from the frame's training centres
    (:func:`training_centres`) in turn. Returns depth (N*K,S,S), tfs (N*K,11), indices
    into frames (N*K,)."""
    first, _, _ = load_regnet(first_path, variant="a")
    pred = JointPredictor(first, project.cube_mm)
    rng = np.random.default_rng([settings.train.seed, 31])
    starts, start_src = training_centres(project, frames, gt, settings, cancel=cancel)
    by_frame = [np.nonzero(start_src == i)[0] for i in range(len(frames))]
    depth, tfs, src = [], [], []
    for s in range(0, len(frames), 64):
        check_cancel(cancel)
        chunk = list(range(s, min(len(frames), s + 64)))
        ds = [project.depth(frames[i]) for i in chunk]
        # (frame in chunk, start) pairs the copies use: copy j starts from start j mod n
        pairs = [(k, by_frame[i][j % len(by_frame[i])]) for k, i in enumerate(chunk)
                 for j in range(min(settings.cascade_copies, len(by_frame[i])))]
        c0 = pred.predict_frames([ds[k] for k, _ in pairs],
                                 starts[[j for _, j in pairs]])[:, PALM_14]
        first_of = {}
        for (k, _), c in zip(pairs, c0):
            first_of.setdefault(k, []).append(c)
        for k, i in enumerate(chunk):
            for j in range(settings.cascade_copies):
                c = first_of[k][j % len(first_of[k])]
                xyz = NYU_CAMERA.uvd_to_xyz(c) + rng.normal(0, settings.cascade_jitter_mm, 3)
                tf = crop_transform(NYU_CAMERA.xyz_to_uvd(xyz), settings.cascade_cube_mm,
                                    project.crop_size)
                depth.append(crop_depth(ds[k], tf))
                tfs.append(tf.to_array())
                src.append(i)
    return np.stack(depth), np.stack(tfs), np.array(src)


def _guidance_hook(settings, net: RegNetConfig):
    """HandMap's GMS module on f_r's guidance features (``RegNet.guidance_features``:
    ``(B, channels, S/4, S/4)`` trunk or ``(B, channels, S, S)`` early maps; maps
    supervised at S x S; ``handpose_core.guidance.make_guidance_hook``), or None."""
    if settings.guidance == "none":
        return None
    # function-local for start-up time: the guidance package loads only for a guided f_r
    from ..guidance import make_guidance_hook

    size = net.in_size if net.guidance_at == "early" else net.in_size // 4
    return make_guidance_hook(settings.guidance, channels=net.channels, size=size,
                              weight=settings.guidance_weight, out_size=net.in_size)


@keeps_torch_rng  # it seeds f_r's initial weights
def run(project, settings: TrainRegSettings = TrainRegSettings(), *, progress=None,
        cancel=None, on_item=None) -> dict:
    """Train f_r of ``settings.variant`` and measure it on the test split."""
    v, config = settings.variant, settings.train
    out = project.path("models") / settings.folder()
    net = settings.net(project.crop_size)
    first_path = None
    if v == "b":
        first_path = regnet_path(project, "a")
        if first_path is None:
            raise BadInput(f"{project.root}: the cascade (b) refines variant a; run "
                           "'handpose-studio train train-reg --variant a' first")
    with recorded_run(project, NAME, asdict(settings), run_dir=str(out)) as rec:
        frames, depth, tfs, gt = frame_set(project, settings.split,
                                           progress=phase_progress(progress, "cropping"), cancel=cancel)
        src = np.arange(len(frames))
        if v == "b":
            depth, tfs, src = _cascade_crops(project, frames, gt, settings, first_path, cancel)
            gt = gt[src]
        elif settings.centre_copies or settings.detected_centres:
            centres, src = training_centres(project, frames, gt, settings, cancel=cancel)
            is_gt = np.r_[True, src[1:] != src[:-1]]  # each frame's first centre: its gt crop
            extra = np.nonzero(~is_gt)[0]
            d_x, t_x = _centred_crops(project, frames, centres[extra], src[extra], cancel)
            depth = np.concatenate([depth, d_x])
            tfs = np.concatenate([tfs, t_x])
            src = np.concatenate([src[is_gt], src[extra]])
            gt = gt[src]
        labels, seg_path = _segmentation(project, v, depth, cancel)
        target = uvd_to_target(gt, tfs)
        # hold out whole frames (all copies of a frame on one side)
        tr_f, va_f = split_indices(len(frames), settings.val_fraction, config.seed,
                                   config.val_max)
        va_set = set(va_f.tolist())
        in_val = np.array([s in va_set for s in src])
        train_idx, val_idx = np.nonzero(~in_val)[0], np.nonzero(in_val)[0]
        torch.manual_seed(config.seed)
        model = build_regnet(net)
        if v == "b" and settings.cascade_init:
            first, first_cfg, _ = load_regnet(first_path, variant="a")
            if replace(first_cfg, variant="b") == net:  # same shapes: start from its weights
                model.load_state_dict(first.state_dict())
        desc = {"variant": v, "title": VARIANT_TITLES[v], "split": settings.split,
                "frames": len(frames), "samples": len(depth), "segnet": seg_path,
                "centre_copies": settings.centre_copies,
                "centre_jitter_mm": settings.centre_jitter_mm,
                "detected_centres": settings.detected_centres,
                **({"first": str(first_path)} if first_path else {})}
        hook = _guidance_hook(settings, net)
        if net.guidance_feedback:  # the model's own head, which its joint layers read
            hook.head = model.guidance_head
        task = RegressionTask(model, depth, labels, target, tfs, gt, train_idx, val_idx,
                              config, desc, NAME, guidance=hook)
        result = run_stage(task, config, out, progress=phase_progress(progress, "training"), cancel=cancel,
                           resume=not settings.restart)
        ckpt = result.best_checkpoint or result.last_checkpoint
        rec.checkpoint = str(ckpt)
        if v == "b":
            write_json_atomic(out / "cascade.json", {
                "first": str(first_path), "first_cube_mm": project.cube_mm,
                "cube_mm": settings.cascade_cube_mm})
        set_regnet_path(project, v, ckpt)
        # this run's own checkpoint: another run of the variant may finish meanwhile
        test = measure_variant(project, v, settings.test_split, checkpoint=ckpt, cancel=cancel,
                               progress=phase_progress(progress, "measuring"))
        report = {"stage": NAME, "variant": v, "title": VARIANT_TITLES[v],
                  "checkpoint": str(ckpt), "settings": {k: val for k, val in
                                                       asdict(settings).items() if k != "train"},
                  "train": result.train, "sessions": result.sessions, "epochs": result.epochs,
                  "steps": result.steps,
                  "elapsed_s": result.elapsed_s, "already_done": result.already_done,
                  "val": result.metrics, "test": test}
        write_json_atomic(out / "eval.json", report)
        rec.metrics = {"variant": v, "test_mean_mm": test["mean_mm"],
                       "test_mean_px": test["mean_px"], "epochs": result.epochs,
                       "steps": result.steps, "elapsed_s": result.elapsed_s,
                       **{k: val for k, val in result.metrics.items()
                          if isinstance(val, (int, float))}}
    return report


def headline(m: dict) -> str:
    return f"variant {m['variant']}: {m['test_mean_mm']:.1f} mm / {m['test_mean_px']:.1f} px (test)"


def done(project) -> bool:
    return any(regnet_path(project, v) is not None for v in VARIANTS)
