"""The per-project crop cache: memory-mapped arrays over all frames with a done flag."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..fileio import flush_memmap


class CropCache:
    """``crops_<size>_<cube>_{depth,tf,labels,done}.npy`` in ``folder``, one row per frame
    (in frame-id order). A row is valid once its done flag is set; the flag is flushed
    after the data, so an interrupted write leaves the row recomputed, never stale. A data
    file that does not read (cut, damaged header, another shape) is made again empty, and
    then every done flag is cleared: its rows are recomputed, never read as zeros."""

    def __init__(self, folder: Path, n: int, size: int, cube: float):
        stem = folder / f"crops_{size}_{int(cube)}"
        made = []
        self.paths = {k: Path(f"{stem}_{k}.npy") for k in ("depth", "tf", "labels", "done")}
        self.depth = _open_mm(self.paths["depth"], np.float32, (n, size, size), made)
        self.tf = _open_mm(self.paths["tf"], np.float64, (n, 11), made)
        self.labels = _open_mm(self.paths["labels"], np.uint8, (n, size, size), made)
        self.done = _open_mm(self.paths["done"], np.uint8, (n,), made)
        if made and self.done.any():
            self.done[:] = 0
            flush_memmap(self.done, self.paths["done"])

    def put(self, i: int, depth, tf, labels) -> None:
        self.depth[i] = depth
        self.tf[i] = tf
        self.labels[i] = 0 if labels is None else labels
        self.done[i] = 1

    def forget(self, i: int) -> None:
        self.done[i] = 0
        flush_memmap(self.done, self.paths["done"])

    def flush(self) -> None:
        """Wait until the rows put are on disk: data first, then the flags that say it is
        there. Other threads (the GUI) run meanwhile (:func:`~..fileio.flush_memmap`)."""
        for k in ("depth", "tf", "labels", "done"):
            flush_memmap(getattr(self, k), self.paths[k])


def _open_mm(p: Path, dtype, shape, made: list) -> np.ndarray:
    if p.exists():
        try:
            size = p.stat().st_size  # before the load: mode r+ pads a cut file with zeros
            a = np.load(p, mmap_mode="r+")
            if a.shape == shape and a.dtype == dtype and a.offset + a.nbytes == size:
                return a
        except Exception:  # noqa: BLE001 -- any damage: a cut or flipped header
            pass  # unreadable (cut, damaged header) or of another shape: rebuilt below
    made.append(p)
    return np.lib.format.open_memmap(p, mode="w+", dtype=dtype, shape=shape)
