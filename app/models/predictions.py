"""f_s predictions for the studio: the project's current and fine-tuned models, cached (no Qt).

Loading a model imports torch and reads a checkpoint (seconds), and even one 48 x 48 crop
takes f_s tens of milliseconds on a busy CPU, so both happen in workers: the session
builds a :class:`SegPredictor` in one, and a prediction worker fills its cache in batches,
the current frame and the frames after it first. The GUI thread only looks maps up.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np


def segnet_paths(project) -> tuple[Path | None, Path | None]:
    """``(current f_s checkpoint, fine-tuned f_s checkpoint or None)`` of a project, each
    None when its file is missing. The current model is the project's own pre-trained
    f_s, else the bundled one."""
    # deferred: imported when first used, these cost start-up seconds (torch, numba, scipy)
    from handpose_core.nets.inference import segnet_path

    raw, fine = segnet_path(project, "pretrained"), segnet_path(project, "finetuned")
    return (raw if raw is not None and Path(raw).exists() else None,
            fine if fine is not None and Path(fine).exists() else None)


def load_segnet(path: Path):
    """The f_s network at ``path`` in eval mode (loaded once per file by the core)."""
    # deferred: imported when first used, these cost start-up seconds (torch, numba, scipy)
    from handpose_core.nets.inference import load_segnet_model

    return load_segnet_model(path)


class SegPredictor:
    """Part maps ``(S, S)`` uint8 of single depth crops by the current and fine-tuned f_s.

    Thread-safe; keeps the last ``capacity`` predictions of each model by frame id.
    """

    def __init__(self, raw_path: Path | None, finetuned_path: Path | None, capacity: int = 4096):
        self.raw_path, self.finetuned_path = raw_path, finetuned_path
        self.raw_model = load_segnet(raw_path) if raw_path else None
        self.finetuned_model = load_segnet(finetuned_path) if finetuned_path else None
        self._cache: dict[str, OrderedDict[int, np.ndarray]] = {"raw": OrderedDict(),
                                                                "fine": OrderedDict()}
        self._capacity = capacity
        self._lock = threading.Lock()

    @classmethod
    def for_project(cls, project) -> SegPredictor:
        return cls(*segnet_paths(project))

    @property
    def raw_name(self) -> str:
        if self.raw_path is None:
            return "none"
        p = Path(self.raw_path)
        return p.stem if p.parent.name == "models" and p.parent.parent.name == "resources" \
            else p.parent.name

    def raw(self, frame_id: int, depth_crop: np.ndarray) -> np.ndarray | None:
        return self._predict("raw", self.raw_model, frame_id, depth_crop)

    def finetuned(self, frame_id: int, depth_crop: np.ndarray) -> np.ndarray | None:
        return self._predict("fine", self.finetuned_model, frame_id, depth_crop)

    def lookup(self, which: str, frame_id: int) -> np.ndarray | None:
        """A stored prediction (``which`` "raw" or "fine") or None; never predicts."""
        with self._lock:
            return self._cache[which].get(int(frame_id))

    def count(self, which: str) -> int:
        """How many maps of one model (``which`` "raw" or "fine") are stored."""
        with self._lock:
            return len(self._cache[which])

    def has_model(self, which: str) -> bool:
        return (self.raw_model if which == "raw" else self.finetuned_model) is not None

    def predict_batch(self, which: str, frame_ids, depth: np.ndarray) -> None:
        """Predict ``depth`` ``(N, S, S)`` float32 crops of ``frame_ids`` with one model and
        store the maps (called from the prediction worker)."""
        model = self.raw_model if which == "raw" else self.finetuned_model
        if model is None or not len(frame_ids):
            return
        labels, _ = model.predict(np.asarray(depth, np.float32), probabilities=False)
        self.put_many(which, frame_ids, labels)

    def put_many(self, which: str, frame_ids, maps: np.ndarray) -> None:
        """Store batch predictions (``which`` "raw" or "fine") made elsewhere."""
        with self._lock:
            c = self._cache[which]
            for fid, m in zip(frame_ids, maps):
                c[int(fid)] = np.asarray(m, np.uint8)
            while len(c) > self._capacity:
                c.popitem(last=False)

    def cached(self, which: str, frame_id: int) -> bool:
        with self._lock:
            return frame_id in self._cache[which]

    def forget(self, frame_id: int) -> None:
        with self._lock:
            for c in self._cache.values():
                c.pop(frame_id, None)

    def _predict(self, which, model, frame_id, depth_crop):
        if model is None:
            return None
        with self._lock:
            c = self._cache[which]
            if frame_id in c:
                c.move_to_end(frame_id)
                return c[frame_id]
            labels, _ = model.predict(np.asarray(depth_crop, np.float32)[None],
                                      probabilities=False)
            c[frame_id] = labels[0]
            if len(c) > self._capacity:
                c.popitem(last=False)
            return labels[0]
