"""The synthetic hand renderer: hand model, pose sampler, ray caster, sensor model, stores.

Public entry points::

    render_crops(n, size=48, seed=0, style="clean"|"sensor", cube_mm=300) -> store-shaped dict
    render_frame(rng_or_seed, style="sensor")   -> (depth, labels, joints_uvd, joints_xyz)
    render_frames(sample_scenes(n, seed), style="sensor") -> full NYU-like frames
    write_synthetic_store(out, count, ...)      -> training store on disk (memory-mapped)
    write_nyu_layout(root, count, split=..., seed=...) -> NYU layout + part label PNGs
    make_demo_dataset(root)                     -> the studio's demo set (real-like generator)

The demo's real-like frames come from a separate generator, :mod:`.reallike` (another
person's smooth hand, painted labels, clutter), which never makes training data.

Importing this package loads numba (the kernels are compiled on first use and cached).
"""

from __future__ import annotations

from .demo import DEMO_SEED, make_demo_dataset
from .pose import ViewRange
from .renderer import render_crops, render_frame, render_frames, render_scene_crops
from .scene import Scenes, sample_scenes
from .store import RECORDED_VIEW, RENDERER_VERSION, write_nyu_layout, write_synthetic_store

__all__ = ["DEMO_SEED", "RECORDED_VIEW", "RENDERER_VERSION", "Scenes", "ViewRange",
           "make_demo_dataset", "render_crops", "render_frame", "render_frames",
           "render_scene_crops", "sample_scenes", "write_nyu_layout", "write_synthetic_store"]
