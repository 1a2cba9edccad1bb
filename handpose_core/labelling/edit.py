"""Editing operations on full-frame label maps: brush, eraser, flood fill, picker.

A label map is a ``(H, W)`` uint8 array of part ids (0..20), normally the whole
480 x 640 frame. Positions are continuous frame coordinates in pixels: pixel
``(row, col)`` covers ``[col, col + 1) x [row, row + 1)``, its centre is
``(col + 0.5, row + 0.5)``. Every operation works in place and returns the bounding box
it may have changed as ``(y0, x0, y1, x1)`` (half-open), or None when it changed nothing,
so an undo step needs to keep only that box before and after (:class:`Patch`).

``allowed`` masks (``(H, W)`` bool) limit painting to pixels where they are True (the
"depth edges" aid); ``region`` boxes ``(y0, x0, y1, x1)`` limit it to the part of the
frame the user sees (the crop box), so a fill of the background cannot run over the
whole frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..parts import NUM_CLASSES

BBox = tuple[int, int, int, int]
"""``(y0, x0, y1, x1)``: rows y0..y1-1, columns x0..x1-1."""

MIN_BRUSH, MAX_BRUSH = 1, 64
"""Brush diameters in pixels."""


@dataclass(frozen=True)
class Patch:
    """The before / after contents of one box of a label map: one undo step.

    ``before`` and ``after`` are ``(y1 - y0, x1 - x0)`` uint8 arrays.
    """

    y0: int
    x0: int
    before: np.ndarray
    after: np.ndarray

    @property
    def bbox(self) -> BBox:
        h, w = self.before.shape
        return self.y0, self.x0, self.y0 + h, self.x0 + w

    def apply(self, labels: np.ndarray, *, undo: bool = False) -> None:
        """Write ``after`` (``before`` when ``undo``) into ``labels`` in place."""
        y0, x0, y1, x1 = self.bbox
        labels[y0:y1, x0:x1] = self.before if undo else self.after

    @property
    def changed_pixels(self) -> int:
        return int(np.count_nonzero(self.before != self.after))


def union(a: BBox | None, b: BBox | None) -> BBox | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def clip_box(box: BBox, shape: tuple[int, int], region: BBox | None = None) -> BBox | None:
    """``box`` clipped to the array (and to ``region``); None when empty."""
    y0, x0, y1, x1 = box
    ry0, rx0, ry1, rx1 = region if region is not None else (0, 0, shape[0], shape[1])
    y0, x0 = max(y0, ry0, 0), max(x0, rx0, 0)
    y1, x1 = min(y1, ry1, shape[0]), min(x1, rx1, shape[1])
    return (y0, x0, y1, x1) if y1 > y0 and x1 > x0 else None


def _check_value(value: int) -> int:
    value = int(value)
    if not 0 <= value < NUM_CLASSES:
        raise ValueError(f"part id must be in 0..{NUM_CLASSES - 1}, got {value}")
    return value


def brush_radius(size: int) -> float:
    """Distance (px) from a pixel centre to the stroke within which a brush of diameter
    ``size`` paints it: a size-1 brush paints a one-pixel, 8-connected line."""
    return max(size / 2.0, 0.5)


def stamp_segment(labels: np.ndarray, p0: tuple[float, float], p1: tuple[float, float],
                  value: int, size: int, *, allowed: np.ndarray | None = None,
                  region: BBox | None = None) -> BBox | None:
    """Paint the segment ``p0 -> p1`` (x, y frame coordinates) with a round brush.

    Every pixel whose centre lies within :func:`brush_radius` of the segment (and is
    allowed, and inside ``region``) gets ``value``. ``p0 == p1`` paints one dab. Returns
    the box that may have changed.
    """
    value = _check_value(value)
    r = brush_radius(size)
    (ax, ay), (bx, by) = (float(p0[0]), float(p0[1])), (float(p1[0]), float(p1[1]))
    box = clip_box((int(np.floor(min(ay, by) - r)), int(np.floor(min(ax, bx) - r)),
                    int(np.ceil(max(ay, by) + r)) + 1, int(np.ceil(max(ax, bx) + r)) + 1),
                   labels.shape, region)
    if box is None:
        return None
    y0, x0, y1, x1 = box
    hit = _segment_mask(y0, x0, y1, x1, ax, ay, bx, by, r)
    if allowed is not None:
        hit &= allowed[y0:y1, x0:x1]
    if not hit.any():
        return None
    labels[y0:y1, x0:x1][hit] = value
    return box


def _segment_mask(y0, x0, y1, x1, ax, ay, bx, by, r) -> np.ndarray:
    if ax == bx and ay == by:  # a dab
        return _dab(y0, x0, y1, x1, ax, ay, r)
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5
    dx, dy = bx - ax, by - ay
    ll = dx * dx + dy * dy
    if ll == 0.0:
        t = 0.0
    else:
        t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / ll, 0.0, 1.0)
    ex, ey = xs - (ax + t * dx), ys - (ay + t * dy)
    return ex * ex + ey * ey <= r * r


def _dab(y0, x0, y1, x1, ax, ay, r) -> np.ndarray:
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - ay
    xs = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - ax
    return xs * xs + ys * ys <= r * r


def flood_fill(labels: np.ndarray, x: float, y: float, value: int, *,
               allowed: np.ndarray | None = None, region: BBox | None = None) -> BBox | None:
    """Give ``value`` to the 4-connected region of the pixel under ``(x, y)``.

    The region is the pixels with the same label as that pixel, connected to it inside
    ``region`` and through allowed pixels only. Returns the changed box, or None (the
    pixel is outside, not allowed, or already ``value``).
    """
    value = _check_value(value)
    row, col = int(np.floor(y)), int(np.floor(x))
    box = clip_box(region or (0, 0) + labels.shape, labels.shape)
    if box is None:
        return None
    y0, x0, y1, x1 = box
    if not (y0 <= row < y1 and x0 <= col < x1):
        return None
    old = labels[row, col]
    if old == value or (allowed is not None and not allowed[row, col]):
        return None
    sub = labels[y0:y1, x0:x1]
    same = sub == old
    if allowed is not None:
        same &= allowed[y0:y1, x0:x1]
    comp, _ = ndimage.label(same)  # 4-connectivity (the default structure)
    fill = comp == comp[row - y0, col - x0]
    sub[fill] = value
    rows, cols = np.nonzero(fill)
    return (y0 + int(rows.min()), x0 + int(cols.min()), y0 + int(rows.max()) + 1,
            x0 + int(cols.max()) + 1)


def pick(labels: np.ndarray, x: float, y: float) -> int | None:
    """The part id under ``(x, y)``, or None outside the map."""
    row, col = int(np.floor(y)), int(np.floor(x))
    if 0 <= row < labels.shape[0] and 0 <= col < labels.shape[1]:
        return int(labels[row, col])
    return None


def replace_region(labels: np.ndarray, new: np.ndarray, region: BBox) -> BBox | None:
    """Copy ``new`` (a full map) into ``labels`` inside ``region``; the changed box."""
    y0, x0, y1, x1 = region
    labels[y0:y1, x0:x1] = new[y0:y1, x0:x1]
    return region


class StrokeRecorder:
    """Collects what one stroke changed, for a :class:`Patch` undo step.

    Keeps a copy of the map as the stroke began; :meth:`touch` adds each operation's box;
    :meth:`finish` returns the patch of the union box (None when no pixel changed).
    """

    def __init__(self, labels: np.ndarray):
        self._start = labels.copy()
        self.bbox: BBox | None = None

    def touch(self, box: BBox | None) -> None:
        self.bbox = union(self.bbox, box)

    def finish(self, labels: np.ndarray) -> Patch | None:
        if self.bbox is None:
            return None
        y0, x0, y1, x1 = self.bbox
        before = self._start[y0:y1, x0:x1].copy()
        after = labels[y0:y1, x0:x1].copy()
        if np.array_equal(before, after):
            return None
        return Patch(y0, x0, before, after)
