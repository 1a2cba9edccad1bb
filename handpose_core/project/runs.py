"""Run records in the project store: what ran, with which settings, how it ended.

A running stage records its process id, host and a heartbeat; a run whose process is
gone (killed, crashed, machine off) reads as ``interrupted`` (:attr:`RunRecord.status`).
"""

from __future__ import annotations

import json
import os
import socket
import time

import numpy as np

from .changes import ChangeKind
from .records import RunRecord
from .schema import DB_NAME, ProjectError, now

OUTCOMES = ("completed", "cancelled", "failed")

_COLUMNS = ("id, stage, config, started, ended, outcome, metrics, checkpoint, run_dir, pid, "
            "host, heartbeat")


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _record(r, db) -> RunRecord:
    return RunRecord(r[0], r[1], json_column(db, "runs", r[0], "config", r[2]), r[3], r[4],
                     r[5], json_column(db, "runs", r[0], "metrics", r[6]), r[7], r[8], r[9],
                     r[10], r[11])

def json_column(db, table: str, key, column: str, text) -> dict:
    """A JSON-object column of a store row, parsed; ``ProjectError`` naming the store file,
    the table, the row and the column when it is not a JSON object (a damaged store)."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as e:
        raise ProjectError(f"{db}: {table} row {key}: column {column!r} is not JSON ({e})"
                           ) from None
    if not isinstance(value, dict):
        raise ProjectError(f"{db}: {table} row {key}: column {column!r} must hold a JSON "
                           f"object, got {type(value).__name__}")
    return value



class RunsMixin:
    """The runs table of :class:`~handpose_core.project.store.Project`."""

    def start_run(self, stage: str, config: dict, run_dir: str | os.PathLike | None = None) -> int:
        """Record a run of ``stage`` by this process as running; returns its id."""
        with self._lock, self._conn:
            cur = self._conn.execute(
                "INSERT INTO runs (stage, config, started, outcome, run_dir, pid, host, "
                "heartbeat) VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
                (stage, json.dumps(config, default=_jsonable), now(),
                 None if run_dir is None else str(run_dir), os.getpid(),
                 socket.gethostname(), time.time()))
            run_id = int(cur.lastrowid)
            change = self._log_change(ChangeKind.RUN, run_id=run_id)
        self._announce(change)
        return run_id

    def heartbeat(self, run_id: int) -> None:
        """Say that the run's process is still working (see ``records.HEARTBEAT_S``)."""
        with self._lock, self._conn:
            self._conn.execute("UPDATE runs SET heartbeat = ? WHERE id = ?",
                               (time.time(), run_id))

    def finish_run(self, run_id: int, outcome: str, metrics: dict | None = None,
                   checkpoint: str | os.PathLike | None = None) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"run outcome must be one of {OUTCOMES}, got {outcome!r}")
        with self._lock, self._conn:
            self._conn.execute(
                "UPDATE runs SET ended = ?, outcome = ?, metrics = ?, checkpoint = ? WHERE id = ?",
                (now(), outcome, json.dumps(metrics or {}, default=_jsonable),
                 None if checkpoint is None else str(checkpoint), run_id))
            change = self._log_change(ChangeKind.RUN, run_id=run_id)
        self._announce(change)

    def runs(self, stage: str | None = None) -> list[RunRecord]:
        """Runs in the order they started (of one stage, if given)."""
        q, args = f"SELECT {_COLUMNS} FROM runs", []
        if stage:
            q += " WHERE stage = ?"
            args.append(stage)
        with self._lock:
            rows = self._conn.execute(q + " ORDER BY id", args).fetchall()
        return [_record(r, self.root / DB_NAME) for r in rows]

    def run_record(self, run_id: int) -> RunRecord:
        with self._lock:
            r = self._conn.execute(f"SELECT {_COLUMNS} FROM runs WHERE id = ?",
                                   (run_id,)).fetchone()
        if r is None:
            raise ProjectError(f"{self.root}: no run with id {run_id}")
        return _record(r, self.root / DB_NAME)

    def running_runs(self) -> list[RunRecord]:
        """Runs recorded as running (their :attr:`~RunRecord.status` says whether the
        process is still there)."""
        with self._lock:
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM runs WHERE outcome = 'running' "
                                      "ORDER BY id").fetchall()
        return [_record(r, self.root / DB_NAME) for r in rows]

    def last_run(self, stage: str) -> RunRecord | None:
        with self._lock:
            r = self._conn.execute(f"SELECT {_COLUMNS} FROM runs WHERE stage = ? "
                                   "ORDER BY id DESC LIMIT 1", (stage,)).fetchone()
        return None if r is None else _record(r, self.root / DB_NAME)
