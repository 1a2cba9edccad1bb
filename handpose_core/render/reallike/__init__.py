"""The real-like side's generator: another person's hand, painted labels, clutter.

Used only for the demo's real-like frames (``write_nyu_layout(generator="reallike")``);
never for training stores, dictionary source maps or the bundled f_s, which stay on the
training side's primitive renderer (spec/design.md, "Two generators").

- :mod:`.people`: poses, hand shapes and views (``sample_people``);
- :mod:`.body`: the smooth signed-distance hand built on the posed skeleton;
- :mod:`.sdf`: its distances and the part labels from the nearest bone;
- :mod:`.scene`: arm, sleeve, other hand, objects, contact with the body or a table;
- :mod:`.trace`: sphere tracing into the sensor model's buffers;
- :mod:`.frames`: ``render_reallike_frames(sample_reallike_scenes(n, seed))``.
"""

from __future__ import annotations

from .frames import kernel_compiled, render_reallike_frame, render_reallike_frames
from .people import People, sample_people
from .scene import RealScenes, sample_reallike_scenes

__all__ = ["People", "RealScenes", "kernel_compiled", "render_reallike_frame",
           "render_reallike_frames", "sample_people", "sample_reallike_scenes"]
