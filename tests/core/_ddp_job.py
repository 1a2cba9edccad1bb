"""Run by tests/core/test_ddp.py under torchrun: a few f_s training steps on a fixed
random data set, in as many processes as torchrun starts. ``python _ddp_job.py OUT``."""

from __future__ import annotations

import sys

import numpy as np

from handpose_core.training import distributed as dd
from handpose_core.training.config import TrainConfig
from handpose_core.training.segmentation import train_segmentation

SIZE, N = 48, 40
# SGD: an update proportional to the gradient, so the float noise of summing in another
# order stays at float noise (Adam divides tiny gradients by their own size and turns
# 1e-7 differences into differences of a whole step).
CONFIG = TrainConfig(epochs=1, batch_size=8, optimizer="sgd", lr=0.05, momentum=0.9,
                     warmup_steps=0, seed=3, device="cpu", num_threads=1, log_every=1,
                     checkpoint_every_s=1e9)


def data():
    rng = np.random.default_rng(7)
    depth = rng.uniform(-1, 1, (N, SIZE, SIZE)).astype(np.float32)
    labels = rng.integers(0, 21, (N, SIZE, SIZE)).astype(np.uint8)
    return depth, labels


def train(out: str):
    return train_segmentation(data(), CONFIG, out, val_fraction=0.1)


if __name__ == "__main__":
    dd.init_from_env("cpu")
    dd.wait_for_rank0()
    try:
        train(sys.argv[1])
    except dd.RankDone:
        pass
    finally:
        dd.finish()
