"""Pictures of renders: contact sheets of crops (depth | labels) and full depth frames."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..camera import NO_RETURN
from ..parts import colourise


def depth_to_rgb(depth: np.ndarray, *, normalised: bool = False) -> np.ndarray:
    """Colour-map a depth image -> (H, W, 3) uint8 RGB; no return / background is black.

    ``normalised``: crop depth in [-1, 1] with +1 = background; else mm with 2001/0
    invalid. The colours span the image's own 1st..99th percentile (near = red).
    """
    d = np.asarray(depth, dtype=np.float64)
    valid = d < 1.0 if normalised else (d > 0) & (d < NO_RETURN)
    out = np.zeros((*d.shape, 3), np.uint8)
    if valid.any():
        lo, hi = np.percentile(d[valid], 1), np.percentile(d[valid], 99)
        g = np.clip((d - lo) / max(hi - lo, 1e-6), 0, 1)
        cmap = cv2.applyColorMap((255 * (1 - g)).astype(np.uint8), cv2.COLORMAP_TURBO)
        out[valid] = cmap[valid][:, ::-1]
    return out


def frame_to_rgb(depth_mm: np.ndarray, near: float = 600.0, far: float = 2000.0) -> np.ndarray:
    """A full frame in mm -> RGB with a fixed range (jet, near = red; no return dark grey),
    so that frames, real or rendered, can be compared side by side."""
    d = np.asarray(depth_mm, dtype=np.float64)
    g = np.clip((d - near) / (far - near), 0, 1)
    out = cv2.applyColorMap((255 * (1 - g)).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1].copy()
    out[(d <= 0) | (d >= NO_RETURN)] = (40, 40, 40)
    return out


def contact_sheet(depth: np.ndarray, labels: np.ndarray, *, normalised: bool = True,
                  cols: int = 8, scale: int = 3) -> np.ndarray:
    """Tiles of (depth | labels) pairs, ``cols`` pairs per row -> RGB uint8 image.

    ``depth`` (N, H, W) normalised crops (or mm with ``normalised=False``), ``labels``
    (N, H, W) uint8 part ids (palette colours of ``handpose_core.parts``).
    """
    n, h, w = depth.shape
    if n == 0:
        raise ValueError("contact sheet of zero images")
    tiles = []
    for i in range(n):
        pair = np.concatenate([depth_to_rgb(depth[i], normalised=normalised),
                               colourise(labels[i])], axis=1)
        pair = cv2.resize(pair, (2 * w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
        tiles.append(np.pad(pair, ((2, 2), (2, 2), (0, 0)), constant_values=40))
    rows = []
    for r in range(0, n, cols):
        row = tiles[r:r + cols]
        row += [np.full_like(tiles[0], 40)] * (cols - len(row))
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB uint8 image as PNG, atomically."""
    path = Path(path)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(np.asarray(rgb, np.uint8)[..., ::-1]))
    if not ok:
        raise ValueError(f"{path}: could not encode PNG")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, path)
