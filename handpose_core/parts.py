"""The 21 part classes (0 = not hand, 1..20 hand parts): the single definition.

Ids, names, colours, the lookup table for label images, and the joint -> part sets used
by the barycenter quality score. Everything else (renderer, networks, saved palette
PNGs, GUI legends) derives from this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .skeleton import EVAL_NAMES


@dataclass(frozen=True)
class Part:
    id: int
    name: str
    colour: str  # "#rrggbb"
    finger: str  # thumb/index/middle/ring/pinky, "palm" or "background"

    @property
    def rgb(self) -> tuple[int, int, int]:
        c = self.colour.lstrip("#")
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


PARTS: tuple[Part, ...] = (
    Part(0, "background", "#000000", "background"),
    Part(1, "palm", "#9e9e9e", "palm"),
    Part(2, "thumb metacarpal", "#7f0000", "thumb"),
    Part(3, "thumb proximal", "#d32f2f", "thumb"),
    Part(4, "thumb distal", "#ff8a80", "thumb"),
    Part(5, "index knuckle", "#8d4b00", "index"),
    Part(6, "index proximal", "#ef6c00", "index"),
    Part(7, "index middle", "#ffa726", "index"),
    Part(8, "index distal", "#ffe0b2", "index"),
    Part(9, "middle knuckle", "#1b5e20", "middle"),
    Part(10, "middle proximal", "#43a047", "middle"),
    Part(11, "middle middle", "#9ccc65", "middle"),
    Part(12, "middle distal", "#dcedc8", "middle"),
    Part(13, "ring knuckle", "#0d47a1", "ring"),
    Part(14, "ring proximal", "#1e88e5", "ring"),
    Part(15, "ring middle", "#64b5f6", "ring"),
    Part(16, "ring distal", "#bbdefb", "ring"),
    Part(17, "pinky knuckle", "#4a148c", "pinky"),
    Part(18, "pinky proximal", "#8e24aa", "pinky"),
    Part(19, "pinky middle", "#ce93d8", "pinky"),
    Part(20, "pinky distal", "#f3e5f5", "pinky"),
)

NUM_CLASSES = len(PARTS)  # 21
BACKGROUND = 0
PART_NAMES: tuple[str, ...] = tuple(p.name for p in PARTS)

# Part ids per finger, proximal to distal (knuckle, proximal, middle, distal; thumb:
# metacarpal, proximal, distal).
FINGER_PARTS: dict[str, tuple[int, ...]] = {
    "thumb": (2, 3, 4),
    "index": (5, 6, 7, 8),
    "middle": (9, 10, 11, 12),
    "ring": (13, 14, 15, 16),
    "pinky": (17, 18, 19, 20),
}

JOINT_PARTS_14: tuple[tuple[int, ...], ...] = (
    (20,),  # pinky tip: pinky distal
    (18, 19),  # pinky PIP: proximal + middle
    (16,),
    (14, 15),
    (12,),
    (10, 11),
    (8,),
    (6, 7),
    (4,),  # thumb tip: thumb distal
    (3, 4),  # thumb IP: proximal + distal
    (2, 3),  # thumb root: metacarpal + proximal
    (),  # wrist side 1: not scored
    (),  # wrist side 2: not scored
    (1,),  # palm centre: palm
)
"""Part set of each of the 14 evaluation joints for the barycenter quality score."""

SCORED_JOINTS_14: tuple[int, ...] = tuple(i for i, s in enumerate(JOINT_PARTS_14) if s)

assert len(JOINT_PARTS_14) == len(EVAL_NAMES)


def palette_rgb() -> np.ndarray:
    """``(21, 3)`` uint8 colours indexed by part id."""
    return np.array([p.rgb for p in PARTS], dtype=np.uint8)


def lookup_table(n: int = 256) -> np.ndarray:
    """``(n, 3)`` uint8 lookup table: ids >= 21 map to magenta (an invalid label)."""
    lut = np.zeros((n, 3), dtype=np.uint8)
    lut[:] = (255, 0, 255)
    lut[:NUM_CLASSES] = palette_rgb()
    return lut


def colourise(labels: np.ndarray) -> np.ndarray:
    """``(H, W)`` integer label map -> ``(H, W, 3)`` uint8 RGB image."""
    labels = np.asarray(labels)
    return lookup_table()[np.clip(labels, 0, 255).astype(np.uint8)]


def validate_labels(labels: np.ndarray, what: str = "label map") -> np.ndarray:
    """Return ``labels`` as uint8, raising ``ValueError`` on ids outside 0..20."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise ValueError(
            f"{what}: part ids must be in 0..{NUM_CLASSES - 1}, found {labels.min()}..{labels.max()}"
        )
    return labels.astype(np.uint8, copy=False)
