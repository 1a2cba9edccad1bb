"""``handpose-studio bench gui --table-rows N``: the frame table over a store of N frames.

Builds a store with N frames (as many as NYU's train set by default: 72,757), five sixths
of them restored with random scores and decisions, and times what the browser does with
it: loading every row, each filter, sorting by score, refreshing one row after an
override, and finding a frame's row.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

NYU_TRAIN_FRAMES = 72757


def measure_table(n: int = NYU_TRAIN_FRAMES) -> dict:
    """Seconds for each table operation over ``n`` frames (a dict, keys as printed)."""
    from PySide6.QtCore import Qt

    from handpose_core.project.scale import create_table_scale_project

    from ..models.frame_table import COL_RESTORED, FILTERS, FrameFilterProxy, FrameTableModel

    with tempfile.TemporaryDirectory(prefix="handpose-bench-table-") as tmp:
        project, ids = create_table_scale_project(Path(tmp), n)
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
