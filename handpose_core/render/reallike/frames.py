"""Rendering real-like scenes to full frames (the entry point of the real-like side)."""

from __future__ import annotations

import numpy as np

from ...camera import NYU_CAMERA
from ..jitcache import kernel_cached
from ..renderer import _CAM, _check_style, _run_chunks
from .scene import RealScenes, sample_reallike_scenes
from .trace import KERNEL_MODULES, frames_kernel


def kernel_compiled() -> bool:
    """Whether the real-like frames kernel is already in numba's disk cache (when not,
    the first render compiles it: tens of seconds)."""
    return kernel_cached(frames_kernel, KERNEL_MODULES)


def render_reallike_frames(scenes: RealScenes, *, style: str = "sensor"
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Full frames ``(depth (B,480,640) uint16 mm with 2001 = no return, labels
    (B,480,640) uint8)`` of real-like scenes: labels are the painted parts of the first
    hand where depth is measured (everything else 0). ``"clean"``: the hands, arms and
    objects with exact depth rounded to mm, no background, no sensor."""
    sensor = _check_style(style)
    n = len(scenes)
    depth = np.empty((n, NYU_CAMERA.height, NYU_CAMERA.width), np.uint16)
    labels = np.empty((n, NYU_CAMERA.height, NYU_CAMERA.width), np.uint8)
    if n:
        s = scenes
        _run_chunks(lambda i0, i1: frames_kernel(
            s.arm, s.bones, s.ells, s.sph, s.stub, s.prm, s.objects, s.bounds, s.background,
            s.seeds, sensor, i0, i1, *_CAM, depth, labels), n)
    return depth, labels


def render_reallike_frame(seed=0, *, style: str = "sensor"):
    """One frame: ``(depth, labels, joints_uvd (36, 3), joints_xyz (36, 3))``."""
    sc = sample_reallike_scenes(1, seed)
    depth, labels = render_reallike_frames(sc, style=style)
    return depth[0], labels[0], sc.joints_uvd[0].copy(), sc.joints_xyz[0].copy()
