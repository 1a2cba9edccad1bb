"""Inference with the project's networks: which model, loading it once, batched prediction.

The stages, ``evaluate`` and the studio all predict through this module, so they use the
same model for a project and the same batching and cancellation.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from .. import resources_dir
from ..fileio import file_identity
from ..progress import ProgressFn, check_cancel
from .checkpoint import load_segnet
from .model_paths import model_path, set_model_path

WHICH = ("pretrained", "finetuned")
"""The project's segmentation networks: f_s pre-trained on synthetic renders, and f_s
fine-tuned on restored real frames."""

_META_KEY = {"pretrained": "segnet", "finetuned": "segnet_finetuned"}
_cache: dict[tuple, object] = {}  # file_identity -> model
_cache_lock = threading.Lock()


def bundled_segnet_path() -> Path:
    """The f_s shipped with handpose-studio (``resources/models/segnet_fast.pt``)."""
    return resources_dir() / "models" / "segnet_fast.pt"


def segnet_path(project, which: str = "pretrained") -> Path | None:
    """The f_s checkpoint a project predicts with: ``pretrained`` is the project's own
    pre-trained f_s, else the bundled one; ``finetuned`` is None until fine-tuning ran."""
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}")
    p = model_path(project, _META_KEY[which])
    if p is not None:
        return p
    return bundled_segnet_path() if which == "pretrained" else None


def set_segnet_path(project, path: str | os.PathLike, which: str = "pretrained") -> None:
    """Make ``path`` the project's ``which`` f_s (stored relative to the project)."""
    set_model_path(project, _META_KEY[which], path)


def load_segnet_model(path: str | os.PathLike):
    """The f_s at ``path`` in eval mode, loaded once per version of the file
    (:func:`handpose_core.fileio.file_identity`: a checkpoint replaced by another of the
    same size within one tick of the file clock is loaded again) and shared.

    Errors as :func:`handpose_core.nets.checkpoint.load_segnet` (a clear ValueError
    naming the file); FileNotFoundError when it does not exist."""
    p = Path(path)
    try:
        key = file_identity(p)
    except FileNotFoundError:
        raise FileNotFoundError(f"{p}: f_s checkpoint not found") from None
    with _cache_lock:
        model = _cache.get(key)
    if model is None:
        model, _, _ = load_segnet(p)
        with _cache_lock:
            for k in [k for k in _cache if k[0] == key[0]]:
                del _cache[k]
            _cache[key] = model
    return model


def predict_labels(model, depth: np.ndarray, *, batch: int = 256,
                   progress: ProgressFn | None = None, cancel=None) -> np.ndarray:
    """Part labels ``(N, S, S)`` uint8 for depth crops ``(N, S, S)`` float32 (memmaps are
    fine), ``batch`` crops at a time; checks ``cancel`` between batches and reports
    ``progress(done, total, "segmenting")``."""
    n = int(depth.shape[0])
    out = np.empty(depth.shape, np.uint8)
    for s in range(0, n, batch):
        check_cancel(cancel)
        out[s:s + batch], _ = model.predict(np.asarray(depth[s:s + batch], np.float32),
                                            batch=batch, probabilities=False)
        if progress is not None:
            progress(min(n, s + batch), n, "segmenting")
    return out
