"""Restoration results in the project store: maps, scores, decisions, human overrides.

One result per frame and method. The restore stage's default method
(:data:`DEFAULT_METHOD`, ``joint-prior``) lives in the ``restorations`` table and its
maps under ``restoration/raw|restored/``: it is the one fine-tuning uses, the studio
shows first and a human can override. Another method (the paper's ``integration``, a
CRF, :mod:`..restoration.crf`) keeps its result beside it, in ``method_restorations``
and under ``restoration/METHOD/raw|restored/``, so running it never replaces the
default's. (Projects restored before ``joint-prior`` became the default hold
integration's maps in ``restorations``; their records say so in ``method``, read from
the stored details, until ``train restore`` is run again.)
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..datasets.labelio import label_digest, read_label_png, stage_label_png
from .changes import ChangeKind
from .records import Frame, RestorationRecord, Score, finite_or_none, nan_if_none
from .runs import json_column
from .schema import DB_NAME, ProjectError, now

_COLUMNS = ("frame_id, model, raw_path, restored_path, score_raw_mm, score_raw_px, "
            "score_restored_mm, score_restored_px, details, auto_accept, override, "
            "override_time, updated, run_key")


_METHOD_COLUMNS = ("frame_id, model, raw_path, restored_path, score_raw_mm, score_raw_px, "
                   "score_restored_mm, score_restored_px, details, auto_accept, NULL, NULL, "
                   "updated, run_key, method")
DEFAULT_METHOD = "joint-prior"
"""The method whose results live in the primary ``restorations`` table (the restore
stage's default, :data:`handpose_core.restoration.crf.JOINT_PRIOR`)."""
INTEGRATION = DEFAULT_METHOD  # the primary slot's name in the code below

_UPSERT = """INSERT INTO restorations (frame_id, model, raw_path, restored_path,
                   score_raw_mm, score_restored_mm, score_raw_px, score_restored_px,
                   details, auto_accept, updated, run_key, raw_digest, restored_digest)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(frame_id) DO UPDATE SET model=excluded.model,
                   raw_path=excluded.raw_path, restored_path=excluded.restored_path,
                   score_raw_mm=excluded.score_raw_mm,
                   score_restored_mm=excluded.score_restored_mm,
                   score_raw_px=excluded.score_raw_px,
                   score_restored_px=excluded.score_restored_px,
                   details=excluded.details, auto_accept=excluded.auto_accept,
                   updated=excluded.updated, run_key=excluded.run_key,
                   raw_digest=excluded.raw_digest, restored_digest=excluded.restored_digest"""
"""Insert or update a frame's restoration, keeping its human override."""


def _stage_maps(raw_p, raw, res_p, restored) -> list[tuple]:
    """Both maps written to temporaries beside their places: ``[(temporary, place)]``."""
    tmp_raw = stage_label_png(raw_p, raw)
    try:
        tmp_res = stage_label_png(res_p, restored)
    except BaseException:
        tmp_raw.unlink(missing_ok=True)
        raise
    return [(tmp_raw, raw_p), (tmp_res, res_p)]


def _drop(moves) -> None:
    for tmp, _ in moves:
        tmp.unlink(missing_ok=True)


def _record(r, db) -> RestorationRecord:
    table = "restorations" if len(r) <= 14 else "method_restorations"
    return RestorationRecord(
        r[0], r[1], r[2], r[3], Score(nan_if_none(r[4]), nan_if_none(r[5])),
        Score(nan_if_none(r[6]), nan_if_none(r[7])),
        json_column(db, table, f"of frame {r[0]}", "details", r[8]), bool(r[9]),
        None if r[10] is None else bool(r[10]), r[11], r[12], r[13],
        r[14] if len(r) > 14 else _primary_method(r[8]))


def _primary_method(details_json) -> str:
    """What a primary row holds: its details' ``method`` (an older project's
    integration), else :data:`DEFAULT_METHOD`."""
    try:
        m = json.loads(details_json or "{}").get("method")
    except (ValueError, AttributeError):
        m = None
    return m if isinstance(m, str) and m else DEFAULT_METHOD


def _check_method(method: str) -> str:
    if not method or not all(c.isalnum() or c == "-" for c in method):
        raise ProjectError(f"bad restoration method name {method!r}")
    return method


class RestorationsMixin:
    """The restorations table of :class:`~handpose_core.project.store.Project`."""

    def save_restoration(self, f: Frame, *, model: str, raw: np.ndarray, restored: np.ndarray,
                         score_raw: Score, score_restored: Score, auto_accept: bool,
                         details: dict | None = None, run_key: str | None = None,
                         method: str = INTEGRATION) -> RestorationRecord:
        """Store raw and restored crops (palette PNGs) and the scores, whole or not at all
        (maps to temporaries, row committed, maps moved into place); keeps any
        human override already recorded for the frame. ``method`` other than
        integration: stored beside integration's result (module docstring)."""
        if _check_method(method) != INTEGRATION:
            return self._save_method(f, method, model, raw, restored, score_raw,
                                     score_restored, auto_accept, details, run_key)
        return self.save_restorations([dict(
            f=f, model=model, raw=raw, restored=restored, score_raw=score_raw,
            score_restored=score_restored, auto_accept=auto_accept, details=details,
            run_key=run_key)])[0]

    def save_restorations(self, items: list[dict]) -> list[RestorationRecord]:
        """:meth:`save_restoration` for many frames (each item its keyword arguments):
        the PNGs written on a few threads (their fsyncs overlap), the rows in one
        committed transaction, one change for all of them after it (the change feed). What a restore writer
        receives from its workers a chunk at a time."""
        if not items:
            return []
        if any(_check_method(it.get("method", INTEGRATION)) != INTEGRATION for it in items):
            return [self.save_restoration(**it) for it in items]  # other methods: one by one
        items = [{k: v for k, v in it.items() if k != "method"} for it in items]
        sub_raw, sub_res = self.path("restoration/raw"), self.path("restoration/restored")

        def write(it: dict) -> tuple:
            f = it["f"]
            raw_p, res_p = sub_raw / f"{f.key}.png", sub_res / f"{f.key}.png"
            moves = _stage_maps(raw_p, it["raw"], res_p, it["restored"])
            sr, sx = it["score_raw"], it["score_restored"]
            return (f.id, it["model"], str(raw_p.relative_to(self.root)),
                    str(res_p.relative_to(self.root)), finite_or_none(sr.total_mm),
                    finite_or_none(sx.total_mm), finite_or_none(sr.total_px),
                    finite_or_none(sx.total_px), json.dumps(it.get("details") or {}),
                    int(bool(it["auto_accept"])), now(), it.get("run_key"),
                    label_digest(it["raw"]), label_digest(it["restored"])), moves

        # the maps to temporaries, the rows (with the maps' digests) committed, then the
        # maps moved into place: a kill leaves every frame's row and maps old or new
        # (Project.open finishes a committed save; store.py)
        if len(items) == 1:
            written = [write(items[0])]
        else:
            with ThreadPoolExecutor(min(8, len(items))) as pool:
                futures = [pool.submit(write, it) for it in items]
            written, error = [], None
            for fu in futures:
                try:
                    written.append(fu.result())
                except BaseException as e:  # noqa: BLE001 - re-raised below
                    error = error or e
            if error is not None:
                for _, moves in written:
                    _drop(moves)
                raise error
        rows = [w[0] for w in written]
        moves = [m for w in written for m in w[1]]
        try:
            with self._lock, self._conn:
                self._conn.executemany(_UPSERT, rows)
                change = self._log_change(ChangeKind.RESTORATION, [r[0] for r in rows])
        except BaseException:
            _drop(moves)
            raise
        for tmp, dst in moves:
            os.replace(tmp, dst)
        self._announce(change)
        return [self.restoration(r[0]) for r in rows]

    def _save_method(self, f, method, model, raw, restored, score_raw, score_restored,
                     auto_accept, details, run_key) -> RestorationRecord:
        raw_p = self.path(f"restoration/{method}/raw") / f"{f.key}.png"
        res_p = self.path(f"restoration/{method}/restored") / f"{f.key}.png"
        moves = _stage_maps(raw_p, raw, res_p, restored)
        try:
            with self._lock, self._conn:
                self._conn.execute(
                    """INSERT OR REPLACE INTO method_restorations (frame_id, method, model,
                           raw_path, restored_path, score_raw_mm, score_restored_mm,
                           score_raw_px, score_restored_px, details, auto_accept, updated,
                           run_key, raw_digest, restored_digest)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (f.id, method, model, str(raw_p.relative_to(self.root)),
                     str(res_p.relative_to(self.root)), finite_or_none(score_raw.total_mm),
                     finite_or_none(score_restored.total_mm),
                     finite_or_none(score_raw.total_px),
                     finite_or_none(score_restored.total_px), json.dumps(details or {}),
                     int(bool(auto_accept)), now(), run_key, label_digest(raw),
                     label_digest(restored)))
                change = self._log_change(ChangeKind.RESTORATION, [f.id])
        except BaseException:
            _drop(moves)
            raise
        for tmp, dst in moves:
            os.replace(tmp, dst)
        self._announce(change)
        return self.restoration(f.id, method)

    def restoration(self, frame_id: int, method: str = INTEGRATION
                    ) -> RestorationRecord | None:
        """The frame's stored result of ``method`` (default integration), or None."""
        with self._lock:
            if method == INTEGRATION:
                r = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM restorations WHERE frame_id = ?",
                    (frame_id,)).fetchone()
            else:
                r = self._conn.execute(
                    f"SELECT {_METHOD_COLUMNS} FROM method_restorations "
                    "WHERE frame_id = ? AND method = ?", (frame_id, method)).fetchone()
        return None if r is None else _record(r, self.root / DB_NAME)

    def restoration_methods(self, frame_id: int) -> list[str]:
        """The methods with a stored result for the frame, integration first."""
        with self._lock:
            has = self._conn.execute("SELECT 1 FROM restorations WHERE frame_id = ?",
                                     (frame_id,)).fetchone() is not None
            others = [r[0] for r in self._conn.execute(
                "SELECT method FROM method_restorations WHERE frame_id = ? ORDER BY method",
                (frame_id,))]
        return ([INTEGRATION] if has else []) + others

    def method_restorations(self, method: str) -> dict[int, RestorationRecord]:
        """Every stored result of ``method`` by frame id (integration:
        :meth:`restorations`)."""
        if method == INTEGRATION:
            return self.restorations()
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_METHOD_COLUMNS} FROM method_restorations WHERE method = ?",
                (method,)).fetchall()
        return {r[0]: _record(r, self.root / DB_NAME) for r in rows}

    def restorations(self) -> dict[int, RestorationRecord]:
        """Every restoration record by frame id (one query)."""
        with self._lock:
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM restorations").fetchall()
        return {r[0]: _record(r, self.root / DB_NAME) for r in rows}

    def n_restorations(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM restorations").fetchone()[0])

    def restored_with_key(self, run_key: str, method: str = INTEGRATION) -> set[int]:
        """Frame ids whose stored ``method`` restoration was made with ``run_key``."""
        with self._lock:
            if method == INTEGRATION:
                return {r[0] for r in self._conn.execute(
                    "SELECT frame_id FROM restorations WHERE run_key = ?", (run_key,))}
            return {r[0] for r in self._conn.execute(
                "SELECT frame_id FROM method_restorations WHERE method = ? AND run_key = ?",
                (method, run_key))}

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
            change = self._log_change(ChangeKind.OVERRIDE, [frame_id])
        self._announce(change)
        return self.restoration(frame_id)
