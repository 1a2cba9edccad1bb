"""The demo dataset: real-like frames in the NYU layout, deterministic from a fixed seed.

``handpose-studio init DIR --demo`` and the studio's first launch render it. 1000 train
and 200 test frames with the painted part labels beside them, from the real-like side's
generator (``render.reallike``: another person's hand, clutter; never training data),
and ``demo.json`` saying which demo version and generator made them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import BadInput
from ..progress import ProgressFn
from .renderer import COMPILING
from .store import write_nyu_layout

DEMO_VERSION = 2
"""1: frames from the training side's primitive hand (before issue 22); 2: from the
real-like generator (``render.reallike``)."""
DEMO_GENERATOR = "reallike"
DEMO_INFO = "demo.json"
DEMO_SEED = 20170707
DEMO_TRAIN = 1000
DEMO_TEST = 200


def make_demo_dataset(root: str | os.PathLike, *, seed: int = DEMO_SEED, n_train: int = DEMO_TRAIN,
                      n_test: int = DEMO_TEST, progress: ProgressFn | None = None,
                      cancel=None) -> Path:
    """Write the demo set to ``root/train`` and ``root/test`` (NYU layout + part labels)
    and ``root/demo.json`` (``demo_version``, ``generator``, seed and counts)."""
    from .reallike import kernel_compiled

    root = Path(root)
    total = n_train + n_test
    if progress:
        progress(0, total, "preparing the renderer" if kernel_compiled() else COMPILING)

    def sub(offset):
        return (lambda d, t, m="": progress(offset + d, total, m)) if progress else None

    write_nyu_layout(root, n_train, split="train", seed=seed, generator=DEMO_GENERATOR,
                     progress=sub(0), cancel=cancel)
    write_nyu_layout(root, n_test, split="test", seed=seed + 1, generator=DEMO_GENERATOR,
                     progress=sub(n_train), cancel=cancel)
    info = {"demo_version": DEMO_VERSION, "generator": DEMO_GENERATOR, "seed": int(seed),
            "train": int(n_train), "test": int(n_test)}
    tmp = root / f"{DEMO_INFO}.tmp"
    tmp.write_text(json.dumps(info, indent=1) + "\n")
    os.replace(tmp, root / DEMO_INFO)
    return root


def demo_version(root: str | os.PathLike) -> int:
    """The demo version of a demo dataset folder: ``demo.json``'s, or 1 for a folder
    written before it existed (primitive-hand frames)."""
    f = Path(root) / DEMO_INFO
    if not f.exists():
        return 1
    try:
        return int(json.loads(f.read_text())["demo_version"])
    except (ValueError, KeyError, TypeError) as e:
        raise BadInput(f"{f}: not a demo description ({e})") from e
