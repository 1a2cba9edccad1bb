"""The studio monkey: the real main window driven by seeded random key and mouse events.

Each action is drawn from a seeded RNG and sent as real events (``qtbot.keyClick``,
``mousePress`` / ``mouseMove`` / ``mouseRelease`` on the widgets the user would touch):
frame switches (table clicks, arrow and page keys), filters, sorting by header clicks,
A / R / C, undo / redo, brush and eraser strokes, fills, Escape mid-stroke, "start from",
the Done box, tab switches, Restore this frame (Ctrl+R) and restore-stage runs and cancels
in the Training tab. After every action an oracle compares what the window shows with
what a fresh sqlite3 connection to ``project.sqlite`` and the label PNGs on disk hold,
checks that the undo stack's position matches the store, and that no exception reached
the event loop (``sys.excepthook``), no exception was logged and swallowed, no Qt
warning was printed and no error dialog opened. On failure the seed and the action log
are printed: ``MONKEY_SEED=S python -m pytest tests/app/test_monkey.py -k ci`` replays it.

The soak (``very_slow``) runs the same monkey for ``MONKEY_ACTIONS`` actions (default
20,000) and writes its figures (RSS over time, longest stall, actions per second) to
``MONKEY_STATS`` (JSON) when set.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt, QTimer, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QMessageBox

from app.commands.done import DoneCommand
from app.commands.override import OverrideCommand
from app.commands.paint import StrokeCommand
from handpose_core.datasets.labelio import read_label_png

SETTLE_S = 10.0  # the longest the window may take to show what the store holds
TABS = ("Compare", "Skeleton", "Training", "Labelling", "Evaluation")


class MonkeyFailure(AssertionError):
    pass


# ---------------------------------------------------------------------------- the store
def read_store(root: Path) -> dict:
    """What is on disk, through a fresh read-only connection: restorations (override,
    auto) and hand-label rows per frame."""
    conn = sqlite3.connect(f"file:{root / 'project.sqlite'}?mode=ro", uri=True, timeout=30)
    try:
        rest = {int(f): (None if o is None else bool(o), bool(a)) for f, o, a in conn.execute(
            "SELECT frame_id, override, auto_accept FROM restorations")}
        labels = {int(f): (p, int(s), bool(c)) for f, p, s, c in conn.execute(
            "SELECT frame_id, path, strokes, complete FROM hand_labels")}
        run = conn.execute("SELECT outcome FROM runs WHERE stage = 'restore' "
                           "ORDER BY id DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    return {"restorations": rest, "labels": labels, "restore_run": run and run[0]}


def disk_labels(root: Path, store: dict, frame_id: int) -> np.ndarray:
    row = store["labels"].get(frame_id)
    if row is None:
        return np.zeros((480, 640), np.uint8)
    return read_label_png(root / row[0])


# ---------------------------------------------------------------------------- guards
@dataclass
class Guard:
    """Everything that went wrong outside an assertion: exceptions that reached the
    event loop, exceptions logged and swallowed, Qt warnings, error dialogs."""

    problems: list[str] = field(default_factory=list)

    def install(self, monkeypatch, win) -> None:
        prev_hook = sys.excepthook

        def hook(tp, value, tb):
            import traceback

            self.problems.append("exception reached the event loop:\n" +
                                 "".join(traceback.format_exception(tp, value, tb)))
            prev_hook(tp, value, tb)

        monkeypatch.setattr(sys, "excepthook", hook)
        guard = self

        class _Handler(logging.Handler):
            def emit(self, record):
                if record.levelno >= logging.ERROR:
                    guard.problems.append(f"logged error: {self.format(record)}")

        handler = _Handler()
        logging.getLogger().addHandler(handler)
        self._handler = handler
        self._prev_qt = qInstallMessageHandler(self._qt_message)
        win.session.error_raised.connect(lambda m: self.problems.append(f"error_raised: {m}"))
        win.frame_actions.failed.connect(lambda m: self.problems.append(f"restore failed: {m}"))

    def _qt_message(self, mode, context, message):
        if "propagateSizeHints" in message:  # the offscreen platform's notice, not ours
            return
        self.problems.append(f"Qt message ({mode}): {message}")

    def uninstall(self) -> None:
        logging.getLogger().removeHandler(self._handler)
        qInstallMessageHandler(self._prev_qt)

    def dialogs(self) -> list[str]:
        return [f"dialog open: {w.windowTitle()}: {w.text()}"
                for w in QApplication.topLevelWidgets()
                if isinstance(w, QMessageBox) and w.isVisible()]


# ---------------------------------------------------------------------------- the monkey
class Monkey:
    def __init__(self, qtbot, win, seed: int):
        self.qtbot, self.win, self.seed = qtbot, win, seed
        self.rng = random.Random(seed)
        self.root = Path(win.session.project.root)
        self.log: list[str] = []
        self.counts: dict[str, int] = {}
        self.stalls_max = (0.0, "")
        self.max_gap = (0.0, "")
        self.settle_max = (0.0, "")
        self._hb_last = time.perf_counter()
        self._hb_label = "start"
        self._hb = QTimer()
        self._hb.setInterval(5)
        self._hb.timeout.connect(self._beat)
        self._hb.start()
        self.actions = [
            (8, self.click_row), (8, self.nav_key), (3, self.filter_key), (3, self.sort_click),
            (6, self.decide_key), (8, self.undo_key), (5, self.redo_key),
            (5, self.tab_click), (10, self.stroke), (3, self.fill), (2, self.escape_stroke),
            (2, self.start_from), (2, self.done_click), (3, self.tool_keys),
            (1, self.restore_frame_key), (2, self.stage_run), (2, self.stage_cancel),
        ]
        self._weights = [w for w, _ in self.actions]

    # -- timing
    def _beat(self) -> None:
        now = time.perf_counter()
        gap = now - self._hb_last
        if gap > self.max_gap[0]:
            self.max_gap = (gap, self._hb_label)
        self._hb_last = now

    def stop(self) -> None:
        self._hb.stop()

    # -- helpers
    @property
    def s(self):
        return self.win.session

    def focus_target(self):
        w = QApplication.focusWidget()
        return w if w is not None and w.window() is self.win else self.win.browser.table

    def current_tab(self) -> str:
        return self.win.tabs.tabText(self.win.tabs.currentIndex())

    def key(self, k, mods=Qt.NoModifier, widget=None):
        self.qtbot.keyClick(widget or self.focus_target(), k, mods)

    # -- actions (each returns a short description, or None when it did not apply)
    def click_row(self):
        b = self.win.browser
        n = b.proxy.rowCount()
        if not n:
            return None
        row = self.rng.randrange(n)
        idx = b.proxy.index(row, self.rng.randrange(b.proxy.columnCount()))
        b.table.scrollTo(idx)
        rect = b.table.visualRect(idx)
        self.qtbot.mouseClick(b.table.viewport(), Qt.LeftButton, pos=rect.center())
        return f"click row {row}"

    def nav_key(self):
        k = self.rng.choice([Qt.Key_Down, Qt.Key_Up, Qt.Key_PageDown, Qt.Key_PageUp,
                             Qt.Key_Home, Qt.Key_End])
        self.win.browser.table.setFocus()
        self.key(k, widget=self.win.browser.table)
        return f"table key {Qt.Key(k).name}"

    def filter_key(self):
        box = self.win.browser.filter_box
        k = Qt.Key_Down if self.rng.random() < 0.5 else Qt.Key_Up
        if box.currentIndex() == 0:
            k = Qt.Key_Down
        elif box.currentIndex() == box.count() - 1:
            k = Qt.Key_Up
        self.key(k, widget=box)
        return f"filter {Qt.Key(k).name} -> {box.currentData()}"

    def sort_click(self):
        hh = self.win.browser.table.horizontalHeader()
        col = self.rng.randrange(hh.count())
        x = hh.sectionViewportPosition(col) + hh.sectionSize(col) // 2
        if not 0 <= x < hh.viewport().width():
            return None
        self.qtbot.mouseClick(hh.viewport(), Qt.LeftButton, pos=QPoint(x, hh.height() // 2))
        return f"sort by column {col}"

    def decide_key(self):
        k = self.rng.choice([Qt.Key_A, Qt.Key_R, Qt.Key_C])
        self.key(k)
        return f"key {Qt.Key(k).name} on frame {self.s.frame_id}"

    def undo_key(self):
        self.key(Qt.Key_Z, Qt.ControlModifier)
        return f"Ctrl+Z (stack {self.s.undo_stack.index()}/{self.s.undo_stack.count()})"

    def redo_key(self):
        if self.rng.random() < 0.5:
            self.key(Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
            return f"Ctrl+Shift+Z (stack {self.s.undo_stack.index()}/{self.s.undo_stack.count()})"
        self.key(Qt.Key_Y, Qt.ControlModifier)
        return f"Ctrl+Y (stack {self.s.undo_stack.index()}/{self.s.undo_stack.count()})"

    def tab_click(self):
        bar = self.win.tabs.tabBar()
        # the Labelling tab most, where the paint actions apply
        i = self.rng.choice([0, 1, 2, 3, 3, 3, 4])
        self.qtbot.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(i).center())
        return f"tab {bar.tabText(i)}"

    def goto(self, tab: str) -> None:
        """Click ``tab``'s tab when it is not the current one (as a user would first)."""
        if self.current_tab() != tab:
            bar = self.win.tabs.tabBar()
            self.qtbot.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(TABS.index(tab)).center())
            self.log.append(f"   (tab {tab})")

    def _labelling(self):
        p = self.win.labelling
        self.goto("Labelling")
        return None if p.editor is None else p

    def _frame_point(self, p):
        y0, x0, y1, x1 = p.editor.region
        # mostly near the middle (the hand), sometimes anywhere in view or past its edge
        if self.rng.random() < 0.8:
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            return (cx + self.rng.uniform(-0.35, 0.35) * (x1 - x0),
                    cy + self.rng.uniform(-0.35, 0.35) * (y1 - y0))
        return (self.rng.uniform(x0 - 10, x1 + 10), self.rng.uniform(y0 - 10, y1 + 10))

    def _press_path(self, p, n_moves):
        c = p.canvas
        vp = c.viewport()
        pts = [self._frame_point(p)]
        for _ in range(n_moves):
            x, y = pts[-1]
            pts.append((x + self.rng.uniform(-15, 15), y + self.rng.uniform(-15, 15)))
        pos = [c.frame_to_widget(x, y) for x, y in pts]
        self.qtbot.mousePress(vp, Qt.LeftButton, pos=pos[0])
        for q in pos[1:]:
            self.qtbot.mouseMove(vp, q)
        return vp, pos

    def stroke(self):
        p = self._labelling()
        if p is None:
            return None
        tool = self.rng.choice([Qt.Key_B, Qt.Key_B, Qt.Key_B, Qt.Key_E])
        self.key(tool, widget=p.canvas)
        part = self.rng.randrange(1, 10)
        self.key(getattr(Qt, f"Key_{part}"), widget=p.canvas)
        vp, pos = self._press_path(p, self.rng.randrange(0, 6))
        self.qtbot.mouseRelease(vp, Qt.LeftButton, pos=pos[-1])
        return f"{p.tool} stroke part {p.part} on frame {p.editor.frame.id} ({len(pos)} points)"

    def fill(self):
        p = self._labelling()
        if p is None:
            return None
        self.key(getattr(Qt, f"Key_{self.rng.randrange(0, 10)}"), widget=p.canvas)
        self.key(Qt.Key_F, widget=p.canvas)
        vp, pos = self._press_path(p, 0)
        self.qtbot.mouseRelease(vp, Qt.LeftButton, pos=pos[-1])
        self.key(Qt.Key_B, widget=p.canvas)
        return f"fill part {p.part} on frame {p.editor.frame.id}"

    def escape_stroke(self):
        p = self._labelling()
        if p is None:
            return None
        self.key(Qt.Key_B, widget=p.canvas)
        vp, pos = self._press_path(p, self.rng.randrange(1, 4))
        self.key(Qt.Key_Escape, widget=p.canvas)
        self.qtbot.mouseRelease(vp, Qt.LeftButton, pos=pos[-1])
        return f"stroke dropped by Escape on frame {p.editor.frame.id}"

    def start_from(self):
        p = self._labelling()
        if p is None or not p.start_button.isEnabled():
            return None
        self.qtbot.mouseClick(p.start_button, Qt.LeftButton)
        return f"start from {p.start_combo.currentData()} on frame {p.editor.frame.id}"

    def done_click(self):
        p = self._labelling()
        if p is None:
            return None
        self.qtbot.mouseClick(p.done_box, Qt.LeftButton,
                              pos=QPoint(8, p.done_box.height() // 2))
        return f"Done box -> {p.done_box.isChecked()} on frame {p.editor.frame.id}"

    def tool_keys(self):
        p = self._labelling()
        if p is None:
            return None
        k = self.rng.choice([Qt.Key_BracketLeft, Qt.Key_BracketRight, Qt.Key_D, Qt.Key_I])
        self.key(k, widget=p.canvas)
        if k == Qt.Key_I:  # the picker: one click picks a part
            vp, pos = self._press_path(p, 0)
            self.qtbot.mouseRelease(vp, Qt.LeftButton, pos=pos[-1])
            self.key(Qt.Key_B, widget=p.canvas)
        return f"tool key {Qt.Key(k).name}"

    def restore_frame_key(self):
        self.key(Qt.Key_R, Qt.ControlModifier)
        return f"Ctrl+R (restore frame {self.s.frame_id})"

    def stage_run(self):
        t = self.win.training
        self.goto("Training")
        if not t.run_button.isEnabled():
            return None
        self.qtbot.mouseClick(t.run_button, Qt.LeftButton)
        return f"Run {t.selected_stage()}"

    def stage_cancel(self):
        t = self.win.training
        if not t.busy():
            return None
        self.goto("Training")
        if not t.cancel_button.isEnabled():
            return None
        self.qtbot.mouseClick(t.cancel_button, Qt.LeftButton)
        return "Cancel stage"

    # -- the loop
    def step(self, i: int) -> None:
        for _ in range(20):  # draw until an action applies in this state
            fn = self.rng.choices(self.actions, weights=self._weights)[0][1]
            t0 = time.perf_counter()
            self._hb_label = fn.__name__
            what = fn()
            dt = time.perf_counter() - t0
            if what is not None:
                break
        self.counts[fn.__name__] = self.counts.get(fn.__name__, 0) + 1
        self.log.append(f"{i}: {what}")
        if dt > self.stalls_max[0]:
            self.stalls_max = (dt, f"{i}: {what}")

    def check(self, guard: Guard, i: int) -> None:
        """The oracle, retried while the window catches up with the store (queued
        signals, the change feed's 250 ms poll), for at most SETTLE_S."""
        t0 = time.perf_counter()
        while True:
            self.qtbot.wait(1)  # let queued signals run
            problems = guard.problems + guard.dialogs()
            if problems:
                raise MonkeyFailure("\n".join(problems))
            try:
                oracle(self.win, self.root)
                break
            except MonkeyFailure:
                if time.perf_counter() - t0 > SETTLE_S:
                    raise
                self.qtbot.wait(20)
        dt = time.perf_counter() - t0
        if dt > self.settle_max[0]:
            self.settle_max = (dt, self.log[-1] if self.log else "")
        self._hb_last = time.perf_counter()  # the oracle's own time is not a stall

    def report(self) -> str:
        return (f"monkey seed {self.seed}; replay: MONKEY_SEED={self.seed} "
                f"python -m pytest tests/app/test_monkey.py\nlast actions:\n" +
                "\n".join(self.log[-60:]))


def _expect(fail: list, cond: bool, text: str) -> None:
    if not cond:
        fail.append(text)


def oracle(win, root: Path) -> None:
    """What the window shows and the undo stack's position, against the store on disk."""
    s = win.session
    store = read_store(root)
    fail: list[str] = []
    fid = s.frame_id
    _expect(fail, fid is not None, "no current frame")
    b = win.browser
    # the current frame: the selected row, the compare view and the quality panel
    row = b.proxy.row_of(fid)
    if row is not None:
        cur = b.table.selectionModel().currentIndex()
        _expect(fail, cur.isValid() and b.proxy.frame_id(cur.row()) == fid,
                f"frame {fid} is current but row {cur.row()} is selected")
    _expect(fail, f"Frame {fid}" in win.compare.info.text(),
            f"compare shows {win.compare.info.text()[:60]!r}, current frame {fid}")
    rec = store["restorations"].get(fid)
    text = win.quality.decision.text()
    if rec is None:
        _expect(fail, "Not restored yet" in text, f"frame {fid} has no restoration; quality "
                f"shows {text[:80]!r}")
    else:
        override, auto = rec
        want = ("Human override: none." if override is None else
                f"Human override: <b>{'accept' if override else 'reject'}</b>")
        in_force = override if override is not None else auto
        _expect(fail, want in text and
                f"{'accepted' if in_force else 'rejected'}</b>" in text.split("In force")[-1]
                and f"Automatic: {'accept' if auto else 'reject'}" in text,
                f"frame {fid}: store override {override} auto {auto}; quality shows {text!r}")
    # the frame table: every row's decisions
    m = b.model
    ids = m.column("id")
    ov, au = m.column("override"), m.column("auto")
    for k, f in enumerate(ids):
        r = store["restorations"].get(int(f))
        want_ov = -1 if r is None or r[0] is None else int(r[0])
        want_au = -1 if r is None else int(r[1])
        if ov[k] != want_ov or au[k] != want_au:
            fail.append(f"table row of frame {f}: override {ov[k]} auto {au[k]}; store "
                        f"{want_ov} {want_au}")
    _expect(fail, b.count_label.text().startswith(f"{b.proxy.rowCount():,} of {len(ids):,}"),
            f"count label {b.count_label.text()!r}, {b.proxy.rowCount()} rows shown")
    # the Training tab: once no stage runs, the restore row shows the last run's outcome
    t = win.training
    run = store["restore_run"]
    if not t.busy() and run in ("completed", "cancelled", "failed"):
        _expect(fail, t.state_text("restore").startswith(run),
                f"Training shows restore {t.state_text('restore')!r}; store's last run {run}")
    # the labelling panel: any open editor holds what is on disk; the canvas shows it
    p = win.labelling
    ed = p.editor
    if ed is not None:
        efid = ed.frame.id
        _expect(fail, not ed.stroke_active, f"a stroke is still open on frame {efid}")
        disk = disk_labels(root, store, efid)
        if not np.array_equal(disk, ed.labels):
            n = int((disk != ed.labels).sum())
            fail.append(f"labelling frame {efid}: {n} pixels differ from the PNG on disk")
        row_ = store["labels"].get(efid)
        strokes, complete = (row_[1], row_[2]) if row_ else (0, False)
        _expect(fail, ed.complete == complete and ed.strokes == strokes,
                f"editor of frame {efid}: complete {ed.complete} strokes {ed.strokes}; store "
                f"{complete} {strokes}")
        if p.isVisible():
            _expect(fail, efid == fid, f"labelling shows frame {efid}, current frame {fid}")
            _expect(fail, p.done_box.isChecked() == complete,
                    f"Done box {p.done_box.isChecked()}, store complete {complete} (frame {efid})")
            c = p.canvas
            y0, x0, y1, x1 = c.region
            _expect(fail, c._labels_view is not None and
                    np.shares_memory(c._labels_view, ed.labels) and
                    np.array_equal(c._labels_view, disk[y0:y1, x0:x1]),
                    f"canvas of frame {efid} does not show the editor's map")
            if c._labels_view is not None:
                before = c._rgb.copy()
                c._compose(None)
                _expect(fail, np.array_equal(before, c._rgb),
                        f"canvas image of frame {efid} is stale (not recomposed after a change)")
    elif p.isVisible():
        fail.append(f"labelling tab shown with no frame open (current {fid})")
    # the undo stack: each frame's state is its last applied command's, or the first
    # undone one's 'before'
    stack = s.undo_stack
    idx = stack.index()
    ov_state: dict[int, object] = {}
    done_state: dict[int, bool] = {}
    strokes_applied: dict[int, int] = {}
    last_patch: dict[int, tuple] = {}
    for i in range(stack.count()):  # the applied commands come first, then the undone
        c = stack.command(i)
        applied = i < idx
        if isinstance(c, OverrideCommand):
            if applied:
                ov_state[c.frame_id] = c.new
            else:
                ov_state.setdefault(c.frame_id, c.old)
        elif isinstance(c, DoneCommand):
            if applied:
                done_state[c.frame_id] = c.new
            else:
                done_state.setdefault(c.frame_id, c.old)
        elif isinstance(c, StrokeCommand):
            n = strokes_applied.setdefault(c.frame_id, 0)
            if applied:
                strokes_applied[c.frame_id] = n + 1
                last_patch[c.frame_id] = (c.patch, "after", i)
            else:
                last_patch.setdefault(c.frame_id, (c.patch, "before", i))
        else:
            fail.append(f"unknown command on the undo stack: {c.text()}")
    for f, want in ov_state.items():
        r = store["restorations"].get(f)
        got = None if r is None else r[0]
        _expect(fail, got == want, f"undo stack at {idx}/{stack.count()} says frame {f} "
                f"override {want}; store {got}")
    for f, want in done_state.items():
        row_ = store["labels"].get(f)
        _expect(fail, bool(row_ and row_[2]) == want,
                f"undo stack at {idx} says frame {f} done {want}; store {row_}")
    for f, n in strokes_applied.items():
        row_ = store["labels"].get(f)
        got = row_[1] if row_ else 0
        _expect(fail, got == n, f"undo stack at {idx} has {n} paint actions applied on frame "
                f"{f}; store strokes {got}")
    for f, (patch, side, i) in last_patch.items():
        disk = disk_labels(root, store, f)
        y0, x0, y1, x1 = patch.bbox
        want = patch.after if side == "after" else patch.before
        if not np.array_equal(disk[y0:y1, x0:x1], want):
            fail.append(f"frame {f}: command {i} ({stack.command(i).text()}, "
                        f"{'applied' if side == 'after' else 'undone'}) does not match the "
                        f"PNG in its box")
    if fail:
        raise MonkeyFailure("\n".join(fail))


# ---------------------------------------------------------------------------- running
def _prepare(qtbot, win) -> None:
    """A tiny restore run for the Training tab (limit 1, every split), typed into its form
    with real key events; the window active so its shortcuts apply."""
    t = win.training
    win.activateWindow()
    bar = win.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(TABS.index("Training")).center())
    item = t.items["restore"]
    t.table.scrollToItem(item)
    qtbot.mouseClick(t.table.viewport(), Qt.LeftButton,
                     pos=t.table.visualItemRect(item).center())
    assert t.selected_stage() == "restore"
    form = t.forms["restore"]
    for name, text in (("limit", "1"), ("split", "all")):
        ed = form.editor(name)
        if hasattr(ed, "selectAll"):
            ed.setFocus()
            ed.selectAll()
            qtbot.keyClick(ed, Qt.Key_Backspace)
            qtbot.keyClicks(ed, text)
        else:  # a choice box
            ed.setCurrentIndex(ed.findText(text))
    win.browser.table.setFocus()


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def run_monkey(qtbot, win, monkeypatch, seed: int, n_actions: int, *, rss_every: int = 0,
               seconds: float = float("inf")):
    """Drive ``win`` for ``n_actions`` seeded actions (fewer when ``seconds`` run out),
    checking the oracle after each; returns the monkey (``monkey.done``: actions run) and
    its RSS samples ``(action, seconds, MB)``."""
    _prepare(qtbot, win)
    guard = Guard()
    guard.install(monkeypatch, win)
    monkey = Monkey(qtbot, win, seed)
    rss = monkey.rss = [(0, 0.0, _rss_mb())]
    run_monkey.last = monkey
    t0 = time.perf_counter()
    monkey.done = 0
    try:
        monkey.check(guard, -1)
        for i in range(n_actions):
            if time.perf_counter() - t0 > seconds:
                break
            monkey.step(i)
            monkey.check(guard, i)
            monkey.done = i + 1
            if rss_every and (i + 1) % rss_every == 0:
                rss.append((i + 1, time.perf_counter() - t0, _rss_mb()))
                print(f"monkey: {i + 1} actions, {rss[-1][1]:.0f} s, RSS {rss[-1][2]:.0f} MB",
                      file=sys.__stderr__, flush=True)
        # let a stage still running end, then the last check
        t = win.training
        if t.busy():
            qtbot.mouseClick(win.tabs.tabBar(), Qt.LeftButton,
                             pos=win.tabs.tabBar().tabRect(TABS.index("Training")).center())
            if t.cancel_button.isEnabled():
                qtbot.mouseClick(t.cancel_button, Qt.LeftButton)
            qtbot.waitUntil(lambda: not t.busy(), timeout=120_000)
        monkey.check(guard, n_actions)
    except BaseException as e:
        print(monkey.report(), file=sys.stderr)
        if isinstance(e, MonkeyFailure):
            raise MonkeyFailure(f"{e}\n\n{monkey.report()}") from None
        raise
    finally:
        monkey.stop()
        guard.uninstall()
    monkey.elapsed = time.perf_counter() - t0
    return monkey, rss


def _seed(default: int) -> int:
    v = os.environ.get("MONKEY_SEED")
    return int(v) if v else default


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_monkey_ci(qtbot, studio, monkeypatch, seed):
    seed = _seed(seed)
    n = int(os.environ.get("MONKEY_CI_ACTIONS", "150"))
    monkey, _ = run_monkey(qtbot, studio, monkeypatch, seed, n)
    print(f"monkey seed {seed}: {monkey.done} actions in {monkey.elapsed:.1f} s: {monkey.counts}")
    # the monkey reached every kind of action, so the oracle saw each one's effects
    missing = [fn.__name__ for _, fn in monkey.actions if not monkey.counts.get(fn.__name__)
               and fn.__name__ not in ("stage_cancel", "restore_frame_key")]
    assert not missing, f"seed {seed}: actions never drawn: {missing}"
    assert studio.session.undo_stack.count() > 0


@pytest.mark.very_slow
def test_monkey_soak(qtbot, studio, monkeypatch):
    seed = _seed(20261207)
    n = int(os.environ.get("MONKEY_ACTIONS", "20000"))
    budget = float(os.environ.get("MONKEY_SECONDS", "inf"))  # stop early, counted honestly
    t0 = time.perf_counter()
    failure = None
    try:
        run_monkey(qtbot, studio, monkeypatch, seed, n, rss_every=500, seconds=budget)
    except BaseException as e:  # the figures up to the failure are written too
        failure = f"{type(e).__name__}: {e}"
        raise
    finally:
        monkey = run_monkey.last
        elapsed = time.perf_counter() - t0
        rss = monkey.rss
        if rss[-1][0] != monkey.done:
            rss.append((monkey.done, elapsed, _rss_mb()))
        stats = {"seed": seed, "actions": monkey.done, "asked": n, "seconds": elapsed,
                 "actions_per_s": monkey.done / elapsed, "counts": monkey.counts,
                 "undo_stack": studio.session.undo_stack.count(), "failure": failure,
                 "rss_mb": rss, "longest_action_s": monkey.stalls_max,
                 "longest_event_loop_gap_s": monkey.max_gap,
                 "longest_settle_s": monkey.settle_max}
        out = os.environ.get("MONKEY_STATS")
        if out:
            Path(out).write_text(json.dumps(stats, indent=1))
        print(json.dumps({k: v for k, v in stats.items() if k != "rss_mb"}, indent=1))


@pytest.mark.qt_no_exception_capture  # the planted exception is this test's to catch
def test_the_oracle_and_guard_catch_what_the_window_does_not_show(qtbot, studio, monkeypatch):
    """Positive controls: writes behind the window's back (no change-log entry, so the
    window cannot know) and an exception in a slot are each caught."""
    from handpose_core.datasets.labelio import write_label_png

    win = studio
    root = Path(win.session.project.root)
    monkey = Monkey(qtbot, win, 0)
    guard = Guard()
    guard.install(monkeypatch, win)
    try:
        monkey.check(guard, 0)
        fid = win.session.frame_id
        conn = sqlite3.connect(root / "project.sqlite")
        (old,) = conn.execute("SELECT override FROM restorations WHERE frame_id = ?",
                              (fid,)).fetchone()
        with conn:
            conn.execute("UPDATE restorations SET override = 1 WHERE frame_id = ?", (fid,))
        with pytest.raises(MonkeyFailure, match="override"):
            oracle(win, root)
        with conn:
            conn.execute("UPDATE restorations SET override = ? WHERE frame_id = ?", (old, fid))
        oracle(win, root)
        # the undo stack says accepted, the store says nothing
        monkey.key(Qt.Key_A, widget=win.browser.table)
        monkey.check(guard, 1)
        with conn:
            conn.execute("UPDATE restorations SET override = NULL WHERE frame_id = ?", (fid,))
        with pytest.raises(MonkeyFailure, match="undo stack"):
            oracle(win, root)
        with conn:
            conn.execute("UPDATE restorations SET override = 1 WHERE frame_id = ?", (fid,))
        conn.close()
        # a stroke, then its PNG changed behind the editor
        p = monkey._labelling()
        qtbot.waitUntil(lambda: p.editor is not None, timeout=10000)
        monkey.stroke()
        monkey.check(guard, 1)
        ed = p.editor
        other = ed.labels.copy()
        other[ed.labels > 0] = 0
        write_label_png(root / "labels" / f"{ed.frame.key}.png", other)
        with pytest.raises(MonkeyFailure, match="pixels differ"):
            oracle(win, root)
        write_label_png(root / "labels" / f"{ed.frame.key}.png", ed.labels)
        oracle(win, root)

        def boom():
            raise RuntimeError("planted")

        QTimer.singleShot(0, boom)
        with pytest.raises(MonkeyFailure, match="planted"):
            monkey.check(guard, 2)
    finally:
        monkey.stop()
        guard.uninstall()
