"""Training: the shared stage runner, configs, and the f_s stage core (checkpoints are
written and read by ``handpose_core.nets.checkpoint``).

Importing this package loads torch.
"""

from .config import TrainConfig
from .engine import Task, TrainResult, read_metrics, run_stage
from .segmentation import train_segmentation

__all__ = [
    "Task", "TrainConfig", "TrainResult", "read_metrics", "run_stage", "train_segmentation",
]
