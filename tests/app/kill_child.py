"""The child process of the kill matrix (tests/app/kill_matrix.py): the real studio main
window, offscreen, over a project, doing one kind of action in a loop until killed.

``python tests/app/kill_child.py ROOT ACTION N SEED [IMPORT_DIR]`` with ``PYTHONPATH`` at
the repository root. ACTION: paint, undo, import, override, restore, stage. N actions
(-1: until killed). It prints, one line each, flushed:

- ``open FID MD5 STROKES`` once the window shows frame FID in the labelling tab (MD5 of
  the label map it shows, ``-`` when the frame has none; the stroke count it shows);
- ``begin K KIND`` before action K and ``done K KIND`` after it returned (for actions run
  in a worker: after the studio's success callback ran on the GUI thread);
- ``intent UNIT VALUE`` just before a store write and ``wrote UNIT`` after it returned,
  for every unit a write changes: ``labels:FID`` (label PNG md5, strokes, done flag),
  ``restoration:FID`` (raw and restored PNG md5, the restored score in mm), ``override:FID`` (1, 0 or None);
- ``ev N NAME`` at the hook points inside the save path: ``png-half`` (half of a PNG's
  bytes are in its file), ``fsync``, ``replace`` / ``replaced`` (around ``os.replace``),
  ``commit`` (SQLite is about to run COMMIT). With ``KILL_PAUSE=K:E`` in the environment
  the child stops for good at hook point E of action K (``paused K E NAME``) so that the
  parent kills it exactly there.

The hooks wrap the real functions (the writes happen as the studio makes them); the
PNG hook writes the encoder's bytes in two halves, so the file on disk is half written
while the child waits.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import sys
import threading
import time

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import numpy as np  # noqa: E402

_lock = threading.Lock()
_state = {"action": 0, "ev": 0}


def say(*words) -> None:
    print(*words, flush=True)


def md5(a) -> str:
    return hashlib.md5(np.ascontiguousarray(np.asarray(a, dtype=np.uint8)).tobytes()).hexdigest()


def event(name: str) -> None:
    with _lock:
        _state["ev"] += 1
        k, n = _state["action"], _state["ev"]
    say("ev", k, n, name)
    if os.environ.get("KILL_PAUSE") == f"{k}:{n}":
        say("paused", k, n, name)
        while True:
            time.sleep(60)


def install_hooks() -> None:
    from PIL import Image

    import handpose_core.project.store as store
    from handpose_core.project import Project

    real_save, real_replace, real_fsync = Image.Image.save, os.replace, os.fsync

    def save(img, fp, format=None, **kw):  # noqa: A002 - PIL's name
        buf = io.BytesIO()
        real_save(img, buf, format or "PNG", **kw)
        data = buf.getvalue()

        def halves(f):
            f.write(data[: len(data) // 2])
            f.flush()
            event("png-half")
            f.write(data[len(data) // 2:])

        if isinstance(fp, (str, os.PathLike)):
            with open(fp, "wb") as f:
                halves(f)
        else:
            halves(fp)

    def replace(src, dst, *a, **kw):
        event("replace")
        real_replace(src, dst, *a, **kw)
        event("replaced")

    def fsync(fd):
        event("fsync")
        real_fsync(fd)

    Image.Image.save = save
    os.replace = replace
    os.fsync = fsync

    real_connect = store.connect

    def connect(path):
        conn = real_connect(path)
        conn.set_trace_callback(lambda sql: event("commit") if sql.lstrip().upper()
                                .startswith("COMMIT") else None)
        return conn

    store.connect = connect

    real_hand, real_rest, real_ov = (Project.save_hand_labels, Project.save_restorations,
                                     Project.set_override)

    def save_hand_labels(self, f, labels, *, strokes=0, complete=False, **kw):
        say("intent", f"labels:{f.id}", f"{md5(labels)},{int(strokes)},{int(bool(complete))}")
        out = real_hand(self, f, labels, strokes=strokes, complete=complete, **kw)
        say("wrote", f"labels:{f.id}")
        return out

    def save_restorations(self, items):
        for it in items:
            mm = it["score_restored"].total_mm
            score = f"{mm:.6g}" if np.isfinite(mm) else "None"
            say("intent", f"restoration:{it['f'].id}",
                f"{md5(it['raw'])},{md5(it['restored'])},{score}")
        out = real_rest(self, items)
        for it in items:
            say("wrote", f"restoration:{it['f'].id}")
        return out

    def set_override(self, frame_id, accept):
        say("intent", f"override:{int(frame_id)}", "None" if accept is None else int(accept))
        out = real_ov(self, frame_id, accept)
        say("wrote", f"override:{int(frame_id)}")
        return out

    Project.save_hand_labels = save_hand_labels
    Project.save_restorations = save_restorations
    Project.set_override = set_override


def main() -> None:
    root, action, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    import_dir = sys.argv[5] if len(sys.argv) > 5 else None
    install_hooks()
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app.main import build_window
    from handpose_core.project import Project

    app = QApplication([])
    rng = random.Random(seed)
    win = build_window(Project.open(root))
    win.resize(1500, 900)
    win.show()
    session = win.session
    panel = win.labelling
    restored = sorted(r[0] for r in session.project._conn.execute(
        "SELECT frame_id FROM restorations"))
    frames = [f.id for f in session.project.frames()]

    def pump(until=None, timeout=120.0) -> None:
        end = time.monotonic() + timeout
        while True:
            app.processEvents()
            if until is None or until():
                return
            if time.monotonic() > end:
                say("timeout")
                os._exit(3)
            time.sleep(0.002)

    for _ in range(10):
        pump()
    fid = frames[0]
    win.tabs.setCurrentWidget(panel)
    session.set_frame(fid)
    pump(lambda: panel.editor is not None and panel.editor.frame.id == fid)
    if win.stack.currentWidget() is not win.tabs:
        say("not-open")
        os._exit(4)
    ed = panel.editor
    say("open", fid, md5(ed.labels) if ed.saved else "-", ed.strokes)

    k = 0

    def begin(kind: str) -> None:
        nonlocal k
        k += 1
        with _lock:
            _state["action"], _state["ev"] = k, 0
        say("begin", k, kind)

    def done(kind: str) -> None:
        with _lock:
            _state["action"] = 0
        say("done", k, kind)

    def stroke() -> None:
        begin("paint")
        ed, c = panel.editor, panel.canvas
        vp = c.viewport()
        y0, x0, y1, x1 = ed.region
        panel.set_part(rng.randint(1, 20))
        ax, ay = rng.randint(x0 + 5, x1 - 40), rng.randint(y0 + 5, y1 - 40)
        QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, c.frame_to_widget(ax, ay))
        QTest.mouseMove(vp, c.frame_to_widget(ax + 12, ay + 6))
        QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, c.frame_to_widget(ax + 25, ay + 12))
        done("paint")

    def until_worker(start) -> None:
        box = []
        start(lambda *_: box.append(1))
        pump(lambda: bool(box), timeout=300)

    if action == "undo":  # something to undo: three strokes of this child's own
        for _ in range(3):
            stroke()
    stack = session.undo_stack
    stage_runs = 0
    while n < 0 or k < n:
        if action == "paint":
            stroke()
        elif action == "undo":
            undo = stack.canUndo() and (not stack.canRedo() or rng.random() < 0.5)
            begin("undo" if undo else "redo")
            (win.undo_action if undo else win.redo_action).trigger()
            done("undo" if undo else "redo")
        elif action == "override":
            f = rng.choice(restored)
            session.set_frame(f)
            pump()
            cur = session.project.restoration(f).override
            new = rng.choice([v for v in (True, False, None) if v != cur])
            name = {True: "accept", False: "reject", None: "clear"}[new]
            begin(name)
            win.frame_actions.actions[name].trigger()
            done(name)
        elif action == "import":
            variants = sorted(os.listdir(import_dir))
            v = variants[rng.randrange(len(variants))]
            folder = os.path.join(import_dir, v)
            paths = [os.path.join(folder, p) for p in sorted(os.listdir(folder))]
            begin("import")
            until_worker(lambda cb, paths=paths: panel.actions_.import_from(paths, then=cb))
            done("import")
        elif action == "restore":
            f = rng.choice(frames)
            session.set_frame(f)
            pump()
            begin("restore")
            fa = win.frame_actions

            slots = []

            def start(cb, fa=fa, slots=slots):
                slots.append(lambda running, _note: None if running else cb())
                fa.restore_state.connect(slots[0])
                fa.actions["restore"].trigger()
            until_worker(start)
            fa.restore_state.disconnect(slots[0])
            if session.project.restoration(f) is None:
                say("restore-failed")
                os._exit(5)
            done("restore")
        elif action == "stage":
            tp = win.training
            win.tabs.setCurrentWidget(tp)
            pump(lambda: not session.runner.busy("load f_s"))
            stage_runs += 1
            # a setting that changes the run's key, so every run restores every frame
            tp.forms["restore"].editor("stride").setText(str(2 + (stage_runs + seed) % 2))
            begin("stage")
            assert tp.start("restore")
            pump(lambda tp=tp: not tp.busy(), timeout=600)
            if not tp.state_text("restore").startswith("completed"):
                say("stage-failed", tp.state_text("restore"))
                os._exit(6)
            done("stage")
        else:
            raise SystemExit(f"unknown action {action}")
    say("end")
    sys.stdout.flush()
    os._exit(0)  # no teardown: the matrix is about what is on disk


if __name__ == "__main__":
    main()
