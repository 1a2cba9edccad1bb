"""``handpose-studio bench gui --table-rows N``: the frame table over a store of N frames.

Builds a store with N frames (as many as NYU's train set by default: 72,757), five sixths
of them restored with random scores and decisions, and times what the browser does with
it: loading every row, each filter, sorting by score, refreshing one row after an
override, and finding a frame's row.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

NYU_TRAIN_FRAMES = 72757


def _store(folder: Path, n: int):
    from handpose_core.project import Project
    from handpose_core.render import write_nyu_layout

    write_nyu_layout(folder / "nyu", 1, split="train", seed=1)
    Project.create(folder / "proj", folder / "nyu", kind="nyu").close()
    rng = np.random.default_rng(0)
    conn = sqlite3.connect(folder / "proj" / "project.sqlite")
    with conn:
        conn.executemany("INSERT INTO frames (split, kinect, frame, has_labels) "
                         "VALUES ('train', 1, ?, 0)", [(i,) for i in range(2, n + 1)])
        ids = [r[0] for r in conn.execute("SELECT id FROM frames")]
        conn.executemany(
            "INSERT INTO restorations (frame_id, model, raw_path, restored_path, score_raw_mm, "
            "score_restored_mm, score_raw_px, score_restored_px, details, auto_accept, updated) "
            "VALUES (?, 'm', 'raw.png', 'restored.png', ?, ?, 1, 1, '{}', ?, 'now')",
            [(i, float(rng.uniform(100, 900)), float(rng.uniform(100, 900)),
              int(rng.random() < 0.5)) for i in ids[: n * 5 // 6]])
    conn.close()
    return Project.open(folder / "proj"), ids


def measure_table(n: int = NYU_TRAIN_FRAMES) -> dict:
    """Seconds for each table operation over ``n`` frames (a dict, keys as printed)."""
    from PySide6.QtCore import Qt

    from .models.frame_table import COL_RESTORED, FILTERS, FrameFilterProxy, FrameTableModel

    with tempfile.TemporaryDirectory(prefix="handpose-bench-table-") as tmp:
        project, ids = _store(Path(tmp), n)
        try:
            model, proxy = FrameTableModel(), FrameFilterProxy()
            proxy.setSourceModel(model)
            out = {"rows": n}
            t = time.perf_counter()
            model.set_project(project)
            out["load_s"] = time.perf_counter() - t
            for name in FILTERS:
                t = time.perf_counter()
                proxy.set_filter(name)
                out[f"filter_{name}_s"] = time.perf_counter() - t
            proxy.set_filter("all")
            t = time.perf_counter()
            proxy.sort(COL_RESTORED, Qt.DescendingOrder)
            out["sort_s"] = time.perf_counter() - t
            project.set_override(ids[5], True)
            t = time.perf_counter()
            model.refresh_frame(ids[5])
            out["refresh_row_s"] = time.perf_counter() - t
            t = time.perf_counter()
            proxy.row_of(ids[n // 2])
            out["row_of_s"] = time.perf_counter() - t
        finally:
            project.close()
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}
