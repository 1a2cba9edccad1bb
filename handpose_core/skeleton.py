"""NYU joint tables: the 36 annotated joints, the 14 evaluation joints, edges, colours."""

from __future__ import annotations

import numpy as np

FINGERS_NYU = ("F1", "F2", "F3", "F4", "TH")
"""NYU finger prefixes: F1 pinky, F2 ring, F3 middle, F4 index, TH thumb."""

_SUFFIXES = ("KNU3_A", "KNU3_B", "KNU2_A", "KNU2_B", "KNU1_A", "KNU1_B")

JOINT_NAMES_36: tuple[str, ...] = tuple(
    [f"{f}_{s}" for f in FINGERS_NYU for s in _SUFFIXES] + [f"PALM_{i}" for i in range(1, 7)]
)
"""The 36 names of ``joint_data.mat``, in file order."""

PALM_CENTRE = 32
"""Index of PALM_3 in the 36-joint table: the palm centre that crops are cut around."""

EVAL_INDICES: tuple[int, ...] = (0, 3, 6, 9, 12, 15, 18, 21, 24, 25, 27, 30, 31, 32)
"""Indices of the 14 evaluation joints into the 36."""

EVAL_NAMES: tuple[str, ...] = (
    "pinky tip", "pinky PIP", "ring tip", "ring PIP", "middle tip", "middle PIP",
    "index tip", "index PIP", "thumb tip", "thumb IP", "thumb root",
    "wrist (side 1)", "wrist (side 2)", "palm centre",
)  # fmt: skip
"""Readable names of the 14 evaluation joints, in the standard order."""

EVAL_SHORT: tuple[str, ...] = (
    "P tip", "P pip", "R tip", "R pip", "M tip", "M pip", "I tip", "I pip",
    "T tip", "T ip", "T root", "W1", "W2", "C",
)  # fmt: skip

EDGES_14: tuple[tuple[int, int], ...] = (
    (13, 12), (13, 11), (13, 10), (10, 9), (9, 8), (13, 7), (7, 6),
    (13, 5), (5, 4), (13, 3), (3, 2), (13, 1), (1, 0),
)  # fmt: skip
"""Skeleton edges for drawing, in 14-joint numbering."""

JOINT_FINGER_14: tuple[str, ...] = (
    "pinky", "pinky", "ring", "ring", "middle", "middle", "index", "index",
    "thumb", "thumb", "thumb", "palm", "palm", "palm",
)  # fmt: skip

FINGER_COLOURS: dict[str, str] = {
    "thumb": "#d32f2f",
    "index": "#ef6c00",
    "middle": "#43a047",
    "ring": "#1e88e5",
    "pinky": "#8e24aa",
    "palm": "#9e9e9e",
}
"""One colour per finger (the proximal-phalanx colour of the part table)."""


def edge_colours_14() -> list[str]:
    """Colour of each edge of :data:`EDGES_14`: the finger of its distal joint."""
    return [FINGER_COLOURS[JOINT_FINGER_14[b]] for _, b in EDGES_14]


def joints_36_to_14(joints: np.ndarray) -> np.ndarray:
    """``(..., 36, C)`` -> ``(..., 14, C)`` evaluation joints."""
    joints = np.asarray(joints)
    if joints.ndim < 2 or joints.shape[-2] != 36:
        raise ValueError(f"expected (..., 36, C) joints, got shape {joints.shape}")
    return joints[..., list(EVAL_INDICES), :]
