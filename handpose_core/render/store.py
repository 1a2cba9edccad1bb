"""Writing renders to disk: the synthetic training store, NYU-layout sets, the demo set."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..datasets.nyu import write_nyu_split
from ..datasets.synthetic import SyntheticStoreWriter
from ..progress import ProgressFn, check_cancel
from .pose import ViewRange
from .scene import render_crops, render_frames, sample_scenes

RENDERER_VERSION = 1
RECORDED_VIEW = ViewRange(yaw=60.0, pitch=50.0, roll=60.0, depth=(550.0, 950.0))
"""Viewpoints of recorded frames: a hand held up in front of the sensor."""
DEMO_SEED = 20170707
DEMO_TRAIN = 1000
DEMO_TEST = 200


def _chunk_seed(seed: int, start: int) -> int:
    """Chunks are seeded independently, so a resumed store renders the same samples."""
    return int(np.random.SeedSequence([int(seed), int(start), 0x53544F]).generate_state(1)[0])


def write_synthetic_store(out: str | os.PathLike, count: int, *, size: int = 48, seed: int = 0,
                          style: str = "clean", cube_mm: float = 300.0, chunk: int = 512,
                          progress: ProgressFn | None = None, cancel=None) -> Path:
    """Render ``count`` labelled crops into a store at ``out`` (resumable, chunk by chunk)."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if style not in ("clean", "sensor"):
        raise ValueError(f"unknown render style {style!r}; expected 'clean' or 'sensor'")
    w = SyntheticStoreWriter(out, count, size, resume=True, seed=int(seed), style=style,
                             cube_mm=float(cube_mm), renderer_version=RENDERER_VERSION,
                             chunk=int(chunk))
    if w.meta.get("chunk", chunk) != chunk or w.meta.get("seed") != seed \
            or w.meta.get("style") != style:
        w = SyntheticStoreWriter(out, count, size, resume=False, seed=int(seed), style=style,
                                 cube_mm=float(cube_mm), renderer_version=RENDERER_VERSION,
                                 chunk=int(chunk))
    start = (w.written // chunk) * chunk
    while start < count:
        check_cancel(cancel)
        n = min(chunk, count - start)
        data = render_crops(n, size=size, seed=_chunk_seed(seed, start), style=style,
                            cube_mm=cube_mm)
        w.write(start, **data)
        start += n
        if progress:
            progress(start, count, f"{style} crops")
    w.close()
    return Path(out)


def write_nyu_layout(root: str | os.PathLike, count: int, *, split: str = "train", seed: int = 0,
                     style: str = "sensor", batch: int = 32, view: ViewRange = RECORDED_VIEW,
                     progress: ProgressFn | None = None, cancel=None) -> Path:
    """Render ``count`` full frames into ``root/split`` in the NYU layout, with part labels
    beside them (``labels_1_NNNNNNN.png``). Scenes are drawn first (cheap) so that the
    joints are known; frames are rendered a batch at a time while they are written.

    ``view`` defaults to :data:`RECORDED_VIEW`, the narrower range of a person holding a
    hand up in front of the sensor (the forearm points away from the camera), as in NYU's
    recordings; training stores use the full range of the spec."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    batches = [sample_scenes(min(batch, count - s), _chunk_seed(seed, s), view=view)
               for s in range(0, count, batch)]
    uvd = np.concatenate([b.joints_uvd for b in batches])
    xyz = np.concatenate([b.joints_xyz for b in batches])
    labels_out: list[np.ndarray] = []

    def depth_frames():
        for sc in batches:
            depth, labels = render_frames(sc, style=style)
            for i in range(len(sc)):
                labels_out.append(labels[i])
                yield depth[i]

    def label_frames():
        while True:
            yield labels_out.pop(0)

    return write_nyu_split(root, split, depth_frames(), uvd, xyz, labels=label_frames(),
                           progress=progress, cancel=cancel)


def make_demo_dataset(root: str | os.PathLike, *, seed: int = DEMO_SEED, n_train: int = DEMO_TRAIN,
                      n_test: int = DEMO_TEST, progress: ProgressFn | None = None,
                      cancel=None) -> Path:
    """The demo dataset: real-like frames in the NYU layout (train and test), with the
    rendered part labels beside them, deterministic from ``seed``."""
    root = Path(root)
    total = n_train + n_test

    def sub(offset):
        return (lambda d, t, m="": progress(offset + d, total, m)) if progress else None

    write_nyu_layout(root, n_train, split="train", seed=seed, progress=sub(0), cancel=cancel)
    write_nyu_layout(root, n_test, split="test", seed=seed + 1, progress=sub(n_train),
                     cancel=cancel)
    return root


__all__ = ["DEMO_SEED", "make_demo_dataset", "write_nyu_layout",
           "write_synthetic_store"]
