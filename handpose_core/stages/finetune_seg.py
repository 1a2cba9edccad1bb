"""Stage ``finetune-seg`` (seed paper, step 4 and Table 3): weakly supervised fine-tuning.

Fine-tunes the project's pre-trained f_s on the real (or real-like) frames of ``split``:
the frames whose restoration is accepted -- the human override in the project store
when there is one, else the automatic quality check (:attr:`RestorationRecord.accepted`)
-- with the restored maps as per-pixel targets, and by default every restored frame
(rejected ones too) with the weak joint loss: each scored joint's soft part-set
barycenter (the quality check made differentiable) against its annotated joint, with a
per-joint slack measured on the synthetic crops. Mixed with synthetic samples
``synthetic_ratio`` : 1, for a few more epochs. The paper's recipe (accepted maps
only, 9 : 1, 10 epochs) is :data:`PAPER_RECIPE`. The frames used are listed in the run folder
(``frames.json``) and in the run's record; the result becomes the project's fine-tuned
f_s (the third segmentation beside the raw and restored maps), and its accuracy on the
labelled frames is measured against the pre-trained f_s (Table 3).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from ..datasets.crop import CropTransform
from ..errors import BadInput
from ..evaluation import segmentation_accuracy
from ..fileio import write_json_atomic
from ..nets.inference import load_segnet_model, predict_labels, segnet_path, set_segnet_path
from ..parts import JOINT_PARTS_14, NUM_CLASSES
from ..progress import check_cancel, phase_progress
from ..skeleton import joints_36_to_14
from ..training.config import TrainConfig
from ..training.segmentation import (
    IGNORE,
    WeakTargets,
    part_set_matrix,
    train_segmentation,
)
from .base import recorded_run
from .synthetic import SyntheticSettings, synthetic_store

NAME = "finetune-seg"

FT_TRAIN = TrainConfig(epochs=3, lr=1e-3, warmup_steps=0, final_lr_fraction=0.05)
"""Fine-tuning schedule: 3 more epochs at a sixth of pre-training's rate (the paper's
recipe ran 10; on the new demo 3 and 10 gave the same, docs/restoration.md)."""

PAPER_RECIPE = {"joint_weight": 0.0, "synthetic_ratio": 9, "epochs": 10}
"""The seed paper's recipe, reachable as ``--joint-weight 0 --synthetic-ratio 9
--epochs 10``: accepted restored maps only, 9 : 1 synthetic, 10 epochs."""


@dataclass(frozen=True)
class FinetuneSegSettings:
    split: str = field(default="train", metadata={
        "help": "frames whose accepted restorations are the weak labels"})
    synthetic_ratio: int = field(default=4, metadata={
        "help": "synthetic samples per real frame used (the paper: 9)"})
    samples: int = field(default=40000, metadata={
        "help": "size of the clean synthetic store to draw from (rendered if missing)"})
    store_seed: int = field(default=1, metadata={"help": "seed of that store"})
    model: str = field(default="", metadata={
        "help": "f_s to start from (default: the project's pre-trained f_s)"})
    min_confidence: float = field(default=0.0, metadata={
        "help": "ignore restored-map pixels to which the starting f_s gives less than this "
                "probability (0: use every pixel)"})
    joint_weight: float = field(default=0.3, metadata={
        "help": "weight of the weak joint loss: the distance (crop px) of each scored "
                "joint's soft part-set barycenter from the annotated joint, per image "
                "(0: off, the paper's recipe)"})
    joint_frames: str = field(default="all", metadata={
        "choices": ("all", "accepted"),
        "help": "frames the joint loss sees: all restored frames of the split (the rejected "
                "ones with the joint loss alone) or only the accepted ones"})
    joint_margin: float = field(default=0.9, metadata={
        "help": "per-joint slack of the joint loss: this quantile of the distance between "
                "ground-truth part-set barycenter and joint on the synthetic crops used "
                "(0: none)"})
    quality_tau: float = field(default=0.0, metadata={
        "help": "> 0: weight each accepted frame's restored-target loss by min(1, "
                "score gain / quality_tau), the gain being how much restoration lowered "
                "the barycenter score (mm per scored joint); 0: weight 1 (the paper's cut)"})
    tune: str = field(default="all", metadata={
        "choices": ("all", "head"),
        "help": "layers fine-tuned: all, or only the per-pixel head and classifier"})
    holdout: int = field(default=0, metadata={
        "help": "labelled frames of the split held out of fine-tuning (seeded choice) and "
                "scored in the report, to select settings without the test frames"})
    class_balance: float = field(default=0.0, metadata={
        "help": "weight each hand class's loss by (its share of the training targets' hand "
                "pixels)^-class_balance, normalised to mean 1 (0: equal weights)"})
    run_name: str = field(default="", metadata={
        "help": "folder under PROJECT/models (default finetune-seg)"})
    restart: bool = field(default=False, metadata={
        "help": "train from scratch instead of resuming or re-evaluating a finished run"})
    train: TrainConfig = field(default_factory=lambda: FT_TRAIN, metadata={
        "help": "training hyper-parameters (--set key=value)"})

    def folder(self) -> str:
        return self.run_name or NAME


def weak_labels(project, split: str):
    """``(frames, depth crops (N,S,S), restored maps (N,S,S) uint8)`` of the frames of
    ``split`` whose restoration is accepted (human override first)."""
    recs = project.restorations()
    frames = [f for f in project.frames(split) if f.id in recs and recs[f.id].accepted]
    if not frames:
        n = sum(1 for f in project.frames(split) if f.id in recs)
        raise BadInput(f"{project.root}: no accepted restorations in split {split!r} "
                       f"({n} restored); run 'handpose-studio train restore --split {split}' "
                       "or accept some in the studio")
    depth, _, _ = project.crops(frames)
    maps = np.stack([project.restored_maps(recs[f.id])[1] for f in frames])
    if maps.shape != depth.shape:
        raise BadInput(f"{project.root}: restored maps are {maps.shape[1:]} but crops are "
                       f"{depth.shape[1:]}; restore again with this project's crop size")
    return frames, depth, maps


def holdout_frames(project, split: str, n: int, seed: int = 0) -> list:
    """``n`` labelled frames of ``split`` (a seeded choice, in frame order) kept out of
    fine-tuning to select its settings on; [] for ``n`` 0."""
    if n <= 0:
        return []
    labelled = project.frames(split, labelled=True)
    if len(labelled) < n:
        raise BadInput(f"{project.root}: --holdout {n} but split {split!r} has only "
                       f"{len(labelled)} labelled frames")
    pick = np.random.default_rng([seed, 22]).choice(len(labelled), n, replace=False)
    return [labelled[i] for i in sorted(pick)]


def training_frames(project, split: str, joint_frames: str, exclude=()):
    """``(frames, accepted (N,) bool, records)``: the frames of ``split`` with a stored
    restoration, less ``exclude``; all of them for ``joint_frames`` "all", else only the
    accepted ones (the decision in force: human override first)."""
    if joint_frames not in ("all", "accepted"):
        raise BadInput(f"joint_frames must be 'all' or 'accepted', got {joint_frames!r}")
    recs = project.restorations()
    skip = {f.id for f in exclude}
    frames = [f for f in project.frames(split) if f.id in recs and f.id not in skip]
    acc = np.array([recs[f.id].accepted for f in frames], bool)
    if joint_frames != "all":
        frames = [f for f, a in zip(frames, acc) if a]
        acc = np.ones(len(frames), bool)
    if not acc.any():
        raise BadInput(f"{project.root}: no accepted restorations in split {split!r} "
                       f"({len(frames)} restored); run 'handpose-studio train restore --split "
                       f"{split}' or accept some in the studio")
    return frames, acc, recs


def crop_joints(joints_uvd14: np.ndarray, tfs: np.ndarray) -> np.ndarray:
    """``(N, 14, 2)`` float32 crop pixel (x, y) of full-frame joints ``(N, 14, 3)`` under
    crop transforms ``(N, 11)`` -- the quality check's coordinates (pixel index)."""
    out = np.empty((len(tfs), joints_uvd14.shape[1], 2), np.float32)
    for i, (j, t) in enumerate(zip(joints_uvd14, tfs)):
        out[i] = CropTransform.from_array(t).frame_to_crop(j)[:, :2]
    return out


def hard_barycenters(labels: np.ndarray, joint_parts=JOINT_PARTS_14) -> np.ndarray:
    """``(N, J, 2)`` mean pixel (x, y) of each joint's part set in label maps ``(N, S, S)``;
    NaN where the set has no pixel or is empty (the quality check's 2D barycenter)."""
    labels = np.asarray(labels)
    n, s = labels.shape[0], labels.shape[-1]
    out = np.full((n, len(joint_parts), 2), np.nan, np.float32)
    xs = np.arange(s, dtype=np.float64)
    for j, parts in enumerate(joint_parts):
        if not parts:
            continue
        sel = np.isin(labels, parts)
        m = sel.sum((1, 2)).astype(np.float64)
        ok = m > 0
        cx = (sel.sum(1) * xs).sum(-1) / np.maximum(m, 1)
        cy = (sel.sum(2) * xs).sum(-1) / np.maximum(m, 1)
        out[ok, j, 0], out[ok, j, 1] = cx[ok], cy[ok]
    return out


def synthetic_margin(store, idx, quantile: float) -> np.ndarray:
    """``(14,)`` float32 per-joint slack (crop px): the ``quantile`` of the distance between
    the ground-truth part-set barycenter and the joint over synthetic samples ``idx``
    (0 for the unscored joints)."""
    labels = np.asarray(store.labels[idx])
    tfs = np.stack([store.transform(int(i)).to_array() for i in idx])
    j14 = np.stack([joints_36_to_14(j) for j in np.asarray(store.joints_uvd[idx])])
    d = np.linalg.norm(hard_barycenters(labels) - crop_joints(j14, tfs), axis=-1)
    out = np.zeros(d.shape[1], np.float32)
    for j in range(d.shape[1]):
        v = d[:, j][np.isfinite(d[:, j])]
        if v.size:
            out[j] = float(np.quantile(v, quantile))
    return out


def quality_weights(recs, frames, accepted: np.ndarray, tau: float) -> np.ndarray:
    """``(N,)`` float32 weight of each frame's restored-target loss: 0 where rejected;
    1 where accepted and ``tau`` is 0; else min(1, gain / tau) with gain the drop of the
    barycenter score (mm per scored joint) from raw to restored."""
    w = accepted.astype(np.float32)
    if tau > 0:
        gain = np.array([recs[f.id].raw.mm - recs[f.id].restored.mm for f in frames])
        w = np.where(accepted, np.clip(gain / tau, 0.0, 1.0), 0.0).astype(np.float32)
    return w


def uncertain_ignored(model, depth, maps, min_confidence: float, *, cancel=None):
    """``(maps with IGNORE where model's probability of the map's label < min_confidence,
    number of pixels so marked)``; ``depth`` (N,S,S) float32 crops, ``maps`` (N,S,S) uint8.
    Only hand-labelled or hand-predicted pixels can be ignored; background the model is
    sure of stays background."""
    out = maps.copy()
    for s in range(0, len(depth), 128):
        check_cancel(cancel)
        _, prob = model.predict(np.asarray(depth[s:s + 128], np.float32), probabilities=True)
        m = maps[s:s + 128].astype(np.int64)
        p = np.take_along_axis(prob, m[:, None], axis=1)[:, 0]
        out[s:s + 128][p < min_confidence] = IGNORE
    return out, int((out == IGNORE).sum())


def class_weights(labels, balance: float, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """``(num_classes,)`` float32 loss weights: hand class k gets ``share_k ** -balance``
    (share among the counted hand pixels of ``labels``), normalised to mean 1 over the
    hand classes present; absent classes and the background (index 0) get 1."""
    counts = np.zeros(num_classes, np.float64)
    for s in range(0, len(labels), 1024):
        counts += np.bincount(np.asarray(labels[s:s + 1024]).ravel(),
                              minlength=256)[:num_classes]
    w = np.ones(num_classes, np.float64)
    hand = counts[1:]
    present = hand > 0
    if present.any():
        share = hand[present] / hand[present].sum()
        v = share ** -float(balance)
        w[1:][present] = v / v.mean()
    return w.astype(np.float32)


RESUME_KEYS = ("split", "synthetic_ratio", "samples", "store_seed", "min_confidence",
               "class_balance", "joint_weight", "joint_frames", "joint_margin", "quality_tau",
               "tune", "holdout")
"""Settings that change what a run computes: resuming a run made with others is refused."""


def run(project, settings: FinetuneSegSettings = FinetuneSegSettings(), *, progress=None,
        cancel=None, on_item=None) -> dict:
    """Fine-tune f_s; returns the report (also saved as eval.json in the run folder)."""
    config = settings.train
    out = project.path("models") / settings.folder()
    base = settings.model or segnet_path(project, "pretrained")
    keyed = {k: getattr(settings, k) for k in RESUME_KEYS}
    if not settings.restart and (out / "frames.json").exists():
        old = json.loads((out / "frames.json").read_text()).get("settings")
        if old is not None and old != keyed:
            diff = sorted(k for k in keyed if old.get(k) != keyed[k])
            raise BadInput(f"{out / 'frames.json'}: cannot resume, the run used different "
                           f"settings ({', '.join(diff)}); use --restart or another "
                           "--run-name")
    with recorded_run(project, NAME, asdict(settings), run_dir=str(out)) as rec:
        held = holdout_frames(project, settings.split, settings.holdout, config.seed)
        use_joints = settings.joint_weight > 0
        frames, accepted, recs = training_frames(
            project, settings.split, settings.joint_frames if use_joints else "accepted",
            exclude=held)
        depth, tfs, _ = project.crops(frames, cancel=cancel)
        maps = np.stack([project.restored_maps(recs[f.id])[1] for f in frames])
        if maps.shape != depth.shape:
            raise BadInput(f"{project.root}: restored maps are {maps.shape[1:]} but crops are "
                           f"{depth.shape[1:]}; restore again with this project's crop size")
        store = synthetic_store(project.path("synthetic"), settings.samples,
                                size=project.crop_size, seed=settings.store_seed,
                                style=SyntheticSettings().style, cube_mm=project.cube_mm,
                                progress=phase_progress(progress, "synthetic store"), cancel=cancel)
        n_syn = min(len(store), settings.synthetic_ratio * len(frames))
        syn_idx = np.sort(np.random.default_rng([config.seed, 17]).choice(
            len(store), n_syn, replace=False))
        ignored = 0
        if settings.min_confidence > 0:
            maps, ignored = uncertain_ignored(load_segnet_model(base), depth, maps,
                                              settings.min_confidence, cancel=cancel)
        fw = quality_weights(recs, frames, accepted, settings.quality_tau)
        maps[fw == 0] = IGNORE  # rejected frames: the joint loss alone
        x = np.concatenate([np.asarray(store.depth[syn_idx], np.float32), depth])
        y = np.concatenate([np.asarray(store.labels[syn_idx], np.uint8), maps])
        weights = class_weights(y, settings.class_balance) if settings.class_balance else None
        weak, margin = None, None
        if use_joints or settings.quality_tau > 0:
            j14 = np.stack([joints_36_to_14(project.joints_uvd(f)) for f in frames])
            jc = crop_joints(j14, tfs) if use_joints else np.full(
                (len(frames), len(JOINT_PARTS_14), 2), np.nan, np.float32)
            if use_joints and settings.joint_margin > 0:
                margin = synthetic_margin(store, syn_idx, settings.joint_margin)
            weak = WeakTargets(
                np.concatenate([np.full((n_syn, *jc.shape[1:]), np.nan, np.float32), jc]),
                np.concatenate([np.ones(n_syn, np.float32), fw]),
                part_set_matrix(JOINT_PARTS_14, NUM_CLASSES), settings.joint_weight, margin)
        out.mkdir(parents=True, exist_ok=True)
        target = fw > 0
        write_json_atomic(out / "frames.json", {
            "split": settings.split, "settings": keyed,
            "frame_ids": [f.id for f, u in zip(frames, target) if u],
            "frame_keys": [f.key for f, u in zip(frames, target) if u],
            "target_weights": [float(w) for w in fw[target]],
            "joint_frame_ids": [f.id for f in frames] if use_joints else [],
            "holdout_ids": [f.id for f in held],
            "joint_margin_px": None if margin is None else [float(v) for v in margin],
            "synthetic_store": str(store.root), "synthetic_indices": syn_idx.tolist()})
        result = train_segmentation((x, y), config, out, init_from=base, stage=NAME,
                                    progress=phase_progress(progress, "training"), cancel=cancel,
                                    resume=not settings.restart, class_weight=weights,
                                    weak=weak, tune=settings.tune)
        ckpt = result.best_checkpoint or result.last_checkpoint
        rec.checkpoint = str(ckpt)
        set_segnet_path(project, ckpt, "finetuned")
        table3 = _table3(project, base, ckpt, cancel)
        selection = _table3(project, base, ckpt, cancel, frames=held) if held else {}
        n_used = int(target.sum())
        n_joint = len(frames) if use_joints else 0
        report = {"stage": NAME, "checkpoint": str(ckpt), "base": str(base),
                  "settings": {k: v for k, v in asdict(settings).items() if k != "train"},
                  "train": result.train, "sessions": result.sessions, "frames_used": n_used,
                  "frames_accepted": int(accepted.sum()), "joint_frames": n_joint,
                  "synthetic_used": int(n_syn), "weak_pixels_ignored": int(ignored),
                  "epochs": result.epochs, "steps": result.steps,
                  "elapsed_s": result.elapsed_s, "already_done": result.already_done,
                  "table3": table3, "selection": selection}
        write_json_atomic(out / "eval.json", report)
        rec.metrics = {"frames_used": n_used, "joint_frames": n_joint,
                       "frames_file": str(out / "frames.json"),
                       "synthetic_used": int(n_syn),
                       "epochs": result.epochs, "steps": result.steps,
                       "elapsed_s": result.elapsed_s,
                       **{f"{k}_{m}": v[m] for k, v in table3.get("results", {}).items()
                          for m in ("per_pixel", "per_class")},
                       **{f"holdout_{k}_{m}": v[m]
                          for k, v in selection.get("results", {}).items()
                          for m in ("per_pixel", "per_class")}}
    return report


def _table3(project, base, finetuned, cancel, frames=None) -> dict:
    """Per-pixel / per-class accuracy of the base and the fine-tuned f_s on the project's
    labelled frames (``frames``, default the evaluation frames of ``labelled_crops``;
    empty when there are none)."""
    if frames is None:
        frames, depth, labels = project.labelled_crops(cancel=cancel)
    elif frames:
        depth, _, labels = project.crops(frames, cancel=cancel)
    if not frames:
        return {}
    res = {}
    for name, path in (("supervised", base), ("finetuned", finetuned)):
        pred = predict_labels(load_segnet_model(path), depth, cancel=cancel)
        res[name] = segmentation_accuracy(pred, labels).to_dict()
        res[name].pop("counts")
    return {"frames": len(frames), "splits": sorted({f.split for f in frames}), "results": res}


def headline(m: dict) -> str:
    s = f"{m['frames_used']} restored frames"
    if "finetuned_per_pixel" in m:
        s += (f"; per pixel {100 * m['supervised_per_pixel']:.1f} -> "
              f"{100 * m['finetuned_per_pixel']:.1f} %")
    return s


def done(project) -> bool:
    return segnet_path(project, "finetuned") is not None
