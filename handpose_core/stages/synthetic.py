"""Stage ``synthetic``: render the clean synthetic training store and the held-out store.

The stores live in ``PROJECT/synthetic/<style>_<size>px_n<count>_s<seed>``; an
interrupted render is finished, not restarted (the store writer resumes by chunk).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..datasets.synthetic import SyntheticStore
from ..progress import ProgressFn, phase_progress
from ..render import write_synthetic_store
from .base import recorded_run, settings_dict

NAME = "synthetic"


@dataclass(frozen=True)
class SyntheticSettings:
    samples: int = field(default=40000, metadata={"help": "clean training crops to render"})
    test_samples: int = field(default=2000, metadata={"help": "held-out crops (another seed)"})
    store_seed: int = field(default=1, metadata={"help": "seed of the training store"})
    test_seed: int = field(default=90001, metadata={"help": "seed of the held-out store"})
    style: str = field(default="clean", metadata={"help": "clean or sensor (real-like) renders",
                                                  "choices": ("clean", "sensor")})


def store_path(folder: str | os.PathLike, count: int, *, size: int, seed: int,
               style: str) -> Path:
    return Path(folder) / f"{style}_{size}px_n{count}_s{seed}"


def synthetic_store(folder: str | os.PathLike, count: int, *, size: int, seed: int = 0,
                    style: str = "clean", cube_mm: float | None = None,
                    progress: ProgressFn | None = None, cancel=None) -> SyntheticStore:
    """Open ``folder/<style>_<size>px_n<count>_s<seed>``, rendering (or finishing) it first."""
    path = store_path(folder, count, size=size, seed=seed, style=style)
    try:
        return SyntheticStore.open(path)
    except (FileNotFoundError, ValueError):
        pass  # missing or unfinished: (re)render below, resuming by chunk
    kw = {} if cube_mm is None else {"cube_mm": cube_mm}
    write_synthetic_store(path, count, size=size, seed=seed, style=style, progress=progress,
                          cancel=cancel, **kw)
    return SyntheticStore.open(path)


def stores(project, settings: SyntheticSettings, *, progress=None, cancel=None):
    """``(training store, held-out store)`` of a project, rendered when missing."""
    spec = project.crop_spec
    folder = project.path("synthetic")
    train = synthetic_store(folder, settings.samples, size=spec.size, seed=settings.store_seed,
                            style=settings.style, cube_mm=spec.cube_mm,
                            progress=phase_progress(progress, "training store"), cancel=cancel)
    test = synthetic_store(folder, settings.test_samples, size=spec.size,
                           seed=settings.test_seed, style="clean", cube_mm=spec.cube_mm,
                           progress=phase_progress(progress, "held-out store"), cancel=cancel)
    return train, test


def run(project, settings: SyntheticSettings = SyntheticSettings(), *, progress=None,
        cancel=None, on_item=None) -> dict:
    """Render (or finish) both stores; returns their paths and sizes."""
    t0 = time.perf_counter()
    with recorded_run(project, NAME, settings_dict(settings)) as rec:
        train, test = stores(project, settings, progress=progress, cancel=cancel)
        rec.metrics = {"train_store": str(train.root), "train_crops": len(train),
                       "heldout_store": str(test.root), "heldout_crops": len(test),
                       "seconds": round(time.perf_counter() - t0, 1)}
    return rec.metrics


def headline(m: dict) -> str:
    return f"{m.get('train_crops', 0):,} training + {m.get('heldout_crops', 0):,} held-out crops"


def done(project) -> bool:
    s = SyntheticSettings()
    spec = project.crop_spec
    p = store_path(project.path("synthetic"), s.samples, size=spec.size, seed=s.store_seed,
                   style=s.style)
    try:
        SyntheticStore.open(p)
        return True
    except (FileNotFoundError, ValueError):
        return False
