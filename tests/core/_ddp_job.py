"""Run by tests/core/test_ddp.py under torchrun: a few f_s training steps on a fixed
random data set, in as many processes as torchrun starts. ``python _ddp_job.py OUT``."""

from __future__ import annotations

import faulthandler
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


def train_regressor(out: str):
    """f_r variant d (depth and f_s labels, BatchNorm in its trunk, ``forward_guided``
    through DDP) on random crops and targets, no validation split."""
    import torch

    from handpose_core.nets.regnet import RegNetConfig, build_regnet
    from handpose_core.training.engine import run_stage
    from handpose_core.training.regression import RegressionTask

    depth, labels = data()
    target = np.random.default_rng(8).normal(0, 0.3, (N, 14, 3)).astype(np.float32)
    torch.manual_seed(CONFIG.seed)
    model = build_regnet(RegNetConfig("d", in_size=SIZE))
    task = RegressionTask(model, depth, labels, target, np.zeros((N, 11)),
                          np.zeros((N, 14, 3)), np.arange(N), np.zeros(0, np.int64), CONFIG,
                          {"source": "random"}, "train-reg")
    return run_stage(task, CONFIG, out)


if __name__ == "__main__":
    faulthandler.enable()  # an abort prints each thread's Python stack
    dd.init_from_env("cpu")
    for fn, sub in ((train, "seg"), (train_regressor, "reg")):
        dd.wait_for_rank0()
        try:
            fn(f"{sys.argv[1]}/{sub}")
        except dd.RankDone:
            pass
    dd.finish(together=True)
