"""Dense per-joint guidance maps (HandMap) and, in :mod:`.head`, the torch GMS module.

- :mod:`.maps`: heatmap, normalised Euclidean and geodesic maps of crops (numpy, scikit-fmm)
- :mod:`.cache`: the maps of a fixed crop set, built once and memory-mapped
- :mod:`.head`: ``GuidanceHead``, ``guidance_loss``, ``guidance_targets`` (imports torch;
  not imported here)
"""

from .cache import cached_guidance_maps
from .maps import (
    DEFAULT_SIGMA_PX,
    DEFAULT_SNAP_PX,
    KINDS,
    Fallback,
    GuidanceMaps,
    crop_joints,
    euclidean_distance,
    geodesic_distance,
    guidance_maps,
    guidance_maps_batch,
    hand_mask,
    heatmaps,
)


def make_guidance_hook(kind: str, *, channels: int, size: int, weight: float = 1.0, **kw):
    """The GMS module for f_r's training task (imports torch): see
    :func:`handpose_core.guidance.head.make_guidance_hook`."""
    # function-local for start-up time: the maps (this package) need no torch; the head does
    from .head import make_guidance_hook as make

    return make(kind, channels=channels, size=size, weight=weight, **kw)


__all__ = ["DEFAULT_SIGMA_PX", "DEFAULT_SNAP_PX", "KINDS", "Fallback", "GuidanceMaps",
           "cached_guidance_maps", "crop_joints", "euclidean_distance", "geodesic_distance",
           "guidance_maps", "guidance_maps_batch", "hand_mask", "heatmaps", "make_guidance_hook"]
