"""Label patches and their binary encoding for Hamming search.

A patch is the ``P x P`` square of a label map centred on one pixel; pixels outside the
map read as background (0). The paper's distance between two patches is the Hamming
distance on labels: the number of positions whose part ids differ
(:func:`label_hamming`).

annoy cannot hold that distance on all ``P * P`` positions at dictionary scale (a
one-hot of 27 x 27 x 21 bits is 1.9 KB per patch), so it indexes a compact
:class:`PatchEncoding`, and the dictionary re-ranks annoy's candidates with the exact
label Hamming distance on the full patch. The encoding only has to rank the true
nearest patch among the first few dozen candidates. Two choices make it compact:

- positions: a grid of every ``stride``-th pixel (both axes, through the centre),
  optionally plus a dense ``core`` square around the centre;
- a code per position: ``"cw6"`` (default), 6 bits per position, background = 000000
  and the 20 hand parts = the 20 six-bit words with exactly three ones (C(6,3) = 20), so
  every hand/background mismatch costs 3 bits and a part/part mismatch 2, 4 or 6
  (3 on average): close to a uniform label Hamming weight; or ``"onehot20"``,
  20 bits per position (background = none), where a part/part mismatch costs twice a
  hand/background one.

The default (cw6 on the stride-2 grid, 1,014 bits at P = 27) was chosen by
``handpose-studio bench restore``; the comparison of encodings, strides and cores is in
docs/restoration.md.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import BadInput
from ..parts import NUM_CLASSES

N_HAND = NUM_CLASSES - 1

DEFAULT_PATCH = 27
"""Patch side P in pixels at 48x48 crops (the seed paper's)."""


def _code_tables() -> dict[str, np.ndarray]:
    cw6 = [[0] * 6] + [[1 if j in c else 0 for j in range(6)]
                       for c in itertools.combinations(range(6), 3)]
    onehot = np.zeros((NUM_CLASSES, N_HAND), dtype=bool)
    onehot[np.arange(1, NUM_CLASSES), np.arange(N_HAND)] = True
    return {"cw6": np.array(cw6, dtype=bool), "onehot20": onehot}


CODES: dict[str, np.ndarray] = _code_tables()
"""Bit code of each part id: ``(21, bits)`` bool tables."""


def _check_patch(patch: int) -> int:
    patch = int(patch)
    if patch < 1 or patch % 2 == 0:
        raise BadInput(f"patch size must be a positive odd number, got {patch}")
    return patch


def hand_pixels(labels: np.ndarray, stride: int = 1) -> np.ndarray:
    """Hand pixels (label > 0) of an ``(S, S)`` map as ``(K, 2)`` int64 (row, col).

    With ``stride > 1`` only pixels on the grid ``row % stride == col % stride == 0``
    are kept (queries are subsampled; integration still reaches every pixel).
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"a label map is 2-D, got shape {labels.shape}")
    mask = labels > 0
    if stride > 1:
        grid = np.zeros_like(mask)
        grid[::stride, ::stride] = True
        mask &= grid
    return np.argwhere(mask).astype(np.int64)


def extract_patches(labels: np.ndarray, centers: np.ndarray, patch: int = DEFAULT_PATCH,
                    image_index: np.ndarray | None = None) -> np.ndarray:
    """``P x P`` label patches centred on ``centers``, background-padded at borders.

    ``labels`` is ``(S, S)`` or ``(N, S, S)`` uint8; ``centers`` is ``(K, 2)`` (row, col);
    for a stack, ``image_index`` ``(K,)`` says which map each centre belongs to.
    Returns ``(K, P, P)`` uint8 (a copy).
    """
    patch = _check_patch(patch)
    labels = np.asarray(labels, dtype=np.uint8)
    centers = np.asarray(centers, dtype=np.int64).reshape(-1, 2)
    h = patch // 2
    stack = labels[None] if labels.ndim == 2 else labels
    if stack.ndim != 3:
        raise ValueError(f"label maps must be (S, S) or (N, S, S), got {labels.shape}")
    if image_index is None:
        if stack.shape[0] != 1:
            raise ValueError("image_index is required for a stack of label maps")
        image_index = np.zeros(len(centers), dtype=np.int64)
    padded = np.pad(stack, ((0, 0), (h, h), (h, h)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (patch, patch), axis=(1, 2))
    # windows[n, r, c] is the patch centred on (r, c) of map n (padding offsets cancel)
    return np.ascontiguousarray(windows[np.asarray(image_index), centers[:, 0], centers[:, 1]])


def label_hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Label Hamming distance (number of differing positions) of broadcastable patches.

    ``a``, ``b``: ``(..., P, P)`` uint8 -> ``(...)`` int32.
    """
    return (np.asarray(a) != np.asarray(b)).sum(axis=(-2, -1), dtype=np.int32)


TIE_WINDOW = 17
"""Side of the centred square whose centre-weighted label Hamming distance breaks ties
of the full one (the default integration window: the part of a retrieved patch that
votes)."""

TIE_SCALE = 4096
"""``match_key = full distance * TIE_SCALE + tie distance`` (tie distance < 3,700 for
any window up to 27)."""


def tie_weights(patch: int, tie_window: int = TIE_WINDOW) -> np.ndarray:
    """``(P, P)`` int64 weights of the tie distance: ``h + 1 - max(|dy|, |dx|)`` inside
    the centred ``tie_window`` square (``h = tie_window // 2``), 0 outside -- a
    difference counts more the closer it is to the centre."""
    c, h = patch // 2, min(tie_window, patch) // 2
    off = np.abs(np.arange(patch) - c)
    ring = np.maximum(off[:, None], off[None, :])
    return np.where(ring <= h, h + 1 - ring, 0).astype(np.int64)


def match_key(a: np.ndarray, b: np.ndarray, tie_window: int = TIE_WINDOW) -> np.ndarray:
    """Order of candidate patches for a query: the paper's label Hamming distance, ties
    broken by the centre-weighted distance of :func:`tie_weights`.

    The nearest patch under the paper's distance alone is often not unique (how often:
    docs/restoration.md); tied patches vote differently, so "the" exact restoration
    would depend on dictionary order. Both the exact and the annoy
    search minimise this key (what ties remain: the lowest dictionary index), so they
    agree whenever annoy's candidates contain the exact answer.
    ``a``, ``b``: broadcastable ``(..., P, P)`` uint8 -> ``(...)`` int64.
    """
    diff = np.asarray(a) != np.asarray(b)
    full = diff.sum(axis=(-2, -1), dtype=np.int64)
    tie = (diff * tie_weights(diff.shape[-1], tie_window)).sum(axis=(-2, -1))
    return full * TIE_SCALE + tie


@dataclass(frozen=True)
class PatchEncoding:
    """Which positions of a ``P x P`` patch are encoded for annoy, and how.

    Positions: the grid of pixels at offsets ``(stride * i, stride * j)`` from the
    centre plus every pixel of the centred ``core x core`` square (``core = 0``: none);
    ``stride=1`` encodes all ``P * P`` positions. Each position contributes the bits of
    ``code`` (:data:`CODES`), position-major: bit ``b * k + j`` for position k.
    """

    patch: int = DEFAULT_PATCH
    stride: int = 2
    core: int = 0
    code: str = "cw6"

    def __post_init__(self) -> None:
        _check_patch(self.patch)
        if self.stride < 1:
            raise BadInput(f"encoding stride must be >= 1, got {self.stride}")
        if self.core < 0 or (self.core and self.core % 2 == 0) or self.core > self.patch:
            raise BadInput(f"encoding core must be 0 or an odd size <= {self.patch}, "
                           f"got {self.core}")
        if self.code not in CODES:
            raise BadInput(f"unknown patch code {self.code!r} ({', '.join(CODES)})")

    @property
    def name(self) -> str:
        if self.stride == 1:
            return f"{self.code}-p{self.patch}-full"
        return f"{self.code}-p{self.patch}-s{self.stride}" + (f"c{self.core}" if self.core else "")

    @property
    def bits_per_position(self) -> int:
        return int(CODES[self.code].shape[1])

    @cached_property
    def positions(self) -> np.ndarray:
        """``(n,)`` int64 flat indices (row * P + col) of the encoded positions."""
        p, c = self.patch, self.patch // 2
        off = np.arange(-c, c + 1)
        grid = (off % self.stride) == 0
        keep = grid[:, None] & grid[None, :]
        if self.core:
            k = self.core // 2
            near = np.abs(off) <= k
            keep |= near[:, None] & near[None, :]
        return np.flatnonzero(keep.reshape(p * p)).astype(np.int64)

    @property
    def n_bits(self) -> int:
        return int(self.positions.size) * self.bits_per_position

    @property
    def n_words(self) -> int:
        """uint64 words per packed patch (annoy's internal size)."""
        return (self.n_bits + 63) // 64

    def to_dict(self) -> dict:
        return {"name": self.name, "patch": self.patch, "stride": self.stride,
                "core": self.core, "code": self.code, "n_bits": self.n_bits}

    @classmethod
    def from_dict(cls, d: dict) -> PatchEncoding:
        return cls(int(d["patch"]), int(d["stride"]), int(d["core"]), str(d["code"]))

    def bits(self, patches: np.ndarray) -> np.ndarray:
        """``(K, P, P)`` uint8 patches -> ``(K, n_bits)`` bool bits."""
        patches = np.asarray(patches, dtype=np.uint8)
        k = patches.shape[0]
        if patches.shape[1:] != (self.patch, self.patch):
            raise ValueError(f"expected (K, {self.patch}, {self.patch}) patches, "
                             f"got {patches.shape}")
        sel = patches.reshape(k, -1)[:, self.positions]
        if sel.size and sel.max() >= NUM_CLASSES:
            raise ValueError(f"patch labels must be part ids 0..{NUM_CLASSES - 1}")
        return CODES[self.code][sel].reshape(k, self.n_bits)

    def pack(self, patches: np.ndarray, chunk: int = 32768) -> np.ndarray:
        """``(K, P, P)`` patches -> ``(K, n_words)`` uint64, bit ``i`` of the encoding at
        bit ``i % 64`` of word ``i // 64`` (annoy's own packing of hamming vectors)."""
        patches = np.asarray(patches)
        out = np.zeros((patches.shape[0], self.n_words * 8), dtype=np.uint8)
        nbytes = (self.n_bits + 7) // 8
        for s in range(0, patches.shape[0], chunk):
            b = self.bits(patches[s:s + chunk])
            out[s:s + chunk, :nbytes] = np.packbits(b, axis=1, bitorder="little")
        return out.view("<u8")


ENCODINGS: dict[str, PatchEncoding] = {
    "cw6-full": PatchEncoding(27, 1, 0, "cw6"),
    "cw6-s2": PatchEncoding(27, 2, 0, "cw6"),
    "cw6-s3": PatchEncoding(27, 3, 0, "cw6"),
    "cw6-s2c9": PatchEncoding(27, 2, 9, "cw6"),
    "onehot20-s3c5": PatchEncoding(27, 3, 5, "onehot20"),
}
"""Named encodings for P = 27 (the CLI and bench refer to them by key)."""
