"""Restoration results in the project store: maps, scores, decisions, human overrides."""

from __future__ import annotations

import json

import numpy as np

from ..datasets.labelio import read_label_png, write_label_png
from .records import Frame, RestorationRecord, Score, finite_or_none, nan_if_none
from .runs import json_column
from .schema import DB_NAME, ProjectError, now

_COLUMNS = ("frame_id, model, raw_path, restored_path, score_raw_mm, score_raw_px, "
            "score_restored_mm, score_restored_px, details, auto_accept, override, "
            "override_time, updated, run_key")


def _record(r, db) -> RestorationRecord:
    return RestorationRecord(
        r[0], r[1], r[2], r[3], Score(nan_if_none(r[4]), nan_if_none(r[5])),
        Score(nan_if_none(r[6]), nan_if_none(r[7])),
        json_column(db, "restorations", f"of frame {r[0]}", "details", r[8]), bool(r[9]),
        None if r[10] is None else bool(r[10]), r[11], r[12], r[13])


class RestorationsMixin:
    """The restorations table of :class:`~handpose_core.project.store.Project`."""

    def save_restoration(self, f: Frame, *, model: str, raw: np.ndarray, restored: np.ndarray,
                         score_raw: Score, score_restored: Score, auto_accept: bool,
                         details: dict | None = None,
                         run_key: str | None = None) -> RestorationRecord:
        """Store raw and restored crops (palette PNGs, atomic) and the scores; keeps any
        human override already recorded for the frame."""
        raw_p = self.path("restoration/raw") / f"{f.key}.png"
        res_p = self.path("restoration/restored") / f"{f.key}.png"
        write_label_png(raw_p, raw)
        write_label_png(res_p, restored)
        with self._lock, self._conn:
            self._conn.execute(
                """INSERT INTO restorations (frame_id, model, raw_path, restored_path,
                       score_raw_mm, score_restored_mm, score_raw_px, score_restored_px,
                       details, auto_accept, updated, run_key)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(frame_id) DO UPDATE SET model=excluded.model,
                       raw_path=excluded.raw_path, restored_path=excluded.restored_path,
                       score_raw_mm=excluded.score_raw_mm,
                       score_restored_mm=excluded.score_restored_mm,
                       score_raw_px=excluded.score_raw_px,
                       score_restored_px=excluded.score_restored_px,
                       details=excluded.details, auto_accept=excluded.auto_accept,
                       updated=excluded.updated, run_key=excluded.run_key""",
                (f.id, model, str(raw_p.relative_to(self.root)),
                 str(res_p.relative_to(self.root)), finite_or_none(score_raw.total_mm),
                 finite_or_none(score_restored.total_mm), finite_or_none(score_raw.total_px),
                 finite_or_none(score_restored.total_px), json.dumps(details or {}),
                 int(bool(auto_accept)), now(), run_key))
        self._emit("restoration", frame_id=f.id)
        return self.restoration(f.id)

    def restoration(self, frame_id: int) -> RestorationRecord | None:
        with self._lock:
            r = self._conn.execute(f"SELECT {_COLUMNS} FROM restorations WHERE frame_id = ?",
                                   (frame_id,)).fetchone()
        return None if r is None else _record(r, self.root / DB_NAME)

    def restorations(self) -> dict[int, RestorationRecord]:
        """Every restoration record by frame id (one query)."""
        with self._lock:
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM restorations").fetchall()
        return {r[0]: _record(r, self.root / DB_NAME) for r in rows}

    def n_restorations(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM restorations").fetchone()[0])

    def restored_with_key(self, run_key: str) -> set[int]:
        """Frame ids whose stored restoration was made with ``run_key``."""
        with self._lock:
            return {r[0] for r in self._conn.execute(
                "SELECT frame_id FROM restorations WHERE run_key = ?", (run_key,))}

    def restored_maps(self, rec: RestorationRecord) -> tuple[np.ndarray, np.ndarray]:
        """``(raw, restored)`` label crops ``(S, S)`` uint8 of a record."""
        return (read_label_png(self.root / rec.raw_path),
                read_label_png(self.root / rec.restored_path))

    def set_override(self, frame_id: int, accept: bool | None) -> RestorationRecord:
        """Record the human decision (None clears it), committed before returning."""
        with self._lock, self._conn:
            cur = self._conn.execute(
                "UPDATE restorations SET override = ?, override_time = ? WHERE frame_id = ?",
                (None if accept is None else int(bool(accept)),
                 None if accept is None else now(), frame_id))
            if cur.rowcount == 0:
                raise ProjectError(f"frame {frame_id} has no restoration to override")
        self._emit("override", frame_id=frame_id)
        return self.restoration(frame_id)
