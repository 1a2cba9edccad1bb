"""Training configuration: one frozen dataclass, saved as TOML next to every run.

:class:`TrainConfig` holds what any stage's loop needs (optimiser, learning-rate
schedule, epochs, batch size, seed, augmentation, validation, checkpoint cadence,
threads, device). Architecture configs (``nets.SegNetConfig``) are separate dataclasses;
a run's ``config.toml`` holds both, as ``[train]`` and ``[net]`` tables.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from ..configs import check_known_fields
from ..errors import BadInput

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "inverse", "constant")

# Fields that may differ between an interrupted run and its resumption: they change
# how a run is executed or logged, not what it computes.
RUNTIME_FIELDS = ("num_threads", "device", "log_every", "checkpoint_every_s", "val_batch", "amp",
                  "cpu_amp")


def cpu_bfloat16() -> bool:
    """Whether this CPU computes in bfloat16 natively (Linux ``/proc/cpuinfo`` flags
    ``avx512_bf16`` or ``amx_bf16``); False where that cannot be read. Without them
    torch emulates bfloat16, which is slower than float32."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        pass
    return False


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run.

    Optimiser: ``optimizer`` ("adamw", "adam", "sgd" with Nesterov ``momentum``),
    ``lr``, ``weight_decay``. Schedule, a function of the global step:
    "cosine" (linear warm-up over ``warmup_steps``, then cosine from ``lr`` down to
    ``lr * final_lr_fraction``), "inverse" (``lr / (1 + lr_decay * step)``, the seed
    paper's SGD decay) or "constant". ``epochs`` passes over the training split in
    batches of ``batch_size``; ``max_samples`` > 0 uses only the first samples of a
    store. ``seed`` fixes initialisation, split, batch order and augmentation, so a run
    (and a resumed run) is reproducible.

    Augmentation (training split only), per sample: shift up to ``shift_px`` pixels,
    in-plane rotation up to ``rotate_deg`` degrees about the crop centre (nearest
    neighbour, so depth and labels stay aligned; no flips: a left hand is not a right
    hand), and a depth offset of up to ``depth_jitter`` (normalised units) on hand
    pixels, standing in for errors of the crop centre's depth. All three are off by
    default: the synthetic renders already cover every roll, and their crops are cut
    around the ground-truth palm centre as every later crop is, so on the project's
    renders augmentation only cost accuracy (see ``training/segmentation.py``); turn
    them on for data that lacks that variety.
    ``background_weight`` scales the loss of ground-truth background pixels.

    ``val_every`` > 0 validates every that many steps as well as after each epoch;
    ``val_max`` caps the validation split; ``checkpoint_every_s`` saves ``last.pt``
    within an epoch that often (seconds), so a killed run loses at most that much.
    ``num_threads`` > 0 sets ``torch.set_num_threads`` for the run; ``device`` is
    "auto" (CUDA when available, else CPU), "cpu" or "cuda"; ``amp``: on CUDA, training
    steps run under bfloat16 autocast (mixed precision; weights and optimiser stay
    float32; no effect on CPU); ``cpu_amp``: the same on the CPU, where the CPU has
    bfloat16 instructions (:func:`cpu_bfloat16`; ignored elsewhere). Off in this class;
    ``pretrain-seg`` turns it on (``stages.pretrain_seg.PRETRAIN_TRAIN``), where a whole
    run was measured to keep its accuracy; fine-tuning and ``train-reg`` keep float32
    (their bfloat16 runs were not measured over a whole run; docs/measurements.md).
    """

    # Defaults: the bundled fast f_s on a 40k-crop store (see training/segmentation.py).
    epochs: int = 6
    batch_size: int = 32
    optimizer: str = "adamw"
    lr: float = 6e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_steps: int = 100
    final_lr_fraction: float = 0.02
    lr_decay: float = 1e-5
    seed: int = 0
    max_samples: int = 0
    shift_px: float = 0.0
    rotate_deg: float = 0.0
    depth_jitter: float = 0.0
    background_weight: float = 0.2
    val_every: int = 0
    val_max: int = 2000
    val_batch: int = 256
    log_every: int = 20
    checkpoint_every_s: float = 60.0
    num_threads: int = 2
    device: str = "auto"
    amp: bool = True
    cpu_amp: bool = False

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise BadInput(f"unknown optimizer {self.optimizer!r}; expected one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise BadInput(f"unknown schedule {self.schedule!r}; expected one of {SCHEDULES}")
        if self.epochs < 1 or self.batch_size < 1:
            raise BadInput(f"epochs and batch_size must be >= 1, got {self.epochs}, "
                           f"{self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise BadInput(f"lr must be a positive number, got {self.lr}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise BadInput(f"device must be auto, cpu or cuda, got {self.device!r}")

    @classmethod
    def paper(cls, **overrides) -> TrainConfig:
        """The seed paper's f_s schedule: SGD, batch 1, lr 0.1, decay 1e-5, 100 epochs.

        Faithful, and impractically slow on a CPU (days); for reference runs.
        """
        base = cls(epochs=100, batch_size=1, optimizer="sgd", lr=0.1, momentum=0.0,
                   weight_decay=0.0, schedule="inverse", lr_decay=1e-5, warmup_steps=0)
        return replace(base, **overrides)

    def lr_at(self, step: int, total_steps: int) -> float:
        """Learning rate of global step ``step`` (0-based) of a ``total_steps`` run."""
        if self.schedule == "constant":
            return self.lr
        if self.schedule == "inverse":
            return self.lr / (1.0 + self.lr_decay * step)
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        span = max(1, total_steps - self.warmup_steps)
        t = min(1.0, (step - self.warmup_steps) / span)
        lo = self.lr * self.final_lr_fraction
        return lo + 0.5 * (self.lr - lo) * (1.0 + math.cos(math.pi * t))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        check_known_fields(cls, d)
        return cls(**d)

    def differences(self, other: TrainConfig) -> list[str]:
        """Names of fields that differ from ``other``, runtime-only fields excluded."""
        return [f.name for f in fields(self) if f.name not in RUNTIME_FIELDS
                and getattr(self, f.name) != getattr(other, f.name)]
