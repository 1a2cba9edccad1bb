"""The synthetic hand renderer: hand model, pose sampler, ray caster, sensor model, stores.

Public entry points::

    render_crops(n, size=48, seed=0, style="clean"|"sensor")  -> store-shaped dict
    render_frames(sample_scenes(n, seed), style="sensor")    -> full NYU-like frames
    render_frame(seed, style="sensor")                        -> one frame with joints
    write_synthetic_store(out, count, ...)                    -> training store on disk
    write_nyu_layout(root, count, split=..., seed=...)        -> NYU layout + part labels
    make_demo_dataset(root)                                   -> the studio's demo set
"""

from __future__ import annotations

from .scene import Scenes, render_crops, render_frames, sample_scenes
from .store import DEMO_SEED, make_demo_dataset, write_nyu_layout, write_synthetic_store


def render_frame(seed: int = 0, *, style: str = "sensor"):
    """One full frame: ``(depth uint16 (480,640), labels uint8 (480,640), joints_uvd (36,3),
    joints_xyz (36,3))``."""
    sc = sample_scenes(1, int(seed))
    depth, labels = render_frames(sc, style=style)
    return depth[0], labels[0], sc.joints_uvd[0].copy(), sc.joints_xyz[0].copy()


__all__ = ["DEMO_SEED", "Scenes", "make_demo_dataset", "render_crops", "render_frame",
           "render_frames", "sample_scenes", "write_nyu_layout", "write_synthetic_store"
]
