"""Networks, each built from a frozen config dataclass: the segmentation network f_s."""

from .segnet import ARCHITECTURE, PRESETS, SegNet, SegNetConfig, build_segnet

__all__ = ["ARCHITECTURE", "PRESETS", "SegNet", "SegNetConfig", "build_segnet"]
