"""A studio process killed while labelling loses at most the stroke in progress.

A child process runs the real labelling panel offscreen and paints strokes with real
mouse events, printing a hash of its label map after each finished stroke; the test
kills it with SIGKILL (in the middle of a stroke, and at a random moment while it
paints), reopens the project and checks what is on disk.
"""

from __future__ import annotations

import hashlib
import os
import queue
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from handpose_core.datasets.labelio import read_label_png
from handpose_core.project import Project
from handpose_core.render import write_nyu_layout

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import hashlib, os, sys, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
    from app.models.session import Session
    from app.views.labelling import LabellingPanel
    from handpose_core.project import Project

    root, fid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    app = QApplication([])
    session = Session()
    panel = LabellingPanel(session)
    panel.resize(900, 700)
    panel.show()
    session.open_project(Project.open(root))
    session.set_frame(fid)
    for _ in range(20):
        app.processEvents()
    ed, c = panel.editor, panel.canvas
    vp = c.viewport()
    y0, x0, y1, x1 = ed.region
    md5 = lambda: hashlib.md5(ed.labels.tobytes()).hexdigest()
    print("start", md5(), flush=True)
    k = 0
    while n < 0 or k < n:
        panel.set_part(k % 20 + 1)
        ax, ay = x0 + 10 + (k * 7) % (x1 - x0 - 40), y0 + 10 + (k * 13) % (y1 - y0 - 40)
        QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, c.frame_to_widget(ax, ay))
        QTest.mouseMove(vp, c.frame_to_widget(ax + 12, ay + 6))
        QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, c.frame_to_widget(ax + 20, ay + 9))
        k += 1
        print("saved", k, md5(), flush=True)
    panel.set_part(20)
    QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, c.frame_to_widget(x0 + 30, y0 + 30))
    QTest.mouseMove(vp, c.frame_to_widget(x0 + 90, y0 + 60))
    print("in-stroke", md5(), flush=True)
    time.sleep(600)
""")


@pytest.fixture
def project_root(tmp_path):
    write_nyu_layout(tmp_path / "nyu", 2, split="test", seed=4)
    Project.create(tmp_path / "proj", tmp_path / "nyu", kind="nyu").close()
    return tmp_path / "proj"


READ_S = 60.0
"""The longest wait for one line from the child (it starts Qt and paints in well under
that): a child that hangs or dies fails the test instead of hanging it."""


class _Lines:
    """The child's stdout read by a thread into a queue, so that each read has a timeout."""

    def __init__(self, proc):
        self.proc, self.q = proc, queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.q.put(line)
        self.q.put(None)  # end of output

    def next(self, timeout: float = READ_S) -> str:
        try:
            line = self.q.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no line from the child within {timeout:.0f} s")
        if line is None:
            pytest.fail(f"the child ended early (exit {self.proc.wait(10)})")
        return line

    def rest(self, timeout: float = READ_S) -> list[str]:
        """Every line printed before the child ended (call after killing it)."""
        out, end = [], time.monotonic() + timeout
        while True:
            line = self.q.get(timeout=max(0.1, end - time.monotonic()))
            if line is None:
                return out
            out.append(line)


def _child(tmp_path, root, n):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.Popen([sys.executable, str(script), str(root), "1", str(n)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                            cwd=str(REPO))


def _disk(root):
    with Project.open(root) as p:
        f = p.frame(1)
        lab = read_label_png(p.root / "labels" / f"{f.key}.png")
        return hashlib.md5(np.ascontiguousarray(lab).tobytes()).hexdigest(), \
            p.hand_label_record(1).strokes


def test_kill_in_the_middle_of_a_stroke_keeps_every_finished_stroke(project_root, tmp_path):
    proc = _child(tmp_path, project_root, 5)
    lines = _Lines(proc)
    saved = {}
    try:
        while True:
            word, *rest = lines.next().split()
            if word == "saved":
                saved[int(rest[0])] = rest[1]
            elif word == "in-stroke":
                in_stroke = rest[0]
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert len(saved) == 5 and in_stroke != saved[5]  # the stroke in progress had painted
    digest, strokes = _disk(project_root)
    assert digest == saved[5] and strokes == 5


@pytest.mark.slow
def test_kill_at_a_random_moment_loses_at_most_one_stroke(project_root, tmp_path):
    proc = _child(tmp_path, project_root, -1)  # paints until killed
    lines = _Lines(proc)
    states = {}
    # the seed is in every failure message; HANDPOSE_KILL_SEED=N runs another one
    seed = int(os.environ.get("HANDPOSE_KILL_SEED", "2701"))  # fixed: a failure repeats
    rng = random.Random(seed)
    target = rng.randint(8, 20)
    deadline = time.monotonic() + 120
    try:
        line = lines.next()
        assert line.startswith("start"), (seed, line)
        states[0] = line.split()[1]
        while len(states) <= target and time.monotonic() < deadline:
            _, k, h = lines.next().split()
            states[int(k)] = h
        time.sleep(rng.uniform(0.0, 0.03))  # somewhere inside a later stroke or its save
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    rest = lines.rest()  # what it printed before it died
    for i, line in enumerate(rest):
        words = line.split()
        if i == len(rest) - 1 and not line.endswith("\n"):
            continue  # a last line the kill cut short (CI saw one): it reports nothing
        if len(words) == 3 and words[0] == "saved":
            states[int(words[1])] = words[2]
        else:
            pytest.fail(f"seed {seed}: unexpected line from the child: {line!r}")
    final = max(states)
    assert final >= target, seed
    digest, strokes = _disk(project_root)
    # the image and its row move together (the row commits, then the PNG moves into place;
    # Project.open finishes a save killed between the two): both the last reported state,
    # or both the stroke in flight (an image never reported, never an older one)
    assert strokes in (final, final + 1), seed
    if strokes == final:
        assert digest == states[final], seed
    else:
        assert digest not in states.values(), seed
