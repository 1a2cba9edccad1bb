"""Training on several processes: PyTorch DistributedDataParallel under ``torchrun``.

``handpose-studio train STAGE --nproc N`` starts ``torchrun --standalone
--nproc-per-node N`` on the same command (:func:`launch`); each process calls
:func:`init_from_env` (gloo on CPU, NCCL on CUDA, one GPU per process by
``LOCAL_RANK``) and runs the stage. The engine (:func:`.engine.run_stage`) then

* draws the same global batch in every process (batches are a function of seed, epoch
  and index) and trains on its rank's shard of it (:func:`shard_batch`, or the task's
  own ``shard``, which keeps a loss normalised by the whole batch);
* wraps the model in ``DistributedDataParallel`` (gradients averaged) and turns its
  BatchNorm layers into :class:`GlobalBatchNorm2d`, which normalises with the statistics
  of the whole global batch and updates the running statistics from them, as one
  process would (``nn.SyncBatchNorm`` does this on GPUs only);
* agrees on the loss and on cancelling once per step (one all-reduce), so every
  process stops at the same step;
* writes files (config.toml, metrics.jsonl, last.pt, best.pt) and validates in rank 0
  only. A resumed run reads ``last.pt`` in every process.

So N processes with a global batch B compute what one process computes with batch B,
up to the order of floating-point sums (tests/core/test_ddp.py). Regressor dropout,
when switched on, draws different masks per process.

Every process runs the stage's preparation (reading stores, cropping); rank 0 runs it
first and the others wait (:func:`wait_for_rank0` in the command line, matched by a
barrier at the start of the engine in rank 0), so files the preparation makes are made
once. Processes other than 0 end after training with :class:`RankDone`: what a stage
does after training (evaluation, the project store) is rank 0's.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys

import torch
from torch import nn

TIMEOUT = datetime.timedelta(hours=6)
"""How long a process waits for the others at a collective (rank 0 may render the
synthetic stores before training while the others wait)."""


class RankDone(BaseException):
    """Raised in processes other than rank 0 when training is over: the rest of the
    stage is rank 0's. The command line exits 0 on it."""


def world() -> tuple[int, int]:
    """``(rank, world size)``; ``(0, 1)`` outside a process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_env(device: str = "auto") -> tuple[int, int]:
    """Join the process group ``torchrun`` describes in the environment (no-op when
    ``WORLD_SIZE`` is 1 or it is joined already); returns ``(rank, world size)``."""
    import torch.distributed as dist

    if env_world_size() <= 1 or dist.is_initialized():
        return world()
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
    return world()


def wait_for_rank0() -> None:
    """Processes other than 0 wait here until rank 0 has prepared its data and entered
    the engine (which calls :func:`rank0_ready`)."""
    import torch.distributed as dist

    rank, n = world()
    if n > 1 and rank > 0:
        dist.barrier()


def rank0_ready() -> None:
    import torch.distributed as dist

    rank, n = world()
    if n > 1 and rank == 0:
        dist.barrier()


def finish(*, together: bool = False) -> None:
    """Leave the process group. ``together``: this process ended its work normally and
    every other one calls this too, so they meet at a barrier first and tear the group
    down at the same time; a process that tears its connections down while another still
    uses them can abort in the library's teardown after its work is done, and torchrun
    then reports the run failed (docs/testing.md, "Full runs, fourth session"). If the
    barrier fails, another process has left on an error path, which it reports itself.
    Without ``together`` (an error path: another process may be gone) there is no
    barrier."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if together:
            try:
                dist.barrier()
            except RuntimeError:  # DistBackendError: the others did not come
                pass
        dist.destroy_process_group()


ARGV_ENV = "HANDPOSE_TORCHRUN_ARGV"


def launch(argv: list[str], nproc: int) -> int:
    """Run ``handpose-studio <argv>`` in ``nproc`` processes under ``torchrun`` (this
    interpreter, the same package); returns torchrun's exit code. The command travels
    in the environment (torchrun's own parser would take ``--nproc`` and other
    abbreviations of its options from the command's arguments)."""
    import json

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={int(nproc)}", "-m", "handpose_core.cli.torchrun_entry"]
    env = {**os.environ, ARGV_ENV: json.dumps(list(argv)),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    return subprocess.call(cmd, env=env)


# ---------------------------------------------------------------------- batches
def shard_range(n: int, rank: int, world_size: int) -> slice:
    """Rank ``rank``'s contiguous share of ``n`` samples (sizes differ by at most 1)."""
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


def shard_batch(batch, rank: int, world_size: int):
    """Rank ``rank``'s share of a batch: every tensor of a tuple, list, dict or
    dataclass is cut along its first dimension."""
    import dataclasses

    def cut(v):
        if isinstance(v, torch.Tensor) and v.dim() > 0:
            return v[shard_range(v.shape[0], rank, world_size)]
        return v

    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        return dataclasses.replace(batch, **{f.name: cut(getattr(batch, f.name))
                                             for f in dataclasses.fields(batch)})
    if isinstance(batch, dict):
        return {k: cut(v) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(cut(v) for v in batch)
    return cut(batch)


# ---------------------------------------------------------------------- BatchNorm
class _AllReduceSum(torch.autograd.Function):
    """Sum over processes, differentiable: the gradient of each process's input is the
    sum of every process's output gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        g = grad.contiguous().clone()
        dist.all_reduce(g)
        return g


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm over the global batch of all processes (any backend, CPU included).

    Same parameters and buffers as ``nn.BatchNorm2d`` (checkpoints are unchanged).
    Training: per-channel sums and sums of squares are all-reduced (differentiably),
    the layer normalises with the global mean and biased variance and updates its
    running statistics with the unbiased global variance, as ``nn.BatchNorm2d`` does
    for one process holding the whole batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not self.training or not (dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        c = x.shape[1]
        local = torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)),
                           x.new_full((1,), float(x.numel() // c))])
        tot = _AllReduceSum.apply(local)
        n = tot[-1]
        mean = tot[:c] / n
        var = (tot[c:2 * c] / n - mean * mean).clamp_min(0.0)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else \
                    1.0 / float(self.num_batches_tracked)
                unbiased = var.detach() * (n / (n - 1).clamp_min(1.0))
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased, alpha=m)
        shape = (1, c, 1, 1)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def globalise_batchnorm(model: nn.Module) -> list[nn.Module]:
    """Turn every ``nn.BatchNorm2d`` of ``model`` into :class:`GlobalBatchNorm2d` in
    place (same tensors); returns them for :func:`restore_batchnorm`."""
    changed = []
    for m in model.modules():
        if type(m) is nn.BatchNorm2d:
            m.__class__ = GlobalBatchNorm2d
            changed.append(m)
    return changed


def restore_batchnorm(changed: list[nn.Module]) -> None:
    for m in changed:
        m.__class__ = nn.BatchNorm2d


# ---------------------------------------------------------------------- DDP wrapper
class _Dispatch(nn.Module):
    """Lets DDP see calls of a model's methods other than ``forward`` (f_r's
    ``forward_guided``): DDP prepares gradient reduction only in its own forward."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, method: str, *args, **kwargs):
        return getattr(self.inner, method)(*args, **kwargs)


class DDPModel:
    """What a task's ``train_step`` sees in a distributed run: calls go through
    ``DistributedDataParallel``; attributes (parameters, ``train_chunk``, ...) are the
    model's."""

    _CALLS = ("forward_guided",)

    def __init__(self, model: nn.Module, device: torch.device):
        from torch.nn.parallel import DistributedDataParallel as DDP

        self.module = model
        self.ddp = DDP(_Dispatch(model), device_ids=[device.index] if device.type == "cuda"
                       else None)

    def __call__(self, *args, **kwargs):
        return self.ddp("forward", *args, **kwargs)

    def __getattr__(self, name):
        if name in DDPModel._CALLS:
            return lambda *a, **k: self.ddp(name, *a, **k)
        return getattr(self.module, name)


def agree(loss: float, cancelled: bool, device: torch.device) -> tuple[float, bool]:
    """All processes' mean loss and whether any was cancelled (one all-reduce)."""
    import torch.distributed as dist

    rank, n = world()
    if n <= 1:
        return loss, cancelled
    t = torch.tensor([loss, 1.0 if cancelled else 0.0], dtype=torch.float64,
                     device=device)
    dist.all_reduce(t)
    return float(t[0]) / n, bool(t[1] > 0)


__all__ = ["RankDone", "GlobalBatchNorm2d", "DDPModel"]

