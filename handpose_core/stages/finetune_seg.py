"""Stage ``finetune-seg`` (seed paper, step 4 and Table 3): weakly supervised fine-tuning.

Fine-tunes the project's pre-trained f_s on the real (or real-like) frames of ``split``
whose restoration is accepted -- the human override in the project store when there is
one, else the automatic quality check (:attr:`RestorationRecord.accepted`) -- with the
restored maps as targets, mixed with synthetic samples ``synthetic_ratio`` : 1 (the
paper's 9 : 1), for a few more epochs. The frames used are listed in the run folder
(``frames.json``) and in the run's record; the result becomes the project's fine-tuned
f_s (the third segmentation beside the raw and restored maps), and its accuracy on the
labelled frames is measured against the pre-trained f_s (Table 3).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import BadInput
from ..evaluation import segmentation_accuracy
from ..fileio import write_json_atomic
from ..nets.inference import load_segnet_model, predict_labels, segnet_path, set_segnet_path
from ..parts import NUM_CLASSES
from ..progress import check_cancel, phase_progress
from ..training.config import TrainConfig
from ..training.segmentation import IGNORE, train_segmentation
from .base import recorded_run
from .synthetic import SyntheticSettings, synthetic_store

NAME = "finetune-seg"

FT_TRAIN = TrainConfig(epochs=10, lr=1e-3, warmup_steps=0, final_lr_fraction=0.05)
"""Fine-tuning schedule: 10 more epochs (the paper) at a sixth of pre-training's rate."""


@dataclass(frozen=True)
class FinetuneSegSettings:
    split: str = field(default="train", metadata={
        "help": "frames whose accepted restorations are the weak labels"})
    synthetic_ratio: int = field(default=9, metadata={
        "help": "synthetic samples per restored frame (the paper: 9)"})
    samples: int = field(default=40000, metadata={
        "help": "size of the clean synthetic store to draw from (rendered if missing)"})
    store_seed: int = field(default=1, metadata={"help": "seed of that store"})
    model: str = field(default="", metadata={
        "help": "f_s to start from (default: the project's pre-trained f_s)"})
    min_confidence: float = field(default=0.0, metadata={
        "help": "ignore restored-map pixels to which the starting f_s gives less than this "
                "probability (0: use every pixel)"})
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


def run(project, settings: FinetuneSegSettings = FinetuneSegSettings(), *, progress=None,
        cancel=None, on_item=None) -> dict:
    """Fine-tune f_s; returns the report (also saved as eval.json in the run folder)."""
    config = settings.train
    out = project.path("models") / settings.folder()
    base = settings.model or segnet_path(project, "pretrained")
    with recorded_run(project, NAME, asdict(settings), run_dir=str(out)) as rec:
        frames, depth, maps = weak_labels(project, settings.split)
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
        x = np.concatenate([np.asarray(store.depth[syn_idx], np.float32), depth])
        y = np.concatenate([np.asarray(store.labels[syn_idx], np.uint8), maps])
        weights = class_weights(y, settings.class_balance) if settings.class_balance else None
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "frames.json", {
            "split": settings.split, "frame_ids": [f.id for f in frames],
            "frame_keys": [f.key for f in frames], "synthetic_store": str(store.root),
            "synthetic_indices": syn_idx.tolist()})
        result = train_segmentation((x, y), config, out, init_from=base, stage=NAME,
                                    progress=phase_progress(progress, "training"), cancel=cancel,
                                    resume=not settings.restart, class_weight=weights)
        ckpt = result.best_checkpoint or result.last_checkpoint
        rec.checkpoint = str(ckpt)
        set_segnet_path(project, ckpt, "finetuned")
        table3 = _table3(project, base, ckpt, cancel)
        report = {"stage": NAME, "checkpoint": str(ckpt), "base": str(base),
                  "settings": {k: v for k, v in asdict(settings).items() if k != "train"},
                  "train": config.to_dict(), "frames_used": len(frames),
                  "synthetic_used": int(n_syn), "weak_pixels_ignored": int(ignored),
                  "epochs": result.epochs, "steps": result.steps,
                  "elapsed_s": result.elapsed_s, "already_done": result.already_done,
                  "table3": table3}
        write_json_atomic(out / "eval.json", report)
        rec.metrics = {"frames_used": len(frames), "frames_file": str(out / "frames.json"),
                       "synthetic_used": int(n_syn),
                       "epochs": result.epochs, "steps": result.steps,
                       "elapsed_s": result.elapsed_s,
                       **{f"{k}_{m}": v[m] for k, v in table3.get("results", {}).items()
                          for m in ("per_pixel", "per_class")}}
    return report


def _table3(project, base, finetuned, cancel) -> dict:
    """Per-pixel / per-class accuracy of the base and the fine-tuned f_s on the project's
    labelled frames (empty when it has none)."""
    frames, depth, labels = project.labelled_crops(cancel=cancel)
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
