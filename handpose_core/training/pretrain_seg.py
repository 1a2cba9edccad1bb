"""Stage 1 of the seed paper: pre-train f_s on synthetic renders, measure the domain gap.

:func:`pretrain_seg` renders (or reuses) a clean synthetic training store and a held-out
synthetic test store in the project, trains f_s with :func:`train_segmentation`, then
reports per-pixel and per-class accuracy on the held-out clean crops *and* on the
project's real(-like) frames that have part labels — the paper's 90.16 % vs 51.03 %.
The best checkpoint becomes the project's current f_s (``meta['segnet']``).
The command line and the studio both call this function.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..datasets.synthetic import SyntheticStore
from ..evaluation import segmentation_accuracy
from ..fileio import write_json_atomic
from ..progress import ProgressFn
from .config import TrainConfig

STAGE = "pretrain-seg"


@dataclass(frozen=True)
class PretrainSegSettings:
    """What the stage trains on. ``samples`` clean synthetic crops (seed ``store_seed``)
    for training; ``test_samples`` more with ``test_seed`` held out for the synthetic
    accuracy; ``preset`` of f_s; ``run_name`` the folder under ``models/`` (re-running
    the same name with the same settings resumes)."""

    preset: str = "fast"
    samples: int = 40000
    test_samples: int = 2000
    store_seed: int = 1
    test_seed: int = 90001
    style: str = "clean"
    run_name: str = ""

    def folder(self) -> str:
        return self.run_name or f"{STAGE}-{self.preset}"


def synthetic_store(folder: str | os.PathLike, count: int, *, size: int = 48, seed: int = 0,
                    style: str = "clean", progress: ProgressFn | None = None,
                    cancel=None) -> SyntheticStore:
    """Open ``folder/<style>_<size>px_n<count>_s<seed>``, rendering (or finishing) it first."""
    from ..render import write_synthetic_store

    path = Path(folder) / f"{style}_{size}px_n{count}_s{seed}"
    try:
        return SyntheticStore.open(path)
    except (FileNotFoundError, ValueError):
        pass
    write_synthetic_store(path, count, size=size, seed=seed, style=style, progress=progress,
                          cancel=cancel)
    return SyntheticStore.open(path)


def current_segnet(project) -> Path:
    """The f_s checkpoint a project predicts with: its own, else the bundled model."""
    from .. import resources_dir

    rel = project.get_meta("segnet")
    if rel:
        p = Path(rel)
        return p if p.is_absolute() else project.root / p
    return resources_dir() / "models" / "segnet_fast.pt"


def labelled_real_crops(project, split: str | None = None, *, progress=None, cancel=None):
    """``(frames, depth (N,S,S), labels (N,S,S))`` of the project's labelled frames.

    ``split`` None takes the test split's labelled frames when there are any (the
    paper's hand-labelled evaluation set is from the test set), else all labelled frames.
    """
    frames = project.frames(split, labelled=True)
    if split is None:
        test = [f for f in frames if f.split == "test"]
        frames = test or frames
    if not frames:
        return [], np.zeros((0, project.crop_size, project.crop_size), np.float32), \
            np.zeros((0, project.crop_size, project.crop_size), np.uint8)
    depth, _, labels = project.crops(frames, progress=progress, cancel=cancel)
    return frames, depth, labels


def pretrain_seg(project, settings: PretrainSegSettings = PretrainSegSettings(),
                 config: TrainConfig | None = None, *, progress: ProgressFn | None = None,
                 cancel=None, resume: bool = True) -> dict:
    """Run the stage on an open project; returns the report (also saved as eval.json)."""
    from ..nets import SegNetConfig
    from .checkpoint import load_segnet
    from .segmentation import predict_labels, train_segmentation

    config = config or TrainConfig()
    size = project.crop_size

    def phase(name):
        return (lambda d, t, m="": progress(d, t, f"{name}: {m}")) if progress else None

    synth_dir = project.path("synthetic")
    store = synthetic_store(synth_dir, settings.samples, size=size, seed=settings.store_seed,
                            style=settings.style, progress=phase("rendering training store"),
                            cancel=cancel)
    test = synthetic_store(synth_dir, settings.test_samples, size=size, seed=settings.test_seed,
                           style="clean", progress=phase("rendering held-out store"),
                           cancel=cancel)
    out = project.path("models") / settings.folder()
    result = train_segmentation(store, config, out, net=SegNetConfig(settings.preset, size),
                                stage=STAGE, progress=phase("training"), cancel=cancel,
                                recorder=project, resume=resume)
    model, _, _ = load_segnet(result.best_checkpoint or result.last_checkpoint)
    syn_pred = predict_labels(model, test.depth, progress=phase("held-out synthetic"),
                              cancel=cancel)
    syn = segmentation_accuracy(syn_pred, np.asarray(test.labels))
    frames, depth, labels = labelled_real_crops(project, progress=phase("cropping real frames"),
                                                cancel=cancel)
    real = None
    if frames:
        real = segmentation_accuracy(predict_labels(model, depth, cancel=cancel), labels)
    ckpt = result.best_checkpoint or result.last_checkpoint
    report = {
        "stage": STAGE, "project_kind": project.kind, "checkpoint": str(ckpt), "settings": asdict(settings),
        "train": config.to_dict(), "epochs": result.epochs, "steps": result.steps,
        "elapsed_s": result.elapsed_s,
        "synthetic_heldout": {"frames": len(test), **syn.to_dict()},
        "real": None if real is None else {"frames": len(frames),
                                           "split": sorted({f.split for f in frames}),
                                           **real.to_dict()},
    }
    write_json_atomic(out / "eval.json", report)
    if result.run_id is not None:
        summary = {"synthetic_per_pixel": syn.per_pixel, "synthetic_per_class": syn.per_class,
                   **({"real_per_pixel": real.per_pixel, "real_per_class": real.per_class}
                      if real else {}), **result.metrics}
        project.finish_run(result.run_id, "completed", summary, ckpt)
    project.set_meta("segnet", os.path.relpath(ckpt, project.root))
    return report


def export_bundle(report: dict, path: str | os.PathLike, *, command: str) -> Path:
    """Copy a pre-training run's checkpoint to ``path`` with a JSON manifest beside it."""
    import platform
    import shutil
    import time

    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    shutil.copyfile(report["checkpoint"], tmp)
    os.replace(tmp, path)
    manifest = {
        "file": path.name, "made": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": command,
        "settings": report["settings"], "train": report["train"], "epochs": report["epochs"],
        "steps": report["steps"], "elapsed_s": report["elapsed_s"],
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "python": platform.python_version()},
        "accuracy": {
            "synthetic_heldout": {k: report["synthetic_heldout"][k]
                                  for k in ("frames", "per_pixel", "per_class")},
            "real": None if not report.get("real") else {
                k: report["real"][k] for k in ("frames", "split", "per_pixel", "per_class")},
            "real_kind": report.get("project_kind")},
    }
    write_json_atomic(path.with_suffix(".json"), manifest)
    return path


def with_overrides(config: TrainConfig, settings: PretrainSegSettings, pairs: list[str]):
    """Apply ``key=value`` overrides to the train config or the stage settings."""
    import dataclasses

    tf = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    sf = {f.name: f.type for f in dataclasses.fields(PretrainSegSettings)}
    tc, sc = {}, {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        k, v = pair.split("=", 1)
        if k in tf:
            tc[k] = _parse(getattr(config, k), v, k)
        elif k in sf:
            sc[k] = _parse(getattr(settings, k), v, k)
        else:
            raise ValueError(f"unknown setting {k!r}; known: {sorted(tf) + sorted(sf)}")
    return replace(config, **tc), replace(settings, **sc)


def _parse(current, text: str, key: str):
    try:
        if isinstance(current, bool):
            if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("1", "true", "yes")
        return type(current)(text)
    except ValueError:
        raise ValueError(f"{key}: cannot read {text!r} as {type(current).__name__}") from None
