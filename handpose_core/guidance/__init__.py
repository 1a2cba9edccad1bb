"""Dense per-joint guidance maps (HandMap) and, in :mod:`.head`, the torch GMS module.

Numpy / scikit-fmm only here; :mod:`handpose_core.guidance.head` imports torch.
"""

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

__all__ = ["DEFAULT_SIGMA_PX", "DEFAULT_SNAP_PX", "KINDS", "Fallback", "GuidanceMaps", "crop_joints",
           "euclidean_distance", "geodesic_distance", "guidance_maps", "guidance_maps_batch",
           "hand_mask", "heatmaps"]
