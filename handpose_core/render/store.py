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


SYNTH_MARKER = ".synth.json"
"""Written into a split folder by :func:`write_nyu_layout` before its first frame: the
settings it writes with, so an interrupted write resumes only with the same ones."""


def write_nyu_layout(root: str | os.PathLike, count: int, *, split: str = "train", seed: int = 0,
                     style: str = "sensor", batch: int = 32, view: ViewRange = RECORDED_VIEW,
                     generator: str = "primitives", progress: ProgressFn | None = None,
                     cancel=None, resume: bool = True) -> Path:
    """Render ``count`` full frames into ``root/split`` in the NYU layout (depth PNGs,
    ``joint_data.mat``) with the rendered part labels beside them as palette PNGs
    (``labels_1_NNNNNNN.png``). Batches of ``batch`` scenes are drawn from
    ``_chunk_seed(seed, start)`` and rendered a batch ahead, on a worker thread, while the
    current one is written.

    Resumable: the settings are written to ``split/.synth.json`` first; a later call with
    the same settings (``resume``, the default) keeps every leading batch whose depth and
    label PNGs are all on disk (each PNG is written atomically, so one that exists is
    whole), draws those batches' scenes again for their joints (cheap, and the same from
    the same seeds) and renders from the first batch with a file missing. A split whose
    marker names other settings, or has none, is written from frame 1 (files beyond
    ``count`` are left). ``joint_data.mat`` is written last; a split with it and every
    frame present is not rendered again.

    ``view`` defaults to :data:`RECORDED_VIEW`, the range of a person holding a hand up
    in front of the sensor, as in NYU's recordings; training stores use the spec's full
    range.

    ``generator="reallike"`` draws the frames from the real-like side instead
    (:func:`.reallike.sample_reallike_scenes`; its people sampler sets the views, so
    ``view`` is not used)."""
    import json

    from ..datasets.nyu import frame_file

    if count < 1:
        raise BadInput(f"count must be >= 1, got {count}")
    if batch < 1:
        raise BadInput(f"batch must be >= 1, got {batch}")
    _check_style(style)
    if generator not in GENERATORS:
        raise BadInput(f"unknown frame generator {generator!r}; expected one of "
                       f"{', '.join(GENERATORS)}")
    if generator == "reallike":
        from .reallike import render_reallike_frames, sample_reallike_scenes

        render = render_reallike_frames

        def sample(s):
            return sample_reallike_scenes(min(batch, count - s), _chunk_seed(seed, s))
    else:
        render = render_frames

        def sample(s):
            return sample_scenes(min(batch, count - s), _chunk_seed(seed, s), view=view)

    d = Path(root) / split
    settings = {"count": int(count), "seed": int(seed), "style": style, "batch": int(batch),
                "generator": generator, "renderer_version": RENDERER_VERSION,
                "view": None if generator == "reallike" else
                [view.yaw, view.pitch, view.roll, *view.depth]}
    marker = d / SYNTH_MARKER
    starts = list(range(0, count, batch))
    done = 0  # batches already on disk
    if resume and marker.is_file():
        try:
            old = json.loads(marker.read_text())
        except (OSError, ValueError):
            old = None
        if old == settings:
            present = set(os.listdir(d))
            for s in starts:
                if not all(frame_file(kind, 1, f) in present for f in range(s + 1, s + batch + 1)
                           if f <= count for kind in ("depth", "labels")):
                    break
                done += 1
            if done == len(starts) and "joint_data.mat" in present:
                if progress:
                    progress(count, count, f"{split}: all {count} frames already written")
                return d
    d.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(json.dumps(settings))
    os.replace(tmp, marker)
    # joints of the batches on disk: their scenes drawn again (the same seeds, no render)
    uvd, xyz = [None] * len(starts), [None] * len(starts)
    first = starts[done] + 1 if done < len(starts) else count + 1
    if progress and done:
        progress(first - 1, count, f"{split}: resuming after frame {first - 1}")
    for k in range(done):
        check_cancel(cancel)
        b = sample(starts[k])
        uvd[k], xyz[k] = b.joints_uvd, b.joints_xyz
    pending: deque[np.ndarray] = deque()

    def draw_and_render(k):
        b = sample(starts[k])
        uvd[k], xyz[k] = b.joints_uvd, b.joints_xyz
        return render(b, style=style)

    def depth_frames():
        # draw and render the next batch on a worker thread (the kernels release the GIL)
        # while this one encodes and writes the PNGs of the current batch
        if done == len(starts):
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            job = pool.submit(draw_and_render, done)
            for k in range(done, len(starts)):
                check_cancel(cancel)
                depth, labels = job.result()
                if k + 1 < len(starts):
                    job = pool.submit(draw_and_render, k + 1)
                for i in range(len(depth)):
                    pending.append(labels[i])
                    yield depth[i]

    def label_frames():
        while True:
            yield pending.popleft()

    def joints():  # after the last frame every batch has been drawn
        return np.concatenate(uvd), np.concatenate(xyz)

    return write_nyu_split(root, split, depth_frames(), joints, None, labels=label_frames(),
                           first=first, frames=count, progress=progress, cancel=cancel)
