"""The crop cache's flush waits for the disk without holding the GIL (on Linux it syncs
each file with ``os.fdatasync``, data before flags, instead of ``np.memmap.flush``, whose
``msync`` keeps the GIL: a worker cropping NYU's 8,252 test frames froze the studio's GUI
thread while the cache was written out)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from handpose_core.project.crops import CropCache


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fdatasync path: Linux only")
def test_flush_syncs_each_file_in_order_without_memmap_flush(tmp_path, monkeypatch):
    c = CropCache(tmp_path, 6, 8, 300.0)
    rng = np.random.default_rng(0)
    d = rng.random((8, 8), dtype=np.float32)
    lab = rng.integers(0, 21, (8, 8), dtype=np.uint8)
    tf = rng.random(11)
    c.put(3, d, tf, lab)
    synced = []
    real = os.fdatasync

    def record(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    def no_msync(self):
        raise AssertionError("np.memmap.flush holds the GIL during msync")

    monkeypatch.setattr(os, "fdatasync", record)
    monkeypatch.setattr(np.memmap, "flush", no_msync)
    c.flush()
    assert [os.path.basename(p) for p in synced] == [
        "crops_8_300_depth.npy", "crops_8_300_tf.npy", "crops_8_300_labels.npy",
        "crops_8_300_done.npy"]  # the data before the flags that say it is there
    c.forget(0)
    assert os.path.basename(synced[-1]) == "crops_8_300_done.npy"
    monkeypatch.undo()
    del c
    again = CropCache(tmp_path, 6, 8, 300.0)
    assert again.done.tolist() == [0, 0, 0, 1, 0, 0]
    np.testing.assert_array_equal(again.depth[3], d)
    np.testing.assert_array_equal(again.labels[3], lab)
    np.testing.assert_array_equal(again.tf[3], tf)
