"""``handpose-studio bench gui --during-training``: is the studio responsive while a stage trains?

Shows the training panel on a project (offscreen when there is no display), starts a
real stage through it exactly as its Run button does (pre-train f_s on small settings
by default: rendering its synthetic stores, training, evaluating), and meanwhile lets a
QTimer tick every ``tick_ms`` on the GUI thread. The gaps between ticks are the event
loop's latency: the longest gap and its 99th percentile are what a user would feel as a
frozen window. Target: longest stall (gap) <= 100 ms.

The stage runs with ``threads`` torch threads (the studio's default is one, leaving the
GUI thread a core on a 2-core machine); pass another number to compare.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_STALL_MS = 100.0
BENCH_SETTINGS = {"samples": "256", "test_samples": "64", "run_name": "bench-during-training",
                  "restart": True, "train.epochs": "2", "train.batch_size": "32",
                  "train.more": "log_every=1"}


def _tiny_project(folder: Path, frames: int = 4):
    from handpose_core.project import Project
    from handpose_core.render import write_nyu_layout

    write_nyu_layout(folder / "nyu", frames, split="train", seed=11)
    return Project.create(folder / "proj", folder / "nyu", kind="nyu")


def measure_during_training(project_dir: str | os.PathLike | None = None, *,
                            stage: str = "pretrain-seg", settings: dict | None = None,
                            threads: int | None = None, tick_ms: int = 5,
                            baseline_s: float = 0.0, warm_up: bool = True,
                            timeout_s: float = 900.0) -> dict:
    """Run ``stage`` from the training panel and time the GUI thread's event loop.

    ``project_dir``: an existing project (default: a 4-frame NYU-layout project in a
    temporary folder); ``settings``: form values by field name (``"train.epochs"`` for
    the nested training config; default :data:`BENCH_SETTINGS` for pre-train f_s);
    ``threads``: torch threads of the run (default: the studio's); ``baseline_s`` > 0
    first times the idle event loop that long (the machine's own noise); ``warm_up``
    waits for the panel's start-up warm-up (as a user who opens the studio and then
    presses Run does; False starts at once and times that too). Returns a dict with
    ``longest_stall_ms`` (the longest gap between ticks), ``p99_gap_ms``,
    ``median_gap_ms``, ``ticks``, ``run_s``, the stage's outcome and the machine's load."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QCheckBox

    from handpose_core.project import Project

    from ..models.session import Session
    from ..views.training import WARM_UP, TrainingPanel
    from ..workers.stage_task import STUDIO_TORCH_THREADS

    app = QApplication.instance() or QApplication(sys.argv[:1])
    tmp = None
    if project_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="handpose-bench-training-")
        project = _tiny_project(Path(tmp.name))
    else:
        project = Project.open(project_dir)
    session = Session()
    session.open_project(project)
    panel = TrainingPanel(session)
    panel.resize(1100, 720)
    panel.show()
    threads = STUDIO_TORCH_THREADS if threads is None else int(threads)
    panel.torch_threads = threads
    form = panel.forms[stage]
    values = dict(BENCH_SETTINGS if settings is None and stage == "pretrain-seg" else settings or {})
    if "train.num_threads" not in values and _has_editor(form, "train.num_threads"):
        values["train.num_threads"] = str(threads)
    for name, value in values.items():
        w = form.editor(name)
        w.setChecked(bool(value)) if isinstance(w, QCheckBox) else w.setText(str(value))
    t_wait = time.perf_counter()
    while (session.runner.busy("load f_s") or (warm_up and session.runner.busy(WARM_UP))) \
            and time.perf_counter() - t_wait < 120:
        app.processEvents()
        time.sleep(0.005)
    ticks: list[tuple[float, float, str]] = []  # wall time, GUI-thread CPU time, message
    timer = QTimer()
    timer.setInterval(tick_ms)
    timer.timeout.connect(lambda: ticks.append((time.perf_counter(), time.thread_time(),
                                                panel.message_label.text())))
    if baseline_s > 0:  # the same timer with nothing running: the machine's own noise
        timer.start()
        t_b = time.perf_counter()
        while time.perf_counter() - t_b < baseline_s:
            app.processEvents()
            time.sleep(0.001)
        timer.stop()
        base = np.diff(np.asarray([t[0] for t in ticks])) * 1000.0
        ticks.clear()
    outcome = {}
    load0 = os.getloadavg()[0]
    timer.start()
    t0 = time.perf_counter()
    if not panel.start(stage):
        raise RuntimeError(f"{stage} did not start: {panel.error_dialog and panel.error_dialog.text()}")
    worker = panel.worker
    worker.succeeded.connect(lambda _r: outcome.setdefault("state", "completed"))
    worker.failed.connect(lambda m: outcome.update(state="failed", error=m))
    worker.cancelled.connect(lambda: outcome.setdefault("state", "cancelled"))
    while panel.busy() and time.perf_counter() - t0 < timeout_s:
        app.processEvents()
        time.sleep(0.001)
    run_s = time.perf_counter() - t0
    timer.stop()
    if panel.busy():
        panel.cancel()
        while panel.busy():
            app.processEvents()
            time.sleep(0.01)
        outcome.setdefault("state", "timed out")
    while session.runner.busy("load f_s"):  # the new f_s loading
        app.processEvents()
        time.sleep(0.005)
    wall = np.asarray([t[0] for t in ticks])
    cpu = np.asarray([t[1] for t in ticks])
    gaps = np.diff(wall) * 1000.0
    gap_cpu = np.diff(cpu) * 1000.0
    worst = [{"gap_ms": round(float(gaps[i]), 1), "gui_cpu_ms": round(float(gap_cpu[i]), 1),
              "at_s": round(float(wall[i] - t0), 2), "message": ticks[i][2]}
             for i in np.argsort(gaps)[::-1][:5]] if gaps.size else []
    curve_points = len(panel.curves.train_loss)
    session.shutdown()
    panel.close()
    if tmp is not None:
        tmp.cleanup()
    longest = float(gaps.max()) if gaps.size else float("nan")
    return {
        "stage": stage, "settings": values, "torch_threads": threads, "tick_ms": tick_ms,
        "waited_for_warm_up": warm_up,
        "outcome": outcome.get("state", "unknown"), "error": outcome.get("error"),
        "run_s": round(run_s, 2), "ticks": int(len(ticks)),
        "longest_stall_ms": round(longest, 1),
        "p99_gap_ms": round(float(np.percentile(gaps, 99)), 1) if gaps.size else None,
        "median_gap_ms": round(float(np.median(gaps)), 2) if gaps.size else None,
        "gaps_over_50ms": int((gaps > 50).sum()), "worst_gaps": worst,
        "idle_baseline": None if baseline_s <= 0 else {
            "seconds": baseline_s, "longest_gap_ms": round(float(base.max()), 1),
            "p99_gap_ms": round(float(np.percentile(base, 99)), 1)},
        "curve_points": curve_points,
        "target_stall_ms": TARGET_STALL_MS, "meets_target": bool(longest <= TARGET_STALL_MS),
        "load_average_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
        "cpu_count": os.cpu_count(), "qpa": app.platformName(),
    }


def _has_editor(form, name: str) -> bool:
    try:
        form.editor(name)
    except KeyError:
        return False
    return True


def report(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    print(f"GUI event loop during '{result['stage']}' ({result['outcome']}, {result['run_s']:.0f} s, "
          f"{result['torch_threads']} torch thread(s), {result['qpa']}): longest stall "
          f"{result['longest_stall_ms']:.0f} ms, p99 {result['p99_gap_ms']} ms, median "
          f"{result['median_gap_ms']} ms over {result['ticks']} ticks of {result['tick_ms']} ms "
          f"(target <= {TARGET_STALL_MS:.0f} ms: {'met' if result['meets_target'] else 'NOT met'}); "
          f"load average {result['load_average_1min']} on {result['cpu_count']} cores")


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m app.bench.training",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--project", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--baseline", type=float, default=0.0)
    parser.add_argument("--no-warm-up", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report(measure_during_training(args.project, threads=args.threads, baseline_s=args.baseline,
                                  warm_up=not args.no_warm_up),
           args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
