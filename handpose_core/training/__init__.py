"""Training: the shared stage runner, configs, checkpoints, and the f_s stage core.

Importing this package loads torch.
"""

from ..nets.inference import predict_labels
from .checkpoint import load_checkpoint, load_segnet, save_checkpoint
from .config import TrainConfig, read_toml, write_toml
from .engine import Task, TrainResult, read_metrics, run_stage
from .segmentation import train_segmentation

__all__ = [
    "Task", "TrainConfig", "TrainResult", "load_checkpoint", "load_segnet",
    "predict_labels", "read_metrics", "read_toml", "run_stage", "save_checkpoint",
    "train_segmentation", "write_toml",
]
