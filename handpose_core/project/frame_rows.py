"""The frame table's rows as store queries: every frame with its labels, restoration
decision and scores, the browser's filters and its sort order.

:meth:`FrameRowsMixin.frame_rows` reads the rows in one query over the frames' primary key
(all of them, or the frames a change names, in chunks) into numpy columns
(:class:`FrameRows`); :func:`filter_mask` and :func:`sort_order` answer a filter or a sort
over those columns vectorised, so a table of NYU's 72,757 train frames loads once and a
filter or sort never asks a row at a time. A reader keeps its columns current with
:meth:`FrameRows.update` from the rows of the frames a change names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FILTERS = {
    "all": "All frames",
    "accepted": "Accepted (decision in force)",
    "rejected": "Rejected (decision in force)",
    "rejected_worst": "Rejected, worst first",
    "overridden": "Overridden by a human",
    "disagreeing": "Override disagrees with automatic",
    "labelled": "Labelled",
    "worst": "Worst scores (10 %)",
    "not_restored": "Not restored yet",
}
"""The browser's filters: key -> label."""

SORT_KEYS = ("id", "split", "frame", "auto", "override", "raw", "restored", "labelled")
"""Columns of :class:`FrameRows`, in the table's column order."""

_QUERY = """SELECT f.id, f.split, f.frame,
    (f.has_labels OR (h.complete IS NOT NULL AND h.complete)),
    r.auto_accept, r.override, r.score_raw_mm, r.score_restored_mm
    FROM frames f LEFT JOIN hand_labels h ON h.frame_id = f.id
    LEFT JOIN restorations r ON r.frame_id = f.id"""
_CHUNK = 500  # frame ids per query (SQLite's parameter limit is far above)


@dataclass
class FrameRows:
    """Columns of the frame table, one entry per frame in id order.

    ``auto`` / ``override``: -1 none, 0 reject, 1 accept; ``raw`` / ``restored``: barycenter
    score sums (mm, NaN when not restored); ``labelled``: ground-truth or finished hand
    labels."""

    id: np.ndarray
    split: np.ndarray
    frame: np.ndarray
    labelled: np.ndarray
    auto: np.ndarray
    override: np.ndarray
    raw: np.ndarray
    restored: np.ndarray

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> FrameRows:
        n = len(rows)

        def col(i, dtype, fill):
            return np.array([fill if r[i] is None else r[i] for r in rows], dtype=dtype) \
                if n else np.zeros(0, dtype)

        return cls(id=col(0, np.int64, 0), split=np.array([r[1] for r in rows], object),
                   frame=col(2, np.int64, 0), labelled=col(3, bool, 0), auto=col(4, np.int8, -1),
                   override=col(5, np.int8, -1), raw=col(6, np.float64, np.nan),
                   restored=col(7, np.float64, np.nan))

    def __len__(self) -> int:
        return len(self.id)

    def column(self, name: str) -> np.ndarray:
        if name not in SORT_KEYS:
            raise KeyError(f"no frame-table column {name!r}")
        return getattr(self, name)

    def update(self, fresh: FrameRows, positions: np.ndarray) -> None:
        """Write ``fresh`` (rows of some frames) into the rows at ``positions``."""
        for name in ("labelled", "auto", "override", "raw", "restored"):
            getattr(self, name)[positions] = getattr(fresh, name)


def filter_mask(rows: FrameRows, name: str, order: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of filter ``name`` (a key of :data:`FILTERS`) over ``rows`` taken in
    ``order`` (row positions; id order when None)."""
    if name not in FILTERS:
        raise KeyError(f"unknown filter {name!r}")
    idx = slice(None) if order is None else order
    auto, override = rows.auto[idx], rows.override[idx]
    n = len(auto)
    if name == "all":
        return np.ones(n, bool)
    has = auto >= 0
    if name == "not_restored":
        return ~has
    if name == "labelled":
        return rows.labelled[idx].copy()
    if name == "overridden":
        return override >= 0
    if name == "disagreeing":
        return (override >= 0) & has & (override != auto)
    accepted = has & np.where(override >= 0, override == 1, auto == 1)
    if name == "accepted":
        return accepted
    if name in ("rejected", "rejected_worst"):
        return has & ~accepted
    # "worst": the decision in force's score in the worst 10 %
    in_force = np.where(accepted, rows.restored[idx], rows.raw[idx])
    if not has.any():
        return has
    cut = np.nanpercentile(in_force[has], 90)
    return has & (in_force >= cut)


def sort_order(rows: FrameRows, key: str, descending: bool = False) -> np.ndarray:
    """Row positions sorted by column ``key`` (stable by id; missing scores last either
    way)."""
    v = rows.column(key)
    if v.dtype == object:  # a few distinct strings (the splits): rank them, not argsort 81k
        codes = np.zeros(len(v), np.int64)
        for rank, value in enumerate(sorted(set(v.tolist()))):
            codes[v == value] = rank
        v = codes
    v = v.astype(np.float64)
    v = np.where(np.isnan(v), -np.inf if descending else np.inf, v)
    return np.lexsort((rows.id, -v if descending else v))


class FrameRowsMixin:
    """The frame table's query of :class:`~handpose_core.project.store.Project`."""

    def frame_count(self) -> tuple[int, int | None]:
        """``(number of frames, the lowest id or None)``: the first row of the table in
        its opening order, without reading the rows."""
        with self._lock:
            n, first = self._conn.execute("SELECT count(*), min(id) FROM frames").fetchone()
        return int(n), (None if first is None else int(first))

    def frame_rows(self, frame_ids=None) -> FrameRows:
        """Rows of every frame (None) or of these frames, in id order."""
        with self._lock:
            if frame_ids is None:
                rows = self._conn.execute(_QUERY + " ORDER BY f.id").fetchall()
            else:
                ids = sorted({int(i) for i in frame_ids})
                rows = []
                for s in range(0, len(ids), _CHUNK):
                    chunk = ids[s:s + _CHUNK]
                    rows += self._conn.execute(
                        _QUERY + f" WHERE f.id IN ({','.join('?' * len(chunk))}) ORDER BY f.id",
                        chunk).fetchall()
        return FrameRows.from_rows(rows)
