"""``bench gui --evaluation --project DIR``: the Evaluation tab's Compute over every
labelled frame it uses (NYU's 8,252 test frames on a full-size project), timed in the real
main window, with the GUI event loop's stalls meanwhile.

Opens the window on the project, shows the Evaluation tab (which starts Compute in a
worker) and waits for the scores. A :class:`~app.bench.stalls.StallRecorder` ticks every
10 ms on the GUI thread meanwhile: ``gui_gap_max_ms`` and ``gui_gap_p99_ms`` say whether
the GUI froze, and ``stalls`` says what held it during the longest gaps (the GUI thread's
own CPU, its wait for a core, the rest blocked on the GIL or I/O; the phase shown; the
garbage collector's runs; every thread's stack dumped 200 ms into a gap). Cycles are
collected on the GUI thread as in the studio (:mod:`app.gui_gc`).
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from pathlib import Path


def measure_evaluation(project_dir: str, timeout_s: float = 3000.0) -> dict:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from handpose_core.project import Project

    from ..gui_gc import GuiGarbageCollector
    from ..main_window import MainWindow
    from .actions import rss_mb
    from .stalls import StallRecorder

    app = QApplication.instance() or QApplication(sys.argv[:1])
    # as in the studio (app/main.py): cycles collected on the GUI thread, unless a caller
    # (the tests' conftest) already did that
    collector = GuiGarbageCollector(app) if gc.isenabled() else None
    settings_dir = tempfile.TemporaryDirectory(prefix="handpose-bench-eval-")
    win = MainWindow(settings=QSettings(str(Path(settings_dir.name) / "s.ini"), QSettings.IniFormat))
    win.show()
    if collector is not None:
        collector.thaw_on(win.session)
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
    rec = StallRecorder(tick_ms=10, stall_ms=200.0,
                        note=lambda: db.seg_progress.format().split(" — ")[0])
    t0 = time.perf_counter()
    rec.start()
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
    rec.stop()
    stalls = rec.report(t0)
    scores = done[0] if done else None
    out = {
        "project": str(project_dir), "frames": len(scores.frame_ids) if scores else None,
        "compute_s": round(total, 1), "finished": bool(done), "failed": failed,
        "phase_start_s": {k: round(v - t0, 1) for k, v in phases.items()},
        "progress_updates": len(updates),
        "gui_gap_max_ms": stalls.get("gap_max_ms"),
        "gui_gap_p99_ms": stalls.get("gap_p99_ms"),
        "stalls": stalls,
        "methods": sorted(scores.methods) if scores else [],
        "rss_mb": rss_mb().get("rss_mb"), "peak_rss_mb": rss_mb().get("peak_rss_mb"),
    }
    win.close()
    if collector is not None:
        collector.stop()
        collector.deleteLater()
    settings_dir.cleanup()
    return out
