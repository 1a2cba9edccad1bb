"""The synthetic training store: crops, part labels and joints, read memory-mapped.

A store is a directory::

    meta.json        {"format": "handpose-synthetic", "version": 1, "count": N, "size": S,
                      "style": "clean"|"sensor", "seed": ..., "cube_mm": ..., "complete": bool, ...}
    depth.npy        (N, S, S) float32  normalised crop depth in [-1, 1], +1 = background
    labels.npy       (N, S, S) uint8    part ids 0..20
    joints_uvd.npy   (N, 36, 3) float32 full-frame u, v (px), d (mm)
    joints_xyz.npy   (N, 36, 3) float32 camera xyz (mm, y up)
    crop.npy         (N, 11) float64    CropTransform.to_array() of each crop

Arrays are written through ``numpy.lib.format.open_memmap`` (never all in RAM) and read
with ``mmap_mode="r"``. ``meta.json`` is replaced atomically; ``complete`` becomes true
only after every sample is written, and ``written`` counts the samples done so a broken
run can be resumed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..fileio import open_npy, read_format_meta
from ..fileio import write_json_atomic as _write_json_atomic
from .crop import CropTransform

FORMAT = "handpose-synthetic"
VERSION = 1

_ARRAYS = {
    "depth": (np.float32, lambda s: (s, s)),
    "labels": (np.uint8, lambda s: (s, s)),
    "joints_uvd": (np.float32, lambda s: (36, 3)),
    "joints_xyz": (np.float32, lambda s: (36, 3)),
    "crop": (np.float64, lambda s: (11,)),
}


class SyntheticStoreWriter:
    """Preallocates a store of ``count`` samples and fills it in chunks."""

    def __init__(self, root: str | os.PathLike, count: int, size: int, *, resume: bool = False,
                 **meta):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.meta_path = self.root / "meta.json"
        existing = None
        if resume and self.meta_path.exists():
            try:  # a store that cannot be read is rendered again, not a dead end
                existing = read_meta(self.meta_path)
            except ValueError:
                existing = None
            if existing and (existing["count"] != count or existing["size"] != size):
                existing = None
        self.arrays = {}
        if existing:
            self.arrays = _open_arrays(self.root, count, size)
            if self.arrays is None:  # arrays missing or damaged: start over
                existing, self.arrays = None, {}
        if not existing:
            self.meta_path.unlink(missing_ok=True)  # incomplete until rewritten below
            for name, (dtype, shape) in _ARRAYS.items():
                self.arrays[name] = np.lib.format.open_memmap(
                    self.root / f"{name}.npy", mode="w+", dtype=dtype, shape=(count, *shape(size)))
        self.meta = dict(existing) if existing else {
            "format": FORMAT, "version": VERSION, "count": int(count), "size": int(size),
            "written": 0, "complete": False, **meta}
        if not existing:
            _write_json_atomic(self.meta_path, self.meta)

    @property
    def written(self) -> int:
        return int(self.meta["written"])

    def write(self, start: int, **chunk: np.ndarray) -> None:
        """Write samples ``start:start+n`` of every array, then record progress."""
        n = None
        for name in _ARRAYS:
            a = np.asarray(chunk[name])
            n = a.shape[0] if n is None else n
            if a.shape[0] != n:
                raise ValueError(f"chunk arrays differ in length: {name} has {a.shape[0]}")
            self.arrays[name][start:start + n] = a
        for a in self.arrays.values():
            a.flush()
        self.meta["written"] = max(self.written, start + n)
        _write_json_atomic(self.meta_path, self.meta)

    def close(self) -> None:
        for a in self.arrays.values():
            a.flush()
        self.meta["complete"] = self.written >= self.meta["count"]
        _write_json_atomic(self.meta_path, self.meta)
        self.arrays.clear()


_META_INTS = ("count", "size", "written")


def read_meta(mp: Path) -> dict:
    """Read and check a store's ``meta.json``: a dict of this format, a version this code
    reads, integer ``count`` >= 1, ``size`` >= 1 and ``written`` >= 0. Raises
    ``FileNotFoundError`` / ``ValueError`` naming the file."""
    meta = read_format_meta(mp, fmt=FORMAT, version=VERSION, what="synthetic store")
    for key in _META_INTS:
        v = meta.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v < (0 if key == "written" else 1):
            raise BadInput(f"{mp}: corrupt store metadata ({key}={v!r}, expected an integer"
                           f" >= {0 if key == 'written' else 1})")
    return meta


def _open_arrays(root: Path, count: int, size: int) -> dict | None:
    """The store's arrays opened read-write, or None if any is missing or misshapen."""
    arrays = {}
    for name, (dtype, shape) in _ARRAYS.items():
        try:
            a = np.load(root / f"{name}.npy", mmap_mode="r+")
        except (OSError, ValueError, EOFError):
            return None
        if a.shape != (count, *shape(size)) or a.dtype != dtype:
            return None
        arrays[name] = a
    return arrays


@dataclass
class SyntheticStore:
    """A complete store opened memory-mapped. Index it like a sequence."""

    root: Path
    meta: dict
    depth: np.ndarray
    labels: np.ndarray
    joints_uvd: np.ndarray
    joints_xyz: np.ndarray
    crop: np.ndarray

    @classmethod
    def open(cls, root: str | os.PathLike, *, allow_incomplete: bool = False) -> SyntheticStore:
        root = Path(root)
        meta = read_meta(root / "meta.json")
        if not meta.get("complete") and not allow_incomplete:
            raise BadInput(f"{root / 'meta.json'}: store is incomplete ({meta.get('written')}/"
                           f"{meta.get('count')} samples written); re-run synth to finish it")
        arrays = {}
        n = min(meta["written"], meta["count"]) if allow_incomplete else meta["count"]
        for name, (dtype, shape) in _ARRAYS.items():
            a = open_npy(root / f"{name}.npy", "store array",
                         shape=(meta["count"], *shape(meta["size"])), dtype=dtype)
            arrays[name] = a[:n]
        return cls(root, meta, **arrays)

    def __len__(self) -> int:
        return int(self.depth.shape[0])

    @property
    def size(self) -> int:
        return int(self.meta["size"])

    def transform(self, i: int) -> CropTransform:
        return CropTransform.from_array(self.crop[i])
