"""``handpose-studio bench gui``: how long the studio takes to switch frames.

Opens the real main window (offscreen when there is no display) on a project, waits for
f_s to load and for the f_s maps of the frames it will show (the background sweep of a
project of at most ``SWEEP_MAX`` frames; the frames switched through in a larger one,
asked for as browsing asks for them; ``--no-wait`` times the switches while the
prediction worker still runs), then selects ``--frames`` frames one after another through the browser
exactly as a click or an arrow key does, and times each switch until every visible panel
has been updated and repainted (the frame's data is read, f_s run when the restore stage
has not stored a map, images and overlays set, pending paint events processed). Every
frame is visited once, so nothing comes from the per-frame cache; the data of the next
rows is read by the studio's read-ahead worker while the current frame is shown, as when a
person presses an arrow key (``read_ahead_taken`` counts them; a switch whose frame is
still being read waits for it). Target: median <= 30 ms, p95 <= 60 ms.

Then (unless ``--no-actions``) the browser's actions are timed in the same window
(:mod:`app.bench.actions`: each sort, each filter, jump to an id, PageDown), and the
result adds the time from opening the project to its first frame shown and the
process's resident memory (``rss_mb_*``, ``peak_rss_mb``).

Other helpers add scenarios by appending to :data:`SCENARIOS` (an option added in
:func:`add_arguments`, and a setup ``fn(args, window) -> teardown or None`` run before
timing).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

TARGET_MEDIAN_MS = 30.0
TARGET_P95_MS = 60.0

SCENARIOS: list[Callable] = []
"""Setups run (in order) after the project opened and before timing; each returns a
teardown callable or None."""


def add_arguments(parser) -> None:
    parser.add_argument("--frames", type=int, default=200, help="frames to switch through (200)")
    parser.add_argument("--project", default=None,
                        help="project directory (default: a small demo project rendered into a "
                        "temporary folder)")
    parser.add_argument("--tab", default="Compare",
                        help="centre tab shown while switching (Compare)")
    parser.add_argument("--pause-ms", type=float, default=0.0,
                        help="idle time between switches, as when a person browses (0: back to "
                        "back, the worst case; 100 is ten frames a second)")
    parser.add_argument("--no-wait", action="store_true",
                        help="start timing as soon as f_s is loaded, while the background "
                        "prediction of the project's frames still runs")
    parser.add_argument("--table-rows", type=int, default=0, metavar="N",
                        help="instead: time the frame table (load, filters, sort, one-row "
                        "refresh) over a store of N frames (NYU train: 72757)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--during-training", action="store_true",
                        help="instead: the event loop's longest stall and p99 while the training "
                        "panel runs a short pre-train f_s (app/bench/training.py)")
    parser.add_argument("--painting", action="store_true",
                        help="instead: time one brush step in the labelling mode, applied and "
                        "repainted (--steps of them; app/bench/painting.py)")
    parser.add_argument("--steps", type=int, default=200, help="brush steps with --painting (200)")
    parser.add_argument("--evaluation", action="store_true",
                        help="instead: time the Evaluation tab's Compute over the project's "
                        "labelled test frames and the GUI's longest stall meanwhile "
                        "(app/bench/evaluation.py; needs --project)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="times each browser action (sort, filter, jump) is timed (5)")
    parser.add_argument("--pages", type=int, default=50, help="PageDown presses timed (50)")
    parser.add_argument("--no-actions", action="store_true",
                        help="time the frame switch only, not the browser's actions")


def _demo_project(folder: Path, frames: int, progress=None):
    from handpose_core.project import create_demo_project

    return create_demo_project(folder / "demo", n_train=max(frames, 1), n_test=8,
                               progress=progress)


def _wait(app, cond, timeout_s: float) -> bool:
    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > timeout_s:
            return False
        app.processEvents()
        time.sleep(0.005)
    return True


def _predicted(pred, frame_id: int, restored: set[int]) -> bool:
    """Whether the maps the studio shows for ``frame_id`` are predicted: raw f_s unless the
    restore stage stored one, the fine-tuned f_s where there is one."""
    raw = frame_id in restored or not pred.has_model("raw") or \
        pred.lookup("raw", frame_id) is not None
    return raw and (not pred.has_model("fine") or pred.lookup("fine", frame_id) is not None)


def measure(window, frame_ids, app, pause_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(wall seconds, GUI-thread CPU seconds)`` per frame switch, selecting each of
    ``frame_ids`` in the browser in turn. The CPU time excludes waiting for cores that
    other processes (and the studio's prediction worker) hold."""
    wall, cpu = [], []
    for fid in frame_ids:
        c0, t0 = time.thread_time(), time.perf_counter()
        window.browser.select_frame(fid)
        app.processEvents()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        if window.session.frame_id != fid:
            raise RuntimeError(f"frame {fid} did not become current")
        if pause_s > 0:
            until = time.perf_counter() + pause_s
            _wait(app, lambda u=until: time.perf_counter() >= u, pause_s + 1)
    return np.asarray(wall), np.asarray(cpu)


def run(args) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if getattr(args, "during_training", False):
        from .training import measure_during_training, report

        report(measure_during_training(args.project, baseline_s=5.0), args.json)
        return 0
    if getattr(args, "painting", False):
        from .painting import measure_painting, print_result

        r = measure_painting(args.steps, args.project)
        if args.json:
            print(json.dumps({k: v for k, v in r.items() if k != "steps_ms"}, indent=2))
        else:
            print_result(r)
        return 0
    if getattr(args, "evaluation", False):
        if not args.project:
            print("bench gui --evaluation: --project DIR is required", file=sys.stderr)
            return 2
        from .evaluation import measure_evaluation

        res = measure_evaluation(args.project)
        res["load_average_1min"] = round(os.getloadavg()[0], 2)
        print(json.dumps(res, indent=2))
        return 0 if res["finished"] else 1
    from PySide6.QtWidgets import QApplication

    from handpose_core.progress import TerminalProgress
    from handpose_core.project import Project

    from ..main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    if args.table_rows:
        from .table import measure_table

        res = measure_table(args.table_rows)
        res["load_average_1min"] = round(os.getloadavg()[0], 2)
        print(json.dumps(res, indent=2) if args.json else
              "\n".join(f"{k:28s} {v}" for k, v in res.items()))
        return 0
    from .actions import measure_actions, rss_mb

    tmp = None
    rss_start = rss_mb()
    t_start, cpu_start = time.perf_counter(), time.thread_time()
    if args.project:
        project = Project.open(args.project)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="handpose-bench-gui-")
        project = _demo_project(Path(tmp.name), args.frames,
                                None if args.json else TerminalProgress("demo project"))
    settings_dir = tempfile.TemporaryDirectory(prefix="handpose-bench-gui-settings-")
    from PySide6.QtCore import QSettings

    win = MainWindow(settings=QSettings(str(Path(settings_dir.name) / "s.ini"), QSettings.IniFormat))
    win.show()
    t_open, cpu_open = time.perf_counter(), time.thread_time()
    win.session.open_project(project)
    app.processEvents()
    if not _wait(app, lambda: win.session.frame_id is not None, 60):
        print("bench gui: no frame shown within 60 s of opening", file=sys.stderr)
        return 1
    first_frame_s = time.perf_counter() - (t_start if args.project else t_open)
    first_frame_cpu_s = time.thread_time() - (cpu_start if args.project else cpu_open)
    # a large project's table rows arrive after its first frame (browser.ROWS_IN_WORKER_ABOVE)
    if not _wait(app, lambda: win.browser.rows_ready, 120):
        print("bench gui: the frame table's rows did not arrive within 120 s", file=sys.stderr)
        return 1
    rows_ready_s = time.perf_counter() - (t_start if args.project else t_open)
    if not _wait(app, lambda: win.session.predictor is not None, 120):
        print("bench gui: f_s did not load within 120 s", file=sys.stderr)
        return 1
    load_s = time.perf_counter() - t_open
    from ..workers.prediction import SWEEP_MAX

    n_frames = win.browser.model.rowCount()
    todo = n_frames - project.n_restorations()
    pred = win.session.predictor
    todo_fine = n_frames if pred.has_model("fine") else 0
    ids = win.browser.visible_ids()
    first = win.session.frame_id
    ids = [i for i in ids if i != first][:args.frames]
    # the background sweep predicts every frame (raw: those not restored) of a project
    # of at most SWEEP_MAX frames; a larger one predicts only the frames asked for, so
    # there the bench asks for the frames it will switch through and waits for those:
    # either way the switches are timed with their maps predicted and the prediction
    # worker idle (--no-wait times them while it works)
    if not args.no_wait and n_frames <= SWEEP_MAX:
        _wait(app, lambda: pred.count("raw") >= todo and pred.count("fine") >= todo_fine, 600)
    elif not args.no_wait:
        restored_ids = set(project.restorations())
        win.session.prediction_queue.request(ids)
        _wait(app, lambda: all(_predicted(pred, i, restored_ids) for i in ids), 600)
    sweep_s = time.perf_counter() - t_open
    restored_ids = set(project.restorations())
    predicted_before = sum(_predicted(pred, i, restored_ids) for i in ids)
    for i in range(win.tabs.count()):
        if win.tabs.tabText(i) == args.tab:
            win.tabs.setCurrentIndex(i)
    teardowns = [t for t in (setup(args, win) for setup in SCENARIOS) if t]
    if len(ids) < args.frames:
        print(f"bench gui: only {len(ids)} frames to switch through", file=sys.stderr)
    taken0 = win.session.read_ahead.taken
    try:
        t, cpu = measure(win, ids, app, args.pause_ms / 1000.0)
        t, cpu = t * 1000.0, cpu * 1000.0
    except BaseException:
        win.close()  # cancels and waits for the workers before the interpreter unwinds
        raise
    finally:
        for td in teardowns:
            td()
    rss_switched = rss_mb()
    read_ahead_taken = int(win.session.read_ahead.taken - taken0)
    actions = {} if args.no_actions else measure_actions(win, app, args.repeats, args.pages)
    restored = sum(win.session.frame_data(i).restoration is not None for i in ids[:50])
    finetuned = sum(win.session.frame_data(i).finetuned_labels is not None for i in ids[:50])
    result = {
        "frames": len(ids), "project": str(project.root),
        "median_ms": round(float(np.median(t)), 2), "p95_ms": round(float(np.percentile(t, 95)), 2),
        "mean_ms": round(float(t.mean()), 2), "max_ms": round(float(t.max()), 2),
        "target_median_ms": TARGET_MEDIAN_MS, "target_p95_ms": TARGET_P95_MS,
        "meets_target": bool(np.median(t) <= TARGET_MEDIAN_MS and
                             np.percentile(t, 95) <= TARGET_P95_MS),
        "gui_cpu_median_ms": round(float(np.median(cpu)), 2),
        "gui_cpu_p95_ms": round(float(np.percentile(cpu, 95)), 2),
        "load_average_1min": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count(),
        "f_s_load_s": round(load_s, 2), "predicted_all_s": round(sweep_s, 2),
        "waited_for_predictions": (not args.no_wait) and (
            "every frame" if n_frames <= SWEEP_MAX else "the frames switched through"),
        "switched_frames_predicted_before": int(predicted_before),
        "pause_ms": args.pause_ms, "tab": args.tab,
        "restored_in_first_50": int(restored), "finetuned_in_first_50": int(finetuned),
        "read_ahead_taken": read_ahead_taken,
        "window": [win.width(), win.height()], "qpa": app.platformName(),
        "project_frames": n_frames,
        "first_frame_s": round(first_frame_s, 3),
        "first_frame_gui_cpu_s": round(first_frame_cpu_s, 3),
        "table_rows_ready_s": round(rows_ready_s, 3),
        "first_frame_from": "Project.open" if args.project else "open_project (demo made first)",
        "rss_mb_before_open": rss_start.get("rss_mb"),
        "rss_mb_after_switches": rss_switched.get("rss_mb"),
        "rss_mb_end": rss_mb().get("rss_mb"), "peak_rss_mb": rss_mb().get("peak_rss_mb"),
        "memory_end": rss_mb(), "memory_after_switches": rss_switched,
        "actions": actions,
    }
    win.close()
    if tmp is not None:
        tmp.cleanup()
    settings_dir.cleanup()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"frame switch over {result['frames']} frames ({result['qpa']}, {args.tab} tab, "
              f"{args.pause_ms:.0f} ms between switches): "
              f"median {result['median_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms, "
              f"max {result['max_ms']:.1f} ms (target median <= {TARGET_MEDIAN_MS:.0f}, "
              f"p95 <= {TARGET_P95_MS:.0f}: {'met' if result['meets_target'] else 'NOT met'}); "
              f"GUI-thread CPU median {result['gui_cpu_median_ms']:.1f} ms, p95 "
              f"{result['gui_cpu_p95_ms']:.1f} ms; load average {result['load_average_1min']} on "
              f"{result['cpu_count']} cores")
        print(f"{n_frames} frames: first frame shown after {result['first_frame_s']:.2f} s; "
              f"resident memory {result['rss_mb_end']} MB (peak {result['peak_rss_mb']} MB)")
        for name, a in actions.items():
            print(f"  {name:28s} median {a['median_ms']:8.1f} ms   p95 {a['p95_ms']:8.1f} ms")
    return 0


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="handpose-studio bench gui", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
