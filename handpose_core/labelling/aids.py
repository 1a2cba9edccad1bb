"""What the labelling view needs from a frame: the region it shows, the depth-edges mask,
and predictions brought to full-frame resolution as a starting point.

The labelling view shows the crop box of a frame at the sensor's native resolution:
the full-frame pixels ``[v0, v1) x [u0, u1)`` that the crop window covers (about
250 x 250 pixels for a hand at 70 cm), so one brush pixel is one frame pixel and the
hand labels are full-frame ``(480, 640)`` maps like the dataset's.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..datasets.crop import CropTransform, valid_mask
from .edit import BBox

FRAME_SHAPE = (480, 640)
DEPTH_MARGIN_MM = 40.0
"""How far in front of the nearest joint and behind the farthest joint the hand's depth
range reaches: ground-truth joints sit 3..35 mm behind the visible surface (spec/nyu.md),
so 40 mm keeps the whole visible hand and leaves the background behind it out."""


def view_region(tf: CropTransform, shape: tuple[int, int] = FRAME_SHAPE) -> BBox:
    """The frame pixels ``(y0, x0, y1, x1)`` covered by the crop window, clipped to the frame."""
    y0 = max(0, int(np.floor(tf.v0)))
    x0 = max(0, int(np.floor(tf.u0)))
    y1 = min(shape[0], int(np.ceil(tf.v1)))
    x1 = min(shape[1], int(np.ceil(tf.u1)))
    if y1 <= y0 or x1 <= x0:
        raise ValueError(f"the crop window {tf.u0:.0f}..{tf.u1:.0f} x {tf.v0:.0f}..{tf.v1:.0f} "
                         "lies outside the frame")
    return y0, x0, y1, x1


def hand_depth_range(joints_uvd: np.ndarray, margin_mm: float = DEPTH_MARGIN_MM
                     ) -> tuple[float, float]:
    """``(near, far)`` depth (mm) of the hand: the joints' depth range widened by
    ``margin_mm`` each side. ``joints_uvd`` is ``(J, 3)`` (u px, v px, d mm)."""
    d = np.asarray(joints_uvd, dtype=np.float64)[:, 2]
    d = d[np.isfinite(d) & (d > 0)]
    if d.size == 0:
        raise ValueError("no joint with a valid depth: cannot tell the hand's depth range")
    return float(d.min() - margin_mm), float(d.max() + margin_mm)


def depth_range_mask(depth_mm: np.ndarray, near: float, far: float) -> np.ndarray:
    """``(H, W)`` bool: valid depth returns within ``[near, far]`` mm."""
    d = np.asarray(depth_mm)
    return valid_mask(d) & (d >= near) & (d <= far)


def crop_labels_to_frame(crop_labels: np.ndarray, tf: CropTransform,
                         shape: tuple[int, int] = FRAME_SHAPE,
                         allowed: np.ndarray | None = None) -> np.ndarray:
    """A ``(S, S)`` crop label map brought to the full frame: ``shape`` uint8.

    Each frame pixel inside the crop window takes the label of the crop pixel it falls
    in (nearest neighbour, the inverse of ``crop_labels``); pixels outside the window,
    and pixels where ``allowed`` is False (e.g. outside the hand's depth range), are 0.
    """
    crop_labels = np.asarray(crop_labels, dtype=np.uint8)
    out = cv2.warpAffine(crop_labels, tf.affine(), (shape[1], shape[0]),
                         flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if allowed is not None:
        out[~allowed] = 0
    return out


def depth_display(depth_mm: np.ndarray, near: float, far: float) -> np.ndarray:
    """Depth as an 8-bit grey image to paint over: ``(H, W)`` uint8.

    Pixels in the hand's range ``[near, far]`` are shaded like a lit surface (from the
    depth gradient) in the middle greys, so the part colours stay distinguishable over
    them (the palm's grey included); everything farther is dark, no return black.
    """
    d = np.asarray(depth_mm, dtype=np.float32)
    ok = valid_mask(d)
    filled = cv2.GaussianBlur(np.where(ok, d, far + 200.0), (5, 5), 1.2)  # sensor noise off
    gy, gx = np.gradient(filled)
    # light from the viewer and a little from the top left; slopes of 2 mm / px look tilted
    shade = (1.0 + 0.35 * (gx + gy) / 2.0) / np.sqrt(1.0 + (gx * gx + gy * gy) / 4.0)
    shade = np.clip(shade, 0.15, 1.0)
    hand = ok & (d >= near) & (d <= far)
    span = max(far - near, 1.0)
    nearness = np.clip((far - d) / span, 0.0, 1.0)
    g = np.where(hand, 50 + 90 * shade * (0.6 + 0.4 * nearness), 0.0)
    g = np.where(ok & ~hand, 28 + 12 * shade, g)
    return g.astype(np.uint8)
