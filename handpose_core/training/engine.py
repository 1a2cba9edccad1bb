"""The stage runner: one training loop shared by every stage, the CLI and the studio.

A stage describes itself as a :class:`Task` (its model, how to draw batch ``k`` of
epoch ``e``, one training step, validation); :func:`run_stage` does the rest:
optimiser and learning-rate schedule, ``progress=`` / ``cancel=``, the JSON-lines
metric log, atomic ``last.pt`` / ``best.pt`` checkpoints, resumption and ``config.toml``.
The run's record in the project store belongs to the stage that calls it
(:func:`handpose_core.stages.base.recorded_run`).

Batches are a pure function of (seed, epoch, batch index), so a run resumed from
``last.pt`` -- saved at epoch ends, every ``checkpoint_every_s`` seconds and on cancel
-- continues exactly where it stopped, with the same optimiser state.

Files in ``out_dir``::

    config.toml    [run] stage/architecture, [train] TrainConfig, [net] model config, [data]
    metrics.jsonl  one JSON object per line, flushed after each write:
                   {"kind": "train", "step", "epoch", "train_loss", "lr", "time",
                    "elapsed_s", "images_per_s"}   every log_every steps
                   {"kind": "val", "step", "epoch", "train_loss", "lr", "time",
                    "elapsed_s", "val_acc", ...}  after each validation
    last.pt        newest state (weights, optimiser, loop position)
    best.pt        the state with the best validation ``Task.select_metric``
"""

from __future__ import annotations

import functools
import json
import math
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from ..errors import BadInput
from ..fileio import remove_stale_temporaries, write_toml
from ..nets.checkpoint import load_checkpoint, load_state, save_checkpoint
from ..progress import Cancelled, ProgressFn, check_cancel
from .config import RUNTIME_FIELDS, TrainConfig, cpu_bfloat16


class Task(Protocol):
    """A training stage as the engine sees it.

    ``batches(epoch, start)`` yields batches ``start, start+1, ...`` of that epoch and
    must depend only on (config seed, epoch, index); ``steps_per_epoch`` says how many.
    ``train_step(model, batch, cancel)`` runs forward and backward (the engine zeroes
    gradients before and steps the optimiser after) and returns the mean loss; it may
    raise ``Cancelled`` before finishing, leaving the weights untouched.
    ``validate(model, cancel)`` returns metrics (floats) including ``select_metric``
    (higher is better), or ``{}`` when there is no validation split.
    """

    stage: str
    architecture: str
    model: nn.Module
    model_config: Any
    steps_per_epoch: int
    images_per_batch: int
    select_metric: str

    def batches(self, epoch: int, start: int) -> Iterator[Any]: ...

    def train_step(self, model: nn.Module, batch: Any, cancel) -> float: ...

    def validate(self, model: nn.Module, cancel) -> dict: ...

    def describe(self) -> dict: ...


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`run_stage` (also returned for an already finished run)."""

    out_dir: Path
    last_checkpoint: Path
    best_checkpoint: Path | None
    epochs: int
    steps: int
    best_metric: float
    best_epoch: int
    metrics: dict = field(default_factory=dict)
    elapsed_s: float = 0.0
    resumed: bool = False
    already_done: bool = False
    resumed_from_step: int = 0
    # The training settings the weights were trained under, as the checkpoint saved them
    # (for a run found already done: not the settings asked for now), and one entry per
    # session that trained: its first step and its runtime settings (``RUNTIME_FIELDS``,
    # which may change on resume), with the device and autocast it really used.
    train: dict = field(default_factory=dict)
    sessions: list = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BadInput("device 'cuda' requested but CUDA is not available")
    return torch.device(name)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               nesterov=config.momentum > 0, weight_decay=config.weight_decay)
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


class MetricLog:
    """Append-only JSON-lines log, flushed after every record (the studio tails it)."""

    def __init__(self, path: Path, *, keep_until_step: int | None):
        self.path = path
        if keep_until_step is None:
            path.unlink(missing_ok=True)
        elif path.exists():
            # Drop records newer than the checkpoint we resume from (and a torn last line).
            kept = [json.dumps(rec) for rec in read_metrics(path)
                    if rec.get("step", 0) <= keep_until_step]
            fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
            os.chmod(tmp, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write("".join(k + "\n" for k in kept))
            os.replace(tmp, path)
        self._f = open(path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._f.write(json.dumps(record) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """All records of a ``metrics.jsonl``: JSON objects, one a line, whose ``step`` (when
    present) is a whole number. A torn last line (no newline after it: a write cut short)
    is skipped; any other line that is not such a record is a ``BadInput`` naming the file
    and the line."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(f"{path}: not a metrics log (not UTF-8 text: {e.reason} at byte "
                       f"{e.start})") from None
    lines = text.split("\n")
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        torn = n == len(lines)  # the text after the last newline
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            if torn:
                continue
            raise BadInput(f"{path}:{n}: not a JSON record ({e.msg}); --restart trains "
                           "afresh") from None
        if not isinstance(rec, dict):
            if torn:
                continue
            raise BadInput(f"{path}:{n}: a metrics record is a JSON object, got "
                           f"{type(rec).__name__}")
        step = rec.get("step", 0)
        if isinstance(step, bool) or not isinstance(step, int):
            if torn:
                continue
            raise BadInput(f"{path}:{n}: 'step' must be a whole number, got {step!r}")
        out.append(rec)
    return out


@dataclass
class _Loop:
    epoch: int = 0          # current epoch (0-based)
    batch: int = 0          # next batch index within the epoch
    step: int = 0           # optimiser steps done
    best: float = -math.inf
    best_epoch: int = -1
    loss_sum: float = 0.0   # training loss of the current epoch so far
    loss_n: int = 0
    elapsed_s: float = 0.0  # training time over all sessions of this run
    last_val: dict = field(default_factory=dict)
    sessions: list = field(default_factory=list)  # see TrainResult.sessions

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def keeps_torch_rng(fn):
    """Run ``fn`` on a fork of torch's global random state: a training run seeds it
    (``config.seed``: initial weights, dropout; a resumed run sets the saved state) for
    itself, and the caller's state comes back afterwards, so what runs next in the
    process (the studio's next stage, the next test) draws as if no run had happened.
    CUDA generators are forked too when CUDA is already in use."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
        with torch.random.fork_rng(devices=list(range(torch.cuda.device_count())) if cuda
                                   else []):
            return fn(*args, **kwargs)

    return wrapper


@keeps_torch_rng
def run_stage(task: Task, config: TrainConfig, out_dir: str | os.PathLike, *,
              progress: ProgressFn | None = None, cancel=None,
              resume: bool = True) -> TrainResult:
    """Train ``task.model`` per ``config``, writing checkpoints and logs to ``out_dir``.

    With ``resume`` and an ``out_dir/last.pt`` of the same stage, architecture and
    config, training continues from it (a finished run returns at once, ``already_done``); a different
    config raises ``ValueError``. Without ``resume``, earlier files are replaced.
    Raises ``Cancelled`` when ``cancel`` is set (checked before every batch and inside
    steps and validation), after saving ``last.pt`` at the last completed step.
    """
    from .distributed import rank0_ready, world

    threads = torch.get_num_threads()
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    rank0_ready()  # the other processes start their preparation now (distributed.py)
    try:
        return _run(task, config, Path(out_dir), progress if world()[0] == 0 else None,
                    cancel, resume)
    finally:
        torch.set_num_threads(threads)


def _run(task: Task, config: TrainConfig, out: Path, progress, cancel,
         resume: bool) -> TrainResult:
    from . import distributed as dd

    rank, n_proc = dd.world()
    writer = rank == 0  # one process writes files and validates (distributed.py)
    if writer:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(out)  # a checkpoint or config half-written by a killed run
    last_path, best_path = out / "last.pt", out / "best.pt"
    device = resolve_device(config.device)
    if device.type == "cuda" and n_proc > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if n_proc > 1 and task.images_per_batch < n_proc:
        raise BadInput(f"a batch of {task.images_per_batch} cannot be shared by {n_proc} "
                         "processes; raise batch_size or lower --nproc")
    model = task.model.to(device)
    optimizer = make_optimizer(model, config)
    loop, resumed, trained_under = _Loop(), False, config.to_dict()
    net_dict = task.model_config.to_dict()
    if resume and last_path.exists():
        loop, trained_under = _restore(last_path, task, config, net_dict, model, optimizer)
        resumed = True
    elif not resume and writer:
        best_path.unlink(missing_ok=True)
        last_path.unlink(missing_ok=True)
    run_info = {"stage": task.stage, "architecture": task.architecture,
                **({"processes": n_proc} if n_proc > 1 else {})}
    toml = {"run": run_info, "train": config.to_dict(), "net": net_dict, "data": task.describe()}
    total = config.epochs * task.steps_per_epoch
    if resumed and loop.epoch >= config.epochs:
        if not writer:
            raise dd.RankDone
        return _result(out, loop, resumed, trained_under, already_done=True)
    start_step = loop.step
    if writer:
        write_toml(out / "config.toml", toml)
        log = MetricLog(out / "metrics.jsonl", keep_until_step=loop.step if resumed else None)
    else:
        log = _NoLog()
    amp = config.amp and device.type == "cuda"
    cpu_amp = config.cpu_amp and device.type == "cpu" and cpu_bfloat16()
    if loop.sessions and loop.sessions[-1].get("from_step") == loop.step:
        loop.sessions.pop()  # that session stopped before its first step
    loop.sessions.append({"from_step": loop.step,
                          **{f: getattr(config, f) for f in RUNTIME_FIELDS},
                          "device_used": str(device), "processes": n_proc,
                          "bfloat16": bool(amp or cpu_amp)})
    step_model, bn = model, []
    if n_proc > 1:
        bn = dd.globalise_batchnorm(model)
        step_model = dd.DDPModel(model, device)
    shard = getattr(task, "shard", None)
    if shard is None and n_proc > 1:
        if task.images_per_batch % n_proc:
            raise ValueError(f"batch_size {task.images_per_batch} must be a multiple of the "
                             f"{n_proc} processes (each averages its share's loss)")
        shard = dd.shard_batch

    # Wall time of training (data, steps, validation) summed over resumed sessions.
    t_session, elapsed_before = time.perf_counter(), loop.elapsed_s

    def tick() -> float:
        now = time.perf_counter()
        loop.elapsed_s = elapsed_before + (now - t_session)
        return now

    def save(path: Path) -> None:
        if not writer:
            return
        tick()
        extra = {"train": config.to_dict(), "loop": loop.to_dict(), "stage": task.stage,
                 "torch_rng": torch.get_rng_state()}
        metrics = {**loop.last_val, "step": loop.step, "epoch_float": _epoch_float(loop, task)}
        save_checkpoint(path, model, task.model_config, metrics, optimizer.state_dict(),
                        loop.epoch, step=loop.step, architecture=task.architecture, extra=extra)

    def validate() -> None:
        if not writer:
            return
        val = task.validate(model, cancel)
        model.train()
        tick()
        rec = {"kind": "val", "step": loop.step, "epoch": _epoch_float(loop, task),
               "train_loss": loop.loss_sum / max(1, loop.loss_n),
               "lr": config.lr_at(max(0, loop.step - 1), total), "time": time.time(),
               "elapsed_s": loop.elapsed_s, **val}
        log.write(rec)
        loop.last_val = {k: v for k, v in rec.items() if k not in ("kind", "time")}
        score = val.get(task.select_metric)
        if score is None:  # no validation split: the newest epoch is the best we know
            loop.best_epoch = loop.epoch
            save(best_path)
        elif score > loop.best:
            loop.best, loop.best_epoch = float(score), loop.epoch
            save(best_path)

    model.train()
    last_save = t_log = time.perf_counter()
    log_loss, log_n, log_images = 0.0, 0, 0
    try:
        while loop.epoch < config.epochs:
            for batch in task.batches(loop.epoch, loop.batch):
                if n_proc > 1:  # every process stops at the same step
                    if dd.agree(0.0, cancel is not None and cancel.is_set(), device)[1]:
                        raise Cancelled()
                    batch = shard(batch, rank, n_proc)
                else:
                    check_cancel(cancel)
                lr = config.lr_at(loop.step, total)
                for g in optimizer.param_groups:
                    g["lr"] = lr
                optimizer.zero_grad(set_to_none=True)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp), \
                        torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_amp):
                    loss = task.train_step(step_model, batch, None if n_proc > 1 else cancel)
                if n_proc > 1:
                    loss = dd.agree(loss, False, device)[0]
                if not math.isfinite(loss):
                    raise FloatingPointError(f"training loss became {loss} at step {loop.step}; "
                                             "lower the learning rate")
                optimizer.step()
                loop.step += 1
                loop.batch += 1
                loop.loss_sum += loss
                loop.loss_n += 1
                now = tick()
                log_loss, log_n = log_loss + loss, log_n + 1
                log_images += task.images_per_batch
                if loop.step % config.log_every == 0:
                    log.write({"kind": "train", "step": loop.step,
                               "epoch": _epoch_float(loop, task), "train_loss": log_loss / log_n,
                               "lr": lr, "time": time.time(), "elapsed_s": loop.elapsed_s,
                               "images_per_s": log_images / max(1e-9, now - t_log)})
                    log_loss, log_n, log_images, t_log = 0.0, 0, 0, now
                if progress is not None:
                    progress(loop.step, total, f"epoch {loop.epoch + 1}/{config.epochs} "
                             f"loss {loss:.3f}")
                if config.val_every and loop.step % config.val_every == 0 \
                        and loop.batch < task.steps_per_epoch:
                    validate()
                if now - last_save >= config.checkpoint_every_s:
                    save(last_path)
                    last_save = time.perf_counter()
            validate()
            loop.epoch, loop.batch, loop.loss_sum, loop.loss_n = loop.epoch + 1, 0, 0.0, 0
            save(last_path)
            last_save = time.perf_counter()
    except (Cancelled, KeyboardInterrupt):
        model.train()
        dd.restore_batchnorm(bn)
        save(last_path)  # the weights are those after the last completed step
        raise
    finally:
        dd.restore_batchnorm(bn)
        log.close()
    if not writer:
        raise dd.RankDone
    return _result(out, loop, resumed, config.to_dict(), resumed_from_step=start_step)


class _NoLog:
    """The metric log of a process that does not write (distributed ranks > 0)."""

    def write(self, record: dict) -> None:
        pass

    def close(self) -> None:
        pass


def _epoch_float(loop: _Loop, task: Task) -> float:
    return loop.epoch + loop.batch / max(1, task.steps_per_epoch)


def _result(out: Path, loop: _Loop, resumed: bool, train: dict, *,
            already_done: bool = False, resumed_from_step: int = 0) -> TrainResult:
    best = out / "best.pt"
    return TrainResult(out, out / "last.pt", best if best.exists() else None, loop.epoch,
                       loop.step, loop.best if math.isfinite(loop.best) else math.nan,
                       loop.best_epoch, dict(loop.last_val), loop.elapsed_s, resumed,
                       already_done, resumed_from_step, dict(train),
                       [dict(x) for x in loop.sessions])


def _restore(path: Path, task: Task, config: TrainConfig, net_dict: dict, model: nn.Module,
             optimizer: torch.optim.Optimizer) -> tuple[_Loop, dict]:
    """The loop state saved in ``path`` and the training settings saved with it (those
    of the last session that trained), after checking that ``config`` may resume it."""
    ck = load_checkpoint(path, architecture=task.architecture)
    extra = ck.get("extra") or {}
    if extra.get("stage") != task.stage or "loop" not in extra or "train" not in extra:
        raise BadInput(f"{path}: not a resumable '{task.stage}' checkpoint; "
                       "start without resume or choose another folder")
    try:
        old = TrainConfig.from_dict(extra["train"])
    except (TypeError, ValueError) as e:
        raise BadInput(f"{path}: invalid training config in checkpoint ({e})") from e
    diff = config.differences(old)
    if ck["config"] != net_dict:
        diff.append("net")
    if diff:
        raise BadInput(f"{path}: cannot resume, the run used different settings "
                       f"({', '.join(diff)}); start without resume or choose another folder")
    load_state(model, ck["model"], path)
    if ck.get("optimizer") is not None:
        optimizer.load_state_dict(ck["optimizer"])
    if extra.get("torch_rng") is not None:
        torch.set_rng_state(extra["torch_rng"])
    loop = _Loop(**{k: v for k, v in extra["loop"].items() if k in _Loop.__dataclass_fields__})
    if not isinstance(loop.sessions, list) or not all(isinstance(x, dict) for x in loop.sessions):
        raise BadInput(f"{path}: the checkpoint's list of training sessions is not a list of "
                       "records; start without resume or choose another folder")
    if not loop.sessions:  # saved before sessions were recorded: only the last one is known
        loop.sessions = [{"from_step": None, **{f: getattr(old, f) for f in RUNTIME_FIELDS},
                          "recorded": False}]
    return loop, old.to_dict()
