"""Stage ``pretrain-seg`` (seed paper, step 1): f_s on synthetic renders, and the domain gap.

Renders (or reuses) the clean synthetic training store and the held-out store, trains
f_s with :func:`~handpose_core.training.segmentation.train_segmentation`, then measures
per-pixel and per-class accuracy on the held-out clean crops *and* on the project's
labelled real(-like) frames. The best checkpoint becomes the project's current f_s.
A run with the same settings resumes from its last checkpoint; a finished one is only
re-evaluated (``restart`` trains again).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from ..errors import BadInput
from ..evaluation import segmentation_accuracy
from ..fileio import write_json_atomic
from ..nets import SegNetConfig
from ..nets.inference import load_segnet_model, predict_labels, set_segnet_path
from ..progress import phase_progress
from ..training.config import TrainConfig
from ..training.segmentation import train_segmentation
from .base import parse_value, recorded_run
from .synthetic import SyntheticSettings, stores

NAME = "pretrain-seg"

PRETRAIN_TRAIN = TrainConfig(cpu_amp=True)
"""Pre-training's hyper-parameters: the bundled model's recipe (``TrainConfig()``) with
its steps under CPU bfloat16 autocast where the CPU computes bfloat16 natively (on
others, and on CUDA, ``cpu_amp`` changes nothing). A whole 6-epoch run in bfloat16
landed within the float32 runs' seed spread in less time (docs/measurements.md, "The
defaults on an idle machine, before and after"); ``--set cpu_amp=false`` trains in
float32, as the bundled model was."""


@dataclass(frozen=True)
class PretrainSegSettings:
    preset: str = field(default="fast", metadata={
        "help": "f_s architecture (fast: the CPU default; paper: Table 1)",
        "choices": ("fast", "paper")})
    samples: int = field(default=40000, metadata={
        "help": "clean synthetic training crops to render or reuse"})
    test_samples: int = field(default=2000, metadata={"help": "held-out synthetic crops"})
    store_seed: int = field(default=1, metadata={"help": "seed of the training store"})
    test_seed: int = field(default=90001, metadata={"help": "seed of the held-out store"})
    style: str = field(default="clean", metadata={"help": "clean or sensor training renders",
                                                  "choices": ("clean", "sensor")})
    run_name: str = field(default="", metadata={
        "help": "folder under PROJECT/models (default pretrain-seg-<preset>)"})
    restart: bool = field(default=False, metadata={
        "help": "train from scratch instead of resuming or re-evaluating a finished run"})
    train: TrainConfig = field(default_factory=lambda: PRETRAIN_TRAIN, metadata={
        "help": "training hyper-parameters (--set key=value)"})

    def folder(self) -> str:
        return self.run_name or f"{NAME}-{self.preset}"

    def synthetic(self) -> SyntheticSettings:
        return SyntheticSettings(self.samples, self.test_samples, self.store_seed,
                                 self.test_seed, self.style)


def run(project, settings: PretrainSegSettings = PretrainSegSettings(), *, progress=None,
        cancel=None, on_item=None) -> dict:
    """Run the stage on an open project; returns the report (also saved as eval.json)."""
    config = settings.train
    out = project.path("models") / settings.folder()
    with recorded_run(project, NAME, asdict(settings), run_dir=str(out)) as rec:
        store, test = stores(project, settings.synthetic(), progress=progress, cancel=cancel)
        result = train_segmentation(store, config, out,
                                    net=SegNetConfig(settings.preset, project.crop_size),
                                    stage=NAME, progress=phase_progress(progress, "training"), cancel=cancel,
                                    resume=not settings.restart)
        ckpt = result.best_checkpoint or result.last_checkpoint
        rec.checkpoint = str(ckpt)
        model = load_segnet_model(ckpt)
        syn = segmentation_accuracy(
            predict_labels(model, test.depth, progress=phase_progress(progress, "held-out synthetic"),
                           cancel=cancel), test.labels)
        frames, depth, labels = project.labelled_crops(
            progress=phase_progress(progress, "cropping real frames"), cancel=cancel)
        real = None
        if frames:
            real = segmentation_accuracy(predict_labels(model, depth, cancel=cancel), labels)
        report = {
            "stage": NAME, "project_kind": project.kind, "checkpoint": str(ckpt),
            # which demo the real-like accuracy was measured on (render.demo.DEMO_VERSION;
            # a demo project made before the version was recorded is version 1)
            "demo_version": (int(project.meta.get("demo_version", 1)) if project.kind == "demo"
                             else None),
            "settings": {k: v for k, v in asdict(settings).items() if k != "train"},
            # the settings the weights were trained under (a run found done keeps its own)
            "train": result.train, "sessions": result.sessions, "epochs": result.epochs,
            "steps": result.steps,
            "elapsed_s": result.elapsed_s, "already_done": result.already_done,
            "resumed_from_step": result.resumed_from_step,
            "synthetic_heldout": {"frames": len(test), **syn.to_dict()},
            "real": None if real is None else {"frames": len(frames),
                                               "split": sorted({f.split for f in frames}),
                                               **real.to_dict()},
        }
        write_json_atomic(out / "eval.json", report)
        rec.metrics = {"synthetic_per_pixel": syn.per_pixel, "synthetic_per_class": syn.per_class,
                       **({"real_per_pixel": real.per_pixel, "real_per_class": real.per_class}
                          if real else {}),
                       "epochs": result.epochs, "steps": result.steps,
                       "already_done": result.already_done, **result.metrics}
        set_segnet_path(project, ckpt, "pretrained")
    return report


def headline(m: dict) -> str:
    s = f"{100 * m['synthetic_per_pixel']:.1f} % synthetic" if "synthetic_per_pixel" in m else ""
    if "real_per_pixel" in m:
        s += f", {100 * m['real_per_pixel']:.1f} % real per pixel"
    return s


def done(project) -> bool:
    return bool(project.get_meta("segnet"))


def export_bundle(report: dict, path: str | os.PathLike, *, command: str) -> Path:
    """Copy a pre-training run's checkpoint to ``path`` with a JSON manifest beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    shutil.copyfile(report["checkpoint"], tmp)
    os.replace(tmp, path)
    manifest = {
        "file": path.name, "made": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": command,
        "settings": report["settings"], "train": report["train"],
        "sessions": report.get("sessions", []), "epochs": report["epochs"],
        "steps": report["steps"], "elapsed_s": report["elapsed_s"],
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "python": platform.python_version()},
        "accuracy": {
            "synthetic_heldout": {k: report["synthetic_heldout"][k]
                                  for k in ("frames", "per_pixel", "per_class")},
            "real": None if not report.get("real") else {
                k: report["real"][k] for k in ("frames", "split", "per_pixel", "per_class")},
            "real_kind": report.get("project_kind"),
            "real_demo_version": report.get("demo_version")},
    }
    write_json_atomic(path.with_suffix(".json"), manifest)
    return path


def with_train_overrides(settings: PretrainSegSettings, pairs: dict[str, str]
                         ) -> PretrainSegSettings:
    """``settings`` with ``key=value`` overrides of its TrainConfig fields."""
    tc = {}
    for k, v in pairs.items():
        if k not in {f.name for f in dataclasses.fields(TrainConfig)}:
            raise BadInput(f"unknown training setting {k!r}")
        tc[k] = parse_value(TrainConfig, k, v)
    return replace(settings, train=replace(settings.train, **tc))
