"""The demo dataset: real-like frames in the NYU layout, deterministic from a fixed seed.

``handpose-studio init DIR --demo`` and the studio's first launch render it. 1000 train
and 200 test frames with the rendered part labels beside them, sized so it is generated
in well under a minute on a small machine (see ``handpose-studio bench render``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..progress import ProgressFn
from .renderer import COMPILING, kernels_compiled
from .store import write_nyu_layout

DEMO_SEED = 20170707
DEMO_TRAIN = 1000
DEMO_TEST = 200


def make_demo_dataset(root: str | os.PathLike, *, seed: int = DEMO_SEED, n_train: int = DEMO_TRAIN,
                      n_test: int = DEMO_TEST, progress: ProgressFn | None = None,
                      cancel=None) -> Path:
    """Write the demo set to ``root/train`` and ``root/test`` (NYU layout + part labels)."""
    root = Path(root)
    total = n_train + n_test
    if progress:
        progress(0, total, "preparing the renderer" if kernels_compiled("frames") else COMPILING)

    def sub(offset):
        return (lambda d, t, m="": progress(offset + d, total, m)) if progress else None

    write_nyu_layout(root, n_train, split="train", seed=seed, progress=sub(0), cancel=cancel)
    write_nyu_layout(root, n_test, split="test", seed=seed + 1, progress=sub(n_train),
                     cancel=cancel)
    return root
