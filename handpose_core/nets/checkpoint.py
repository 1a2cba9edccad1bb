"""Model checkpoints: atomic writes, self-describing contents, clear errors on load.

The one place that writes and reads network checkpoints: ``nets`` (loading a project's
models) and ``training`` (saving and resuming runs) both import it.

A checkpoint is a ``torch.save`` dict::

    format "handpose-checkpoint", version 1, architecture ("segnet", ...),
    config (the architecture's config dict), model (state_dict), metrics (dict),
    epoch, step, optimizer (state_dict or None), extra (loop state for resuming),
    created (ISO time), torch (version)

It is written to a temporary file in the same folder and moved into place with
``os.replace``, so a crash never leaves a half-written checkpoint under the real name.
Reading uses ``torch.load(weights_only=True)``: a checkpoint cannot run code.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import BadInput
from ..fileio import atomic_write
from .regnet import ARCHITECTURE as REGNET
from .regnet import RegNetConfig, build_regnet
from .segnet import ARCHITECTURE as SEGNET
from .segnet import SegNetConfig, build_segnet

FORMAT = "handpose-checkpoint"
VERSION = 1


def _config_dict(config) -> dict:
    if config is None:
        return {}
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return dict(config)


def _plain(obj):
    """numpy scalars/arrays -> Python numbers/lists, so ``weights_only`` loading accepts them."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def save_checkpoint(path: str | os.PathLike, model: nn.Module, config, metrics: dict | None = None,
                    optimizer_state: dict | None = None, epoch: int = 0, *, step: int = 0,
                    architecture: str | None = None, extra: dict | None = None) -> Path:
    """Atomically write ``model``'s weights with its ``config`` (dataclass or dict).

    ``architecture`` defaults to ``model.architecture`` (every ``nets`` model has one).
    ``metrics`` (floats/str), ``extra`` (loop state) must be plain Python / tensors.
    Returns the path written.
    """
    path = Path(path)
    arch = architecture or getattr(model, "architecture", None)
    if not arch:
        raise ValueError(f"{path}: cannot save a checkpoint without an architecture name")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT, "version": VERSION, "architecture": str(arch),
        "config": _plain(_config_dict(config)), "model": state,
        "model_sha256": state_digest(state),
        "metrics": _plain(dict(metrics or {})), "epoch": int(epoch), "step": int(step),
        "optimizer": optimizer_state, "extra": _plain(dict(extra or {})),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": str(torch.__version__),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda f: torch.save(payload, f), binary=True)


def state_digest(state: dict) -> str:
    """sha256 over a state_dict's names, dtypes, shapes and bytes, in name order.

    Stored in every checkpoint: torch does not check the CRCs of its zip container, so a
    flipped byte in a weight would otherwise load as a different network."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k]
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"state entry {k!r} is not a tensor")
        t = t.detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def load_checkpoint(path: str | os.PathLike, *, architecture: str | None = None) -> dict:
    """Read a checkpoint dict (tensors on CPU), validating its format.

    ``FileNotFoundError`` if missing; ``ValueError`` naming the file if it is not a
    checkpoint, is corrupt or truncated, is of a newer format, or (given
    ``architecture``) holds another architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint file not found")
    if path.stat().st_size == 0:
        raise BadInput(f"{path}: checkpoint is empty (0 bytes)")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04" and magic[:1] != b"\x80":  # torch's zip container / a pickle
        raise BadInput(f"{path}: not a model checkpoint (neither torch's zip format nor a "
                       "pickle)")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError,
            ValueError, AttributeError, IndexError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "weights only load failed" in first.lower():
            raise BadInput(f"{path}: checkpoint holds Python objects besides weights and plain "
                           "data; refusing to load it (it could run code)") from e
        if magic == b"PK\x03\x04":  # torch's zip container, cut short or damaged
            raise BadInput(f"{path}: corrupt or truncated checkpoint ({first})") from e
        raise BadInput(f"{path}: not a model checkpoint (unreadable by torch: {first})") from e
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise BadInput(f"{path}: not a handpose-studio checkpoint (no '{FORMAT}' marker; "
                       "a bare state_dict or another program's file?)")
    if int(ck.get("version", 0)) > VERSION:
        raise BadInput(f"{path}: checkpoint format version {ck.get('version')} is newer than "
                       f"this program reads ({VERSION}); update handpose-studio")
    for key in ("architecture", "config", "model"):
        if key not in ck:
            raise BadInput(f"{path}: checkpoint is missing its '{key}' entry")
    if not isinstance(ck["model"], dict):
        raise BadInput(f"{path}: checkpoint's 'model' entry is not a state_dict")
    if "model_sha256" in ck:  # checkpoints written before the digest have none
        try:
            digest = state_digest(ck["model"])
        except ValueError as e:
            raise BadInput(f"{path}: corrupt checkpoint ({e})") from None
        if digest != ck["model_sha256"]:
            raise BadInput(f"{path}: corrupt checkpoint (the weights do not match their "
                           "recorded sha256)")
    if architecture is not None and ck["architecture"] != architecture:
        raise BadInput(f"{path}: checkpoint holds a '{ck['architecture']}' network, "
                       f"expected '{architecture}'")
    return ck


def load_state(model: nn.Module, state: dict, path: str | os.PathLike) -> None:
    """``model.load_state_dict`` with a ``ValueError`` naming ``path`` on any mismatch."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        msg = " ".join(str(e).split())[:400]
        raise BadInput(f"{path}: weights do not fit the architecture in its config ({msg})") \
            from e


def load_segnet(path: str | os.PathLike, *, device: str | torch.device = "cpu"):
    """Load a segmentation network f_s: ``(model in eval mode, SegNetConfig, meta)``.

    ``meta`` holds the checkpoint's metrics, epoch, step, created, torch and extra
    entries. Errors as in :func:`load_checkpoint`, plus a ``ValueError`` when the
    stored config or weights do not describe a valid f_s.
    """
    ck = load_checkpoint(path, architecture=SEGNET)
    try:
        config = SegNetConfig.from_dict(ck["config"])
    except (TypeError, ValueError) as e:
        raise BadInput(f"{path}: invalid segmentation network config ({e})") from e
    model = build_segnet(config)
    load_state(model, ck["model"], path)
    model.to(device).eval()
    meta = {k: ck.get(k) for k in ("metrics", "epoch", "step", "created", "torch", "extra")}
    return model, config, meta


def load_regnet(path: str | os.PathLike, *, variant: str | None = None,
                device: str | torch.device = "cpu"):
    """Load a joint regression network f_r: ``(model in eval mode, RegNetConfig, meta)``.

    ``variant`` (a, b, c, d): refuse, with a ``ValueError`` naming the file, a model
    trained as another variant (its inputs and crops differ). Other errors as in
    :func:`load_checkpoint` (a segmentation network's checkpoint is refused by its
    architecture name).
    """
    ck = load_checkpoint(path, architecture=REGNET)
    try:
        config = RegNetConfig.from_dict(ck["config"])
    except (TypeError, ValueError) as e:
        raise BadInput(f"{path}: invalid regression network config ({e})") from e
    if variant is not None and config.variant != variant:
        raise BadInput(f"{path}: holds an f_r of variant '{config.variant}', expected variant "
                       f"'{variant}' (train it with 'train train-reg --variant {variant}')")
    model = build_regnet(config)
    state = {k: v for k, v in ck["model"].items()  # the head only when the joints read it
             if config.guidance_feedback or not k.startswith("guidance_head.")}
    load_state(model, state, path)
    model.to(device).eval()
    meta = {k: ck.get(k) for k in ("metrics", "epoch", "step", "created", "torch", "extra")}
    return model, config, meta
