"""Typed change events of a project, and the feed that delivers every one of them.

Every write to the store records what it changed in the ``changes`` table, in the same
transaction as the change itself (so the table is exact about which frames changed and
never names a change that was rolled back). A write is one :class:`Change`:

- announced at once, in the writer's thread, to the subscribers of the
  :class:`~handpose_core.project.store.Project` connection that made it
  (:meth:`Project.subscribe <handpose_core.project.store.Project.subscribe>`);
- readable by every other connection and process from the ``changes`` table by its
  sequence number (:meth:`Project.changes_since
  <handpose_core.project.store.Project.changes_since>`).

:class:`ChangeFeed` joins the two for a reader that wants every change of a project
exactly once, whoever made it: its own connection's writes as they are announced, the
others' (a worker's connection, ``train restore`` in a terminal) when it polls. A poll
costs one ``PRAGMA data_version`` while nothing changed.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable
from dataclasses import dataclass


class ChangeKind(enum.Enum):
    """What changed. Every kind but :attr:`MODELS` is recorded by a store write."""

    OVERRIDE = "override"
    """the human accept / reject decision of restorations (``frame_ids``)"""
    RESTORATION = "restoration"
    """restoration results: maps, scores, automatic decision (``frame_ids``)"""
    LABELS = "labels"
    """hand-painted labels (``frame_ids``)"""
    RUN = "run"
    """a stage run started or ended (``run_id``), or its process was found gone"""
    META = "meta"
    """project settings (the meta table)"""
    EVAL_SET = "eval_set"
    """the hand-labelled evaluation set"""
    FILES = "files"
    """the stages' output folders (:data:`WATCHED_FOLDERS`) changed on disk, as when a
    dictionary is copied in or built outside a recorded run; found by
    :class:`ChangeFeed`, never written to the store"""
    MODELS = "models"
    """a reader's models of the project (the studio's f_s) were (re)loaded or predicted
    maps for ``frame_ids``; announced by that reader, never written to the store"""


STORE_KINDS = tuple(k for k in ChangeKind if k not in (ChangeKind.MODELS, ChangeKind.FILES))
WATCHED_FOLDERS = ("dictionary", "models", "synthetic")
"""The kinds a store write records."""


@dataclass(frozen=True)
class Change:
    """One change to a project.

    ``frame_ids``: the frames it concerns; None when it concerns no frame in particular or
    possibly every frame (a reader then reloads all). ``run_id``: the run, for
    :attr:`ChangeKind.RUN`. ``seq``: the last sequence number of the ``changes`` table it
    covers (None for changes not recorded there)."""

    kind: ChangeKind
    frame_ids: frozenset[int] | None = None
    run_id: int | None = None
    seq: int | None = None

    def touches(self, frame_id: int | None) -> bool:
        """Whether this change may concern ``frame_id`` (always, when it names no frames)."""
        return self.frame_ids is None or (frame_id is not None and int(frame_id) in
                                          self.frame_ids)

    @property
    def all_frames(self) -> bool:
        """It names no frames: whatever a reader keeps per frame may be stale."""
        return self.frame_ids is None


def coalesce(rows: Iterable[tuple[int, str, int | None, int | None]]) -> list[Change]:
    """Rows ``(seq, kind, frame_id, run_id)`` of the ``changes`` table -> one change per
    kind (per run for runs), in the order each first appears; frame ids are merged, and a
    row without a frame makes its kind concern every frame."""
    out: dict[tuple, list] = {}
    for seq, kind, frame_id, run_id in rows:
        k = ChangeKind(kind)
        key = (k, run_id if k is ChangeKind.RUN else None)
        entry = out.setdefault(key, [set(), False, seq])
        if frame_id is None:
            entry[1] = True
        else:
            entry[0].add(int(frame_id))
        entry[2] = max(entry[2], seq)
    return [Change(k, None if every or not ids else frozenset(ids), run_id, seq)
            for (k, run_id), (ids, every, seq) in out.items()]


class ChangeFeed:
    """Every change to one project exactly once, whichever connection or process made it.

    Call :meth:`accept` with each change the project's own connection announces
    (``project.subscribe``) and :meth:`poll` on a timer; both return the changes not
    delivered before, and must be called from one thread. :meth:`poll` also reports a
    stage run whose process is gone (killed, crashed) as a :attr:`ChangeKind.RUN` change,
    since no write announces that, and a change of the :data:`WATCHED_FOLDERS` (their
    modification times) as a :attr:`ChangeKind.FILES` change; it checks both every
    ``liveness_every`` polls."""

    def __init__(self, project, *, liveness_every: int = 8):
        self.project = project
        self._mark = project.change_seq()  # every change up to here is known
        self._delivered: set[int] = set()  # seqs above the mark delivered by accept()
        self._version = project.data_version()
        self._liveness_every = max(1, int(liveness_every))
        self._polls = 0
        self._alive: dict[int, bool] = {}
        self._check_runs()
        self._mtimes = self._folder_mtimes()

    def accept(self, change: Change) -> Change | None:
        """A change announced by the project's own connection: itself, or None when a
        poll delivered it already."""
        if change.seq is not None:
            if change.seq <= self._mark or change.seq in self._delivered:
                return None
            self._delivered.add(change.seq)
        return change

    def poll(self) -> list[Change]:
        """Changes made by other connections since the last poll (and runs found gone)."""
        out: list[Change] = []
        version = self.project.data_version()
        if version != self._version:
            self._version = version
            rows, missed = self.project.change_rows_since(self._mark)
            if missed:  # the table was pruned past our mark: everything may have changed
                out = [Change(k) for k in STORE_KINDS]
                self._delivered.clear()
            else:
                out = coalesce(r for r in rows if r[0] not in self._delivered)
            if rows:
                self._mark = max(self._mark, rows[-1][0])
            self._delivered = {s for s in self._delivered if s > self._mark}
        self._polls += 1
        if self._polls % self._liveness_every == 0:
            out += self._check_runs()
            mtimes = self._folder_mtimes()
            if mtimes != self._mtimes:
                self._mtimes = mtimes
                out.append(Change(ChangeKind.FILES))
        return out

    def _folder_mtimes(self) -> tuple:
        out = []
        for name in WATCHED_FOLDERS:
            try:
                out.append(os.stat(self.project.root / name).st_mtime_ns)
            except OSError:
                out.append(None)
        return tuple(out)

    def _check_runs(self) -> list[Change]:
        """RUN changes for runs recorded as running whose process is gone."""
        alive = {r.id: r.status == "running" for r in self.project.running_runs()}
        gone = [rid for rid, ok in alive.items() if not ok and self._alive.get(rid, False)]
        self._alive = alive
        return [Change(ChangeKind.RUN, run_id=rid) for rid in gone]
