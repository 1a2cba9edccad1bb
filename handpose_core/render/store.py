"""Writing renders to disk: the synthetic training store and NYU-layout datasets.

Both are rendered in independently seeded chunks (seed, chunk start), so a store that
was interrupted resumes with exactly the samples it would have had, and a chunk can be
re-rendered on its own to check it.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..datasets.crop import DEFAULT_CROP_SIZE, DEFAULT_CUBE_MM
from ..datasets.nyu import write_nyu_split
from ..datasets.synthetic import SyntheticStoreWriter
from ..errors import BadInput
from ..progress import ProgressFn, check_cancel
from .pose import ViewRange
from .renderer import COMPILING, _check_style, kernels_compiled, render_frames, render_scene_crops
from .scene import sample_scenes

RENDERER_VERSION = 3  # 3: clean renders include the forearm (labelled background)
RECORDED_VIEW = ViewRange(yaw=60.0, pitch=50.0, roll=60.0, depth=(550.0, 950.0))
"""Viewpoints of recorded frames: a hand held up in front of the sensor (NYU-like)."""


def _chunk_seed(seed: int, start: int) -> int:
    """Seed of the chunk starting at sample ``start``."""
    return int(np.random.SeedSequence([int(seed), int(start), 0x53544F]).generate_state(1)[0])


def write_synthetic_store(out: str | os.PathLike, count: int, *, size: int = DEFAULT_CROP_SIZE, seed: int = 0,
                          style: str = "clean", cube_mm: float = DEFAULT_CUBE_MM, chunk: int = 512,
                          view: ViewRange | None = None, progress: ProgressFn | None = None,
                          cancel=None) -> Path:
    """Render ``count`` labelled crops into a store at ``out`` (memory-mapped, chunk by
    chunk, resumable: an incomplete store with the same settings is finished, anything
    else at ``out`` is overwritten). Sample ``i`` comes from chunk ``i // chunk`` seeded
    by ``_chunk_seed(seed, start)``. Raises ``Cancelled`` between chunks."""
    if count < 1:
        raise BadInput(f"count must be >= 1, got {count}")
    if chunk < 1:
        raise BadInput(f"chunk must be >= 1, got {chunk}")
    _check_style(style)
    view = view or ViewRange()
    meta = dict(seed=int(seed), style=style, cube_mm=float(cube_mm),
                renderer_version=RENDERER_VERSION, chunk=int(chunk),
                view=[view.yaw, view.pitch, view.roll, *view.depth])
    w = SyntheticStoreWriter(out, count, size, resume=True, **meta)
    if any(w.meta.get(k) != v for k, v in meta.items()):
        w = SyntheticStoreWriter(out, count, size, resume=False, **meta)
    start = (w.written // chunk) * chunk
    if progress:
        progress(start, count, f"{style} crops" + ("" if kernels_compiled("crops") else f": {COMPILING}"))
    while start < count:
        check_cancel(cancel)
        n = min(chunk, count - start)
        scenes = sample_scenes(n, _chunk_seed(seed, start), view=view)
        w.write(start, **render_scene_crops(scenes, size=size, style=style, cube_mm=cube_mm))
        start += n
        if progress:
            progress(start, count, f"{style} crops")
    w.close()
    return Path(out)


GENERATORS = ("primitives", "reallike")
"""Frame generators of :func:`write_nyu_layout`: the training side's primitive hand, or
the real-like side's (``render.reallike``: another person's smooth hand, painted labels,
clutter), which never makes training data."""


def write_nyu_layout(root: str | os.PathLike, count: int, *, split: str = "train", seed: int = 0,
                     style: str = "sensor", batch: int = 32, view: ViewRange = RECORDED_VIEW,
                     generator: str = "primitives", progress: ProgressFn | None = None,
                     cancel=None) -> Path:
    """Render ``count`` full frames into ``root/split`` in the NYU layout (depth PNGs,
    ``joint_data.mat``) with the rendered part labels beside them as palette PNGs
    (``labels_1_NNNNNNN.png``). Scenes are drawn first (cheap) so the joints are known;
    frames are rendered a batch ahead, on a worker thread, while they are written.

    ``view`` defaults to :data:`RECORDED_VIEW`, the range of a person holding a hand up
    in front of the sensor, as in NYU's recordings; training stores use the spec's full
    range.

    ``generator="reallike"`` draws the frames from the real-like side instead
    (:func:`.reallike.sample_reallike_scenes`; its people sampler sets the views, so
    ``view`` is not used)."""
    if count < 1:
        raise BadInput(f"count must be >= 1, got {count}")
    _check_style(style)
    if generator not in GENERATORS:
        raise BadInput(f"unknown frame generator {generator!r}; expected one of "
                       f"{', '.join(GENERATORS)}")
    if generator == "reallike":
        from .reallike import render_reallike_frames, sample_reallike_scenes

        render = render_reallike_frames
        scenes = [sample_reallike_scenes(min(batch, count - s), _chunk_seed(seed, s))
                  for s in range(0, count, batch)]
    else:
        render = render_frames
        scenes = [sample_scenes(min(batch, count - s), _chunk_seed(seed, s), view=view)
                  for s in range(0, count, batch)]
    uvd = np.concatenate([b.joints_uvd for b in scenes])
    xyz = np.concatenate([b.joints_xyz for b in scenes])
    pending: deque[np.ndarray] = deque()

    def depth_frames():
        # render the next batch on a worker thread (the kernels release the GIL) while
        # this one encodes and writes the PNGs of the current batch
        with ThreadPoolExecutor(max_workers=1) as pool:
            job = pool.submit(render, scenes[0], style=style)
            for k in range(len(scenes)):
                check_cancel(cancel)
                depth, labels = job.result()
                if k + 1 < len(scenes):
                    job = pool.submit(render, scenes[k + 1], style=style)
                for i in range(len(depth)):
                    pending.append(labels[i])
                    yield depth[i]

    def label_frames():
        while True:
            yield pending.popleft()

    return write_nyu_split(root, split, depth_frames(), uvd, xyz, labels=label_frames(),
                           progress=progress, cancel=cancel)
