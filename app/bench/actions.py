"""The browser's actions timed in the real main window (``bench gui --project DIR``):
each sort (every column, both orders), each filter, jump to an id, PageDown through the
list, with the studio's resident memory; used beside the frame switch of
:mod:`app.bench.gui`.

Every action is timed from the call that a click or key makes to the end of the event
processing it causes (the table repainted, the current frame switched and shown when the
action moves it), ``repeats`` times; the result gives the median and the 95th percentile
in milliseconds, of the wall time and of the GUI thread's CPU time (on a loaded machine
the wall time is mostly waiting for a core).
"""

from __future__ import annotations

import time

import numpy as np

_STATUS_KEYS = {"VmRSS:": "rss_mb", "VmHWM:": "peak_rss_mb", "RssAnon:": "anon_mb",
                "RssFile:": "file_mb"}


def rss_mb() -> dict:
    """``{"rss_mb": now, "peak_rss_mb": high-water mark, "anon_mb": the process's own
    memory, "file_mb": file pages mapped (memory-mapped crop caches, libraries: page
    cache the system can drop)}`` of this process (Linux /proc/self/status; empty
    elsewhere)."""
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key = _STATUS_KEYS.get(line.split(" ", 1)[0].split("\t", 1)[0])
                if key:
                    out[key] = round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    return out


_CPU: list[float] = []  # GUI-thread CPU ms of each _timed call since the last _stats


def _stats(ms: list[float]) -> dict:
    a, c = np.asarray(ms, float), np.asarray(_CPU[-len(ms):], float)
    _CPU.clear()
    return {"median_ms": round(float(np.median(a)), 2),
            "p95_ms": round(float(np.percentile(a, 95)), 2), "n": len(a),
            "cpu_median_ms": round(float(np.median(c)), 2),
            "cpu_p95_ms": round(float(np.percentile(c, 95)), 2)}


def _timed(app, fn) -> float:
    """Wall ms of ``fn()`` and the events it causes; the GUI thread's CPU ms (which
    leaves out waiting for cores other processes hold) goes to ``_CPU``."""
    c, t = time.thread_time(), time.perf_counter()
    fn()
    app.processEvents()
    _CPU.append((time.thread_time() - c) * 1000.0)
    return (time.perf_counter() - t) * 1000.0


def measure_actions(win, app, repeats: int = 5, pages: int = 50, seed: int = 0) -> dict:
    """Median / p95 (ms) of each browser action in ``win`` (a shown MainWindow with a
    project open); leaves the list in id order, all frames shown."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from ..models.frame_table import COLUMNS, FILTERS

    browser = win.browser
    table = browser.table
    out: dict = {}
    _CPU.clear()
    for col, name in enumerate(COLUMNS):
        for order, tag in ((Qt.DescendingOrder, "desc"), (Qt.AscendingOrder, "asc")):
            ms = []
            for _ in range(repeats):
                # by another column first (not timed), so that each timed sort sorts
                table.sortByColumn((col + 1) % len(COLUMNS), Qt.AscendingOrder)
                app.processEvents()
                ms.append(_timed(app, lambda c=col, o=order: table.sortByColumn(c, o)))
            out[f"sort_{name}_{tag}"] = _stats(ms)
    table.sortByColumn(0, Qt.AscendingOrder)
    for key in FILTERS:
        ms = []
        for _ in range(repeats):
            browser.set_filter("accepted" if key == "all" else "all")  # not timed
            app.processEvents()
            ms.append(_timed(app, lambda k=key: browser.set_filter(k)))
        out[f"filter_{key}"] = _stats(ms) | {"rows": browser.proxy.rowCount()}
    browser.set_filter("all")
    table.sortByColumn(0, Qt.AscendingOrder)
    app.processEvents()
    ids = browser.proxy.frame_ids()
    rng = np.random.default_rng(seed)
    ms = []
    for fid in rng.choice(ids, size=min(len(ids), max(repeats, 10)), replace=False):
        def jump(f=int(fid)):
            browser.jump_edit.setText(str(f))
            browser.jump_edit.returnPressed.emit()
        ms.append(_timed(app, jump))
        if win.session.frame_id != int(fid):
            raise RuntimeError(f"jump to {fid} did not show it")
    out["jump_to_id"] = _stats(ms)
    browser.select_frame(int(ids[0]))
    app.processEvents()
    table.setFocus()
    ms = []
    for _ in range(pages):
        ms.append(_timed(app, lambda: QTest.keyClick(table.viewport(), Qt.Key_PageDown)))
    out["page_down"] = _stats(ms) | {"rows_moved": browser.proxy.row_of(win.session.frame_id)}
    return out
