"""``bench gui --evaluation --project DIR``: the Evaluation tab's Compute over every
labelled frame it uses (NYU's 8,252 test frames on a full-size project), timed in the real
main window, with the GUI event loop's stalls meanwhile.

Opens the window on the project, shows the Evaluation tab (which starts Compute in a
worker) and waits for the scores. A 10 ms timer on the GUI thread records the gaps
between its ticks: the longest gap and the 99th percentile say whether the GUI froze.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def measure_evaluation(project_dir: str, timeout_s: float = 3000.0) -> dict:
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from handpose_core.project import Project

    from ..main_window import MainWindow
    from .actions import rss_mb

    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings_dir = tempfile.TemporaryDirectory(prefix="handpose-bench-eval-")
    win = MainWindow(settings=QSettings(str(Path(settings_dir.name) / "s.ini"), QSettings.IniFormat))
    win.show()
    project = Project.open(project_dir)
    win.session.open_project(project)
    app.processEvents()
    db = win.dashboard
    done: list = []
    db.scores_ready.connect(lambda s: done.append(s))
    phases: dict[str, float] = {}
    updates = []

    def on_progress(v):
        fmt = db.seg_progress.format().replace(" — %p%", "").split(":")[0]
        phase = "cropping" if fmt.startswith("cropping") else fmt  # one key per phase
        phases.setdefault(phase, time.perf_counter())
        updates.append(v)

    db.seg_progress.valueChanged.connect(on_progress)
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    t0 = time.perf_counter()
    for i in range(win.tabs.count()):
        if win.tabs.tabText(i) == "Evaluation":
            win.tabs.setCurrentIndex(i)
    failed = None
    while not done and time.perf_counter() - t0 < timeout_s:
        app.processEvents()
        if db.seg_status.text() == "failed":
            failed = db.seg_note.text()
            break
        time.sleep(0.002)
    total = time.perf_counter() - t0
    timer.stop()
    gaps = np.diff(np.asarray(ticks)) * 1000.0 if len(ticks) > 1 else np.zeros(1)
    scores = done[0] if done else None
    out = {
        "project": str(project_dir), "frames": len(scores.frame_ids) if scores else None,
        "compute_s": round(total, 1), "finished": bool(done), "failed": failed,
        "phase_start_s": {k: round(v - t0, 1) for k, v in phases.items()},
        "progress_updates": len(updates),
        "gui_gap_max_ms": round(float(gaps.max()), 1),
        "gui_gap_p99_ms": round(float(np.percentile(gaps, 99)), 1),
        "methods": sorted(scores.methods) if scores else [],
        "rss_mb": rss_mb().get("rss_mb"), "peak_rss_mb": rss_mb().get("peak_rss_mb"),
    }
    win.close()
    settings_dir.cleanup()
    return out
