"""Dictionary patches cut on demand from their source label maps.

A dictionary of many source maps holds far more patches than it is worth storing one by
one (57,000 48x48 maps are 131 MB; a million 27x27 patches cut from them are 729 MB).
:class:`MapPatches` stores the maps and the ``(map, row, col)`` centre of each item and
behaves like the ``(M, P, P)`` uint8 patch array for the readers that index it
(``patches[ids]``, ``patches[a:b]``, ``patches[i]``, ``len``, ``shape``, ``dtype``):
the same values :func:`.patches.extract_patches` cuts, background (0) outside the map.
The compiled re-ranking (:func:`.exact.rerank`) reads the maps in place.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..fileio import open_npy
from .patches import extract_patches


class MapPatches:
    """``(M, P, P)`` uint8 patches, item ``i`` centred on ``sources[i, 1:]`` of map
    ``maps[sources[i, 0]]`` (``maps`` ``(N, S, S)`` uint8, may be a memory map;
    ``sources`` ``(M, 3)`` int32). Indexing returns a new ndarray."""

    dtype = np.dtype(np.uint8)
    ndim = 3

    def __init__(self, maps: np.ndarray, sources: np.ndarray, patch: int):
        if maps.ndim != 3 or maps.shape[1] != maps.shape[2] or maps.dtype != np.uint8:
            raise ValueError(f"source maps must be (N, S, S) uint8, got {maps.shape} {maps.dtype}")
        if sources.ndim != 2 or sources.shape[1] != 3:
            raise ValueError(f"patch sources must be (M, 3), got {sources.shape}")
        if patch % 2 == 0 or patch < 1:
            raise ValueError(f"patch size must be odd and positive, got {patch}")
        self.maps = maps
        self.sources = sources
        self.patch = int(patch)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (int(self.sources.shape[0]), self.patch, self.patch)

    def __len__(self) -> int:
        return int(self.sources.shape[0])

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, tuple):  # patches[ids, r, c]: cut, then index the rest
            return self[key[0]][(slice(None), *key[1:])] if not np.isscalar(key[0]) \
                else self[key[0]][key[1:]]
        if isinstance(key, (int, np.integer)):
            i = int(key)
            if not -len(self) <= i < len(self):
                raise IndexError(f"patch {i} out of range for {len(self)} patches")
            return self._cut(np.array([i % len(self)]))[0]
        if isinstance(key, slice):
            return self._cut(np.arange(len(self))[key])
        ids = np.asarray(key)
        if ids.dtype == bool:
            ids = np.flatnonzero(ids)
        ids = ids.astype(np.int64, copy=False)
        if ids.size and (ids.max() >= len(self) or ids.min() < -len(self)):
            raise IndexError(f"patch ids out of range for {len(self)} patches")
        flat = self._cut(ids.ravel() % max(1, len(self)))
        return flat.reshape(*ids.shape, self.patch, self.patch)

    def _cut(self, ids: np.ndarray) -> np.ndarray:
        if ids.size == 0:
            return np.zeros((0, self.patch, self.patch), np.uint8)
        src = np.asarray(self.sources[ids], dtype=np.int64)
        lo, hi = int(src[:, 0].min()), int(src[:, 0].max()) + 1
        if hi - lo <= 4 * len(ids) + 64:  # clustered ids: one contiguous read
            block = np.asarray(self.maps[lo:hi])
            return extract_patches(block, src[:, 1:], self.patch, src[:, 0] - lo)
        used, inv = np.unique(src[:, 0], return_inverse=True)
        block = np.asarray(self.maps[used])
        return extract_patches(block, src[:, 1:], self.patch, inv.ravel())

    def __array__(self, dtype=None, copy=None):
        a = self[:]
        return a if dtype is None else a.astype(dtype)


MAPS_FILE = "maps.npy"


def write_maps(path, maps: np.ndarray, step: int = 8192) -> None:
    """Copy ``maps`` ``(N, S, S)`` uint8 (a store's memmap is fine) to ``path`` (.npy)
    in chunks through a temporary file, renamed when complete."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=tuple(maps.shape))
    for s in range(0, maps.shape[0], step):
        arr[s:s + step] = np.asarray(maps[s:s + step], dtype=np.uint8)
    arr.flush()
    del arr
    os.replace(tmp, path)


def open_map_patches(folder, meta: dict, sources: np.ndarray | None) -> MapPatches:
    """The lazy patch array of a dictionary folder stored as source maps (``maps.npy`` +
    ``sources.npy``), checked against ``meta``; ``ValueError`` / ``FileNotFoundError``
    naming the file otherwise."""
    if sources is None:
        raise FileNotFoundError(f"{Path(folder) / 'sources.npy'}: dictionary patch sources missing")
    want = (int(meta["n_images"]), int(meta["map_size"]), int(meta["map_size"]))
    maps = open_npy(Path(folder) / MAPS_FILE, "dictionary source maps", shape=want,
                    dtype="uint8")
    src = np.asarray(sources)
    if src.shape != (int(meta["n_patches"]), 3):
        raise BadInput(f"{Path(folder) / 'sources.npy'}: expected ({meta['n_patches']}, 3), "
                       f"got {src.shape}")
    if len(src) and (src.min() < 0 or src[:, 0].max() >= want[0] or src[:, 1:].max() >= want[1]):
        raise BadInput(f"{Path(folder) / 'sources.npy'}: patch centres outside the "
                       f"{want[0]} source maps")
    return MapPatches(maps, sources, int(meta["patch"]))
