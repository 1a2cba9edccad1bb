"""The GUI-stall recorder of ``bench gui --evaluation`` (app/bench/stalls.py): a gap in
the GUI thread's ticks is measured, split into its own CPU and the rest, and filed with
the stacks dumped while it lasted, the GUI thread's and another thread's holding the GIL."""

from __future__ import annotations

import threading
import time

from app.bench.stalls import StallRecorder, parse_dump


def _hold_the_gui(s: float) -> None:
    time.sleep(s)  # blocked, not computing: no GUI-thread CPU


def _spin_with_the_gil(s: float, started: threading.Event) -> None:
    started.set()
    t = time.perf_counter()
    while time.perf_counter() - t < s:  # pure Python: holds the GIL but for switches
        pass


def _pump(qapp, s: float) -> None:
    t = time.perf_counter()
    while time.perf_counter() - t < s:
        qapp.processEvents()
        time.sleep(0.002)


def test_a_stall_is_measured_and_filed_with_the_gui_threads_stack(qapp):
    rec = StallRecorder(tick_ms=10, stall_ms=150.0, note=lambda: "phase x")
    t0 = time.perf_counter()
    rec.start()
    try:
        _pump(qapp, 0.15)
        _hold_the_gui(0.45)
        _pump(qapp, 0.15)
    finally:
        rec.stop()
    r = rec.report(t0, longest=2)
    top = r["longest_gaps"][0]
    assert r["gap_max_ms"] == top["gap_ms"] and 430 <= top["gap_ms"] < 2000
    assert r["gaps_over_stall"] >= 1
    assert top["gui_cpu_ms"] < 0.5 * top["gap_ms"]  # sleeping, not computing
    assert top["phase"] == "phase x"
    assert "_hold_the_gui" in top["gui_stack"], top
    assert r["longest_gaps"][1]["gap_ms"] < top["gap_ms"]


def test_another_thread_holding_the_gil_shows_in_the_dump(qapp):
    rec = StallRecorder(tick_ms=10, stall_ms=150.0)
    started = threading.Event()
    t0 = time.perf_counter()
    rec.start()
    th = threading.Thread(target=_spin_with_the_gil, args=(0.6, started))
    try:
        _pump(qapp, 0.1)
        th.start()
        started.wait(5)
        _hold_the_gui(0.4)  # meanwhile the spinning thread runs
        _pump(qapp, 0.1)
    finally:
        th.join()
        rec.stop()
    top = rec.report(t0, longest=1)["longest_gaps"][0]
    assert any("_spin_with_the_gil" in w for w in top["other_threads"]), top


def test_parse_dump_reads_faulthandler_text():
    text = ('Thread 0x00007f0000000002 (most recent call first):\n'
            '  File "/a/b/c.py", line 3 in inner\n  File "/a/b/d.py", line 9 in outer\n\n'
            'Current thread 0x00007f0000000001 (most recent call first):\n'
            '  File "/x/y.py", line 1 in <module>\n')
    d = parse_dump(text, depth=1)
    assert d == {0x7f0000000002: "b/c.py:3 inner", 0x7f0000000001: "x/y.py:1 <module>"}
