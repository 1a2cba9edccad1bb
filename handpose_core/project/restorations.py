"""Restoration results in the project store: maps, scores, decisions, human overrides."""

from __future__ import annotations

import json

import numpy as np

from ..datasets.labelio import read_label_png, write_label_png
from .records import Frame, RestorationRecord, Score, finite_or_none, nan_if_none
from .schema import ProjectError, now

_COLUMNS = ("frame_id, model, raw_path, restored_path, score_raw_mm, score_raw_px, "
            "score_restored_mm, score_restored_px, details, auto_accept, override, "
            "override_time, updated, run_key")


_UPSERT = """INSERT INTO restorations (frame_id, model, raw_path, restored_path,
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
                   updated=excluded.updated, run_key=excluded.run_key"""
"""Insert or update a frame's restoration, keeping its human override."""


def _record(r) -> RestorationRecord:
    return RestorationRecord(
        r[0], r[1], r[2], r[3], Score(nan_if_none(r[4]), nan_if_none(r[5])),
        Score(nan_if_none(r[6]), nan_if_none(r[7])), json.loads(r[8]), bool(r[9]),
        None if r[10] is None else bool(r[10]), r[11], r[12], r[13])


class RestorationsMixin:
    """The restorations table of :class:`~handpose_core.project.store.Project`."""

    def save_restoration(self, f: Frame, *, model: str, raw: np.ndarray, restored: np.ndarray,
                         score_raw: Score, score_restored: Score, auto_accept: bool,
                         details: dict | None = None,
                         run_key: str | None = None) -> RestorationRecord:
        """Store raw and restored crops (palette PNGs, atomic) and the scores; keeps any
        human override already recorded for the frame."""
        return self.save_restorations([dict(
            f=f, model=model, raw=raw, restored=restored, score_raw=score_raw,
            score_restored=score_restored, auto_accept=auto_accept, details=details,
            run_key=run_key)])[0]

    def save_restorations(self, items: list[dict]) -> list[RestorationRecord]:
        """:meth:`save_restoration` for many frames (each item its keyword arguments):
        the PNGs written on a few threads (their fsyncs overlap), the rows in one
        committed transaction, one event per frame after it. What a restore writer
        receives from its workers a chunk at a time."""
        if not items:
            return []
        sub_raw, sub_res = self.path("restoration/raw"), self.path("restoration/restored")

        def write(it: dict) -> tuple:
            f = it["f"]
            raw_p, res_p = sub_raw / f"{f.key}.png", sub_res / f"{f.key}.png"
            write_label_png(raw_p, it["raw"])
            write_label_png(res_p, it["restored"])
            sr, sx = it["score_raw"], it["score_restored"]
            return (f.id, it["model"], str(raw_p.relative_to(self.root)),
                    str(res_p.relative_to(self.root)), finite_or_none(sr.total_mm),
                    finite_or_none(sx.total_mm), finite_or_none(sr.total_px),
                    finite_or_none(sx.total_px), json.dumps(it.get("details") or {}),
                    int(bool(it["auto_accept"])), now(), it.get("run_key"))

        if len(items) == 1:
            rows = [write(items[0])]
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(8, len(items))) as pool:
                rows = list(pool.map(write, items))
        with self._lock, self._conn:
            self._conn.executemany(_UPSERT, rows)
        for r in rows:
            self._emit("restoration", frame_id=r[0])
        return [self.restoration(r[0]) for r in rows]

    def restoration(self, frame_id: int) -> RestorationRecord | None:
        with self._lock:
            r = self._conn.execute(f"SELECT {_COLUMNS} FROM restorations WHERE frame_id = ?",
                                   (frame_id,)).fetchone()
        return None if r is None else _record(r)

    def restorations(self) -> dict[int, RestorationRecord]:
        """Every restoration record by frame id (one query)."""
        with self._lock:
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM restorations").fetchall()
        return {r[0]: _record(r) for r in rows}

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
