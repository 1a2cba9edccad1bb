"""Typed records of the project store: frames, restorations, runs, hand labels.

Scores use one vocabulary everywhere (store, command line, studio): the **barycenter
score** of a label map is its distance to the ground-truth joints averaged over the 12
scored joints, in mm (3D) or full-frame pixels (2D); lower is better. The store keeps
the sums over those joints (``*_total``), from which the means follow.
"""

from __future__ import annotations

import math
import os
import socket
import time
from dataclasses import dataclass, field

from ..parts import SCORED_JOINTS_14

N_SCORED = len(SCORED_JOINTS_14)

HEARTBEAT_S = 5.0
"""How often a running stage refreshes its heartbeat (seconds)."""

STALE_AFTER_S = 60.0
"""A run whose heartbeat is older than this reads as interrupted (seconds)."""


@dataclass(frozen=True)
class Frame:
    """One dataset frame known to the project."""

    id: int
    split: str
    kinect: int
    frame: int
    has_labels: bool

    @property
    def key(self) -> str:
        return f"{self.split}_{self.kinect}_{self.frame:07d}"


@dataclass(frozen=True)
class Score:
    """Barycenter score of one label map: sums over the 12 scored joints, mm and px."""

    total_mm: float
    total_px: float

    @property
    def mm(self) -> float:
        """Mean 3D distance per scored joint (mm)."""
        return self.total_mm / N_SCORED

    @property
    def px(self) -> float:
        """Mean 2D distance per scored joint (full-frame pixels)."""
        return self.total_px / N_SCORED


@dataclass(frozen=True)
class RestorationRecord:
    """The restore stage's result for one frame, with the decisions about it.

    ``raw`` / ``restored``: barycenter scores of the two maps; ``auto_accept``: the
    automatic decision (:func:`handpose_core.restoration.quality.accept_restoration`);
    ``override``: the human decision (None when there is none) and its time;
    ``run_key``: identifies the model, dictionary and settings that produced it;
    ``method``: ``"joint-prior"`` (the restore stage's default, the one fine-tuning uses
    and a human can override; an older project's primary rows say ``"integration"``)
    or another method (``"integration"``, ``"crf-potts"``, ``"crf-overlap"``), stored
    beside it and never overridden.
    """

    frame_id: int
    model: str
    raw_path: str
    restored_path: str
    raw: Score
    restored: Score
    details: dict
    auto_accept: bool
    override: bool | None
    override_time: str | None
    updated: str
    run_key: str | None = None
    method: str = "joint-prior"

    @property
    def accepted(self) -> bool:
        """The decision in force: the human override when there is one, else automatic."""
        return self.auto_accept if self.override is None else self.override

    @property
    def disagrees(self) -> bool:
        """A human override that differs from the automatic decision."""
        return self.override is not None and self.override != self.auto_accept


@dataclass(frozen=True)
class HandLabelRecord:
    """A hand-painted label map: where it is, how much work went into it and by whom."""

    frame_id: int
    path: str
    strokes: int
    complete: bool
    updated: str
    seconds: float = 0.0
    author: str = ""


@dataclass(frozen=True)
class RunRecord:
    """One run of a stage. ``outcome`` as stored: running, completed, cancelled, failed;
    :attr:`status` adds ``interrupted`` for a run whose process is gone."""

    id: int
    stage: str
    config: dict
    started: str
    ended: str | None
    outcome: str
    metrics: dict
    checkpoint: str | None
    run_dir: str | None
    pid: int | None = None
    host: str | None = None
    heartbeat: float | None = None
    checked_at: float = field(default_factory=time.time, compare=False)

    @property
    def status(self) -> str:
        if self.outcome != "running":
            return self.outcome
        return "running" if process_alive(self.pid, self.host, self.heartbeat,
                                          self.checked_at) else "interrupted"

    @property
    def error(self) -> str | None:
        return self.metrics.get("error") if isinstance(self.metrics, dict) else None


def process_alive(pid: int | None, host: str | None, heartbeat: float | None,
                  now: float | None = None) -> bool:
    """Whether the process that runs a stage is still there: on this host the pid is
    checked, elsewhere (or when the pid is unknown) the heartbeat's age decides."""
    now = time.time() if now is None else now
    if heartbeat is None or now - heartbeat > STALE_AFTER_S:
        return False
    if pid is not None and host == socket.gethostname():
        if pid == os.getpid():
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


def finite_or_none(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def nan_if_none(x) -> float:
    return float("nan") if x is None else float(x)
