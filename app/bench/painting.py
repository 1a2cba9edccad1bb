"""``handpose-studio bench gui --painting``: how long one brush step takes to apply and show.

Opens the real studio window (offscreen when there is no display) on a project with the
Labelling tab in front, presses the mouse on the hand and moves it ``n_steps`` times
a few pixels at a time, as a person painting does. Each step is timed from the mouse
event until the canvas has repainted: the event travels through Qt and pyqtgraph to the
label item, the editor paints the segment into the label map, the overlay is updated
and the canvas viewport is painted (synchronously, ``repaint``). Saving happens when a
stroke ends, not per step; it is timed separately (``stroke_save_*``) over short
strokes. The studio's f_s worker is allowed to finish first. Wall time includes waiting
for a core on a loaded machine; ``gui_cpu_*`` is the GUI thread's own CPU time per step.
Target: median step <= 8 ms.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_MEDIAN_MS = 8.0


def _tiny_project(folder: Path):
    from handpose_core.project import Project
    from handpose_core.render import write_nyu_layout

    write_nyu_layout(folder / "nyu", 2, split="test", seed=3)
    return Project.create(folder / "proj", folder / "nyu", kind="nyu")


def measure_painting(n_steps: int = 200, project_dir: str | None = None,
                     n_strokes: int = 20) -> dict:
    """Time ``n_steps`` brush steps and ``n_strokes`` stroke saves; returns the figures
    (milliseconds; ``steps_ms`` holds every step)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from handpose_core.project import Project

    from ..main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    tmp = tempfile.TemporaryDirectory(prefix="handpose-bench-painting-")
    folder = Path(tmp.name)
    project = Project.open(project_dir) if project_dir else _tiny_project(folder)
    win = MainWindow(settings=QSettings(str(folder / "s.ini"), QSettings.IniFormat))
    try:
        win.resize(1560, 920)
        win.show()
        win.session.open_project(project)
        t0 = time.perf_counter()  # f_s loads and predicts in a worker: let it finish first
        while win.session.predictor is None and time.perf_counter() - t0 < 120:
            app.processEvents()
            time.sleep(0.01)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 1.0:
            app.processEvents()
            time.sleep(0.01)
        win.tabs.setCurrentWidget(win.labelling)
        fid = project.eval_set()[0] if project.eval_set() else project.frames()[0].id
        win.session.set_frame(fid)
        for _ in range(20):
            app.processEvents()
        panel = win.labelling
        canvas, ed = panel.canvas, panel.editor
        vp = canvas.viewport()
        y0, x0, y1, x1 = ed.region
        w, h = x1 - x0, y1 - y0
        panel.set_part(6)

        def at(t):  # a zig-zag over the middle of the crop box, ~2 px per step
            return (x0 + w * (0.25 + 0.5 * ((t * 3.0 / w) % 1.0)),
                    y0 + h * (0.3 + 0.4 * abs(((t * 3.0 / w) % 2.0) - 1.0)))

        QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, canvas.frame_to_widget(*at(0)))
        vp.repaint()
        wall, cpu = [], []
        for i in range(1, n_steps + 1):
            pos = canvas.frame_to_widget(*at(i))
            c0, t0 = time.thread_time(), time.perf_counter()
            QTest.mouseMove(vp, pos)
            vp.repaint()
            wall.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
        t0 = time.perf_counter()
        QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, canvas.frame_to_widget(*at(n_steps)))
        first_save = time.perf_counter() - t0
        painted = int(ed.labels[y0:y1, x0:x1].astype(bool).sum())
        saves = []
        for k in range(n_strokes):
            x, y = x0 + w * (0.3 + 0.4 * k / max(n_strokes, 1)), y0 + h * 0.5
            QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, canvas.frame_to_widget(x, y))
            QTest.mouseMove(vp, canvas.frame_to_widget(x + 4, y + 2))
            t0 = time.perf_counter()
            QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, canvas.frame_to_widget(x + 6, y))
            saves.append(time.perf_counter() - t0)
        strokes = ed.strokes
        t = np.asarray(wall) * 1000.0
        c = np.asarray(cpu) * 1000.0
        s = np.asarray(saves + [first_save]) * 1000.0
        return {
            "steps": len(t), "median_ms": round(float(np.median(t)), 3),
            "p95_ms": round(float(np.percentile(t, 95)), 3),
            "mean_ms": round(float(t.mean()), 3), "max_ms": round(float(t.max()), 3),
            "target_median_ms": TARGET_MEDIAN_MS,
            "meets_target": bool(np.median(t) <= TARGET_MEDIAN_MS),
            "gui_cpu_median_ms": round(float(np.median(c)), 3),
            "gui_cpu_p95_ms": round(float(np.percentile(c, 95)), 3),
            "stroke_save_median_ms": round(float(np.median(s)), 2),
            "stroke_save_p95_ms": round(float(np.percentile(s, 95)), 2),
            "strokes_saved": int(strokes), "pixels_painted": painted,
            "brush_px": int(panel.size_spin.value()), "region_px": [int(w), int(h)],
            "canvas_px": [vp.width(), vp.height()], "qpa": app.platformName(),
            "load_average_1min": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count(),
            "steps_ms": [round(float(x), 3) for x in t],
        }
    finally:
        win.close()
        tmp.cleanup()


def print_result(r: dict) -> None:
    print(f"brush step (apply + repaint) over {r['steps']} steps ({r['qpa']}, canvas "
          f"{r['canvas_px'][0]}x{r['canvas_px'][1]} px showing {r['region_px'][0]}x"
          f"{r['region_px'][1]} frame px): median {r['median_ms']:.2f} ms, p95 {r['p95_ms']:.2f} "
          f"ms, max {r['max_ms']:.2f} ms (target median <= {TARGET_MEDIAN_MS:.0f} ms: "
          f"{'met' if r['meets_target'] else 'NOT met'}); GUI-thread CPU median "
          f"{r['gui_cpu_median_ms']:.2f} ms; saving a stroke (PNG + store row, fsync) median "
          f"{r['stroke_save_median_ms']:.1f} ms, p95 {r['stroke_save_p95_ms']:.1f} ms; load "
          f"average {r['load_average_1min']} on {r['cpu_count']} cores")
