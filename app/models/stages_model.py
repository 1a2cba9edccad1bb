"""The training panel's model: stage states read from the project store and the metric log
of a run read as it grows (the task that runs a stage: :mod:`app.workers.stage_task`).

States come from :func:`handpose_core.stages.stage_status`, read again whenever the
session's change feed reports a run change (started, ended, its process found gone) or
a settings change, whichever connection or process made it; so a run started from the
command line on the same project, a restart of the studio, or a run whose process died
all show correctly, and no timer of this module reads the store.
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import fields, is_dataclass, replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from handpose_core.project import ChangeKind
from handpose_core.stages import STAGES, StageStatus, stage_status

from ..workers.stage_task import STUDIO_TORCH_THREADS
from .stage_display import clock

TERMINAL = ("completed", "cancelled", "failed", "interrupted")
# what a stage's state reads: its runs, and the outputs the stages after it need
_STATE_KINDS = frozenset({ChangeKind.RUN, ChangeKind.META, ChangeKind.FILES})


def studio_defaults(stage):
    """The settings a stage starts with in the studio: its defaults, except that a nested
    training config trains on :data:`STUDIO_TORCH_THREADS` threads."""
    s = stage.settings_cls()
    for f in fields(s):
        v = getattr(s, f.name)
        if is_dataclass(v) and any(g.name == "num_threads" for g in fields(v)):
            s = replace(s, **{f.name: replace(v, num_threads=STUDIO_TORCH_THREADS)})
    return s


def project_outputs(project):
    """What the views show that a stage may change: ``((f_s path, mtime) for the
    pre-trained and fine-tuned f_s, number of restorations)``; None without a project."""
    # deferred: imported when first used, these cost start-up seconds (torch, numba, scipy)
    from handpose_core.nets.inference import segnet_path

    if project is None:
        return None
    nets = []
    for which in ("pretrained", "finetuned"):
        path = segnet_path(project, which)
        nets.append((str(path), path.stat().st_mtime if path and path.exists() else None))
    return tuple(nets), project.n_restorations()


class MetricsTail:
    """Reads a growing ``metrics.jsonl`` incrementally (only complete lines).

    :meth:`poll` returns ``(records, replaced)``: the new records, and whether the file
    was replaced or truncated since the last call (a resumed run rewrites it), in which
    case ``records`` holds the whole file and the caller starts over."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._pos = 0
        self._ino: int | None = None
        self._rest = b""

    def poll(self) -> tuple[list[dict], bool]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return [], False
        replaced = self._ino is not None and (st.st_ino != self._ino or st.st_size < self._pos)
        if replaced:
            self._pos, self._rest = 0, b""
        self._ino = st.st_ino
        if st.st_size == self._pos:
            return [], replaced
        with open(self.path, "rb") as f:
            f.seek(self._pos)
            data = f.read()
        self._pos += len(data)
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()  # an incomplete last line waits for the next poll
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
        return out, replaced


class StagesModel(QObject):
    """The state of every stage of :data:`STAGES` in the session's project.

    ``changed`` follows a refresh that found something different; ``run_ended(stage,
    state)`` follows a run seen going from running (or absent) to a final state, whoever
    ran it (this studio or another process)."""

    changed = Signal()
    run_ended = Signal(str, str)

    def __init__(self, session, *, parent=None):
        super().__init__(parent)
        self.session = session
        self.statuses: dict[str, StageStatus] = {}
        self._keys: dict[str, tuple] = {}
        session.project_opened.connect(self._on_session_project_opened)
        session.data_changed.connect(self._on_session_data_changed)
        self.refresh()

    @Slot(object)
    def _on_session_data_changed(self, change) -> None:
        if change.kind in _STATE_KINDS:
            self.refresh()

    @Slot(object)
    def _on_session_project_opened(self, _project) -> None:
        self._keys.clear()
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        project = self.session.project
        if project is None:
            if self.statuses:
                self.statuses = {}
                self.changed.emit()
            return
        new = {s.name: stage_status(project, s.name) for s in STAGES}
        keys = {n: (st.state, st.run.id if st.run else None, st.headline, st.missing)
                for n, st in new.items()}
        ended = [(n, new[n].state) for n, k in keys.items()
                 if n in self._keys and self._keys[n][:2] != k[:2] and k[0] in TERMINAL]
        differs = keys != self._keys
        self.statuses, self._keys = new, keys
        if differs:
            self.changed.emit()
        for n, state in ended:
            self.run_ended.emit(n, state)

    def expected_seconds(self, name: str, last: int = 5) -> float | None:
        """How long stage ``name`` takes in this project: the median wall time of its
        last ``last`` completed runs in the store (None without one)."""
        project = self.session.project
        if project is None:
            return None
        took = []
        for rec in project.runs(name):
            a, b = clock(rec.started), clock(rec.ended)
            if rec.outcome == "completed" and a is not None and b is not None:
                took.append((b - a).total_seconds())
        return float(statistics.median(took[-last:])) if took else None

    def remaining(self) -> list[str]:
        """Stages not completed, in pipeline order."""
        return [s.name for s in STAGES
                if s.name not in self.statuses or self.statuses[s.name].state != "completed"]
