"""A project store at NYU scale for measuring the studio's frame table
(``handpose-studio bench gui --table-rows N``): N frames over a one-frame dataset, five
sixths of them with random restoration scores and decisions. Only the store is filled
(no maps on disk): what it measures is the table's queries, not the frames' data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .store import Project


def create_table_scale_project(folder: str | Path, n: int, *, seed: int = 0
                               ) -> tuple[Project, list[int]]:
    """``(project, frame ids)``: a new project under ``folder`` with ``n`` frames."""
    from ..render import write_nyu_layout

    folder = Path(folder)
    write_nyu_layout(folder / "nyu", 1, split="train", seed=1)
    p = Project.create(folder / "proj", folder / "nyu", kind="nyu")
    rng = np.random.default_rng(seed)
    with p._lock, p._conn:
        p._conn.executemany("INSERT INTO frames (split, kinect, frame, has_labels) "
                            "VALUES ('train', 1, ?, 0)", [(i,) for i in range(2, n + 1)])
        ids = [r[0] for r in p._conn.execute("SELECT id FROM frames ORDER BY id")]
        p._conn.executemany(
            "INSERT INTO restorations (frame_id, model, raw_path, restored_path, score_raw_mm, "
            "score_restored_mm, score_raw_px, score_restored_px, details, auto_accept, updated) "
            "VALUES (?, 'm', 'raw.png', 'restored.png', ?, ?, 1, 1, '{}', ?, 'now')",
            [(i, float(rng.uniform(100, 900)), float(rng.uniform(100, 900)),
              int(rng.random() < 0.5)) for i in ids[: n * 5 // 6]])
    p.close()
    return Project.open(folder / "proj"), ids
