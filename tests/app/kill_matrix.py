"""The kill matrix: the studio killed with SIGKILL at any instant of an action, and what is
on disk afterwards (issue 27).

A child process (tests/app/kill_child.py) runs the real main window offscreen on a small
project and does one kind of action in a loop: painting, undo / redo, label import,
override (accept / reject / clear), restore-this-frame, a restore stage run from the
Training tab. This parent kills it with SIGKILL either

- at a hook point inside the save path (``point``): half of the PNG's bytes written, the
  fsync, just before / after ``os.replace``, just before SQLite's COMMIT, chosen at random
  among the points the action passes; or
- at a random instant (``random``): a delay drawn uniformly over the action's measured
  duration after the child announced its start, waited out at sub-millisecond resolution.

After each kill it checks: ``PRAGMA integrity_check`` is ok; every unit (a frame's label
map and its row, a restoration, an override) whose write returned before the kill holds
what was written; the unit in flight holds either its old or its new value (the label
PNG, its md5, its row's stroke count and done flag all old or all new); no temporary file
is left in the project; and a fresh child opens the project in the main window and shows
the frame, with the label map that is on disk.

``python tests/app/kill_matrix.py --kills 60`` runs the big matrix (docs/testing.md);
tests/app/test_kill_matrix.py runs a few kills per action in CI. Seeds come from a fixed
list (``--seed``), never from the clock or the process id.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("kill_child.py")
ACTIONS = ("paint", "undo", "import", "override", "restore", "stage")
READ_S = 300.0
"""The longest wait for one line of the child (a stage run on a loaded machine)."""

TEMP_PATTERNS = ("*.tmp", "*.tmp.*", "*.tmp-*", "*.creating", "*.creating-*",
                 "metrics.jsonl.*", "*.partial")
"""Names of the temporaries the code writes (grep os.replace / mkstemp / .tmp): fileio's
``NAME.PID.XXXX.tmp``, ``NAME.tmp``, the label PNG's ``NAME.png.tmp.png`` (before the
fix), the guidance cache's ``NAME.PID.tmp.npy``, the store's ``project.sqlite.creating``
and the metrics log's ``metrics.jsonl.XXXX``."""


class MatrixFailure(AssertionError):
    pass


# ---------------------------------------------------------------------- the project
def make_template(base: Path, n_frames: int = 8, n_restored: int = 5) -> Path:
    """A rendered NYU-layout project with a small dictionary, the first frames restored
    (as tests/app/conftest.py's template); returns the project folder."""
    from handpose_core.nets.inference import load_segnet_model, segnet_path
    from handpose_core.project import Project
    from handpose_core.render import render_crops, write_nyu_layout
    from handpose_core.restoration import Dictionary
    from handpose_core.stages.restore import RestoreSettings, restore_frames

    write_nyu_layout(base / "nyu", n_frames, split="train", seed=11)
    p = Project.create(base / "proj", base / "nyu", kind="nyu")
    try:
        d = Dictionary.build(render_crops(60, seed=3)["labels"], p.root / "dictionary",
                             max_patches=20000, n_trees=4)
        restore_frames(p, p.frames()[:n_restored], load_segnet_model(segnet_path(p)), d,
                       RestoreSettings(split="train"), model_name="bundled")
    finally:
        p.close()
    return base / "proj"


def make_imports(root: Path, folder: Path, n_variants: int = 4, seed: int = 0) -> Path:
    """``folder/vK/KEY.png``: label images of the project's last two frames, a different
    pattern in each variant (so a half import shows)."""
    from handpose_core.datasets.labelio import write_label_png

    rng = np.random.default_rng(seed)
    con = sqlite3.connect(root / "project.sqlite")
    keys = [f"{s}_{k}_{f:07d}" for s, k, f in con.execute(
        "SELECT split, kinect, frame FROM frames ORDER BY id DESC LIMIT 2")]
    con.close()
    for v in range(n_variants):
        for key in keys:
            lab = np.zeros((480, 640), np.uint8)
            for _ in range(6):
                y, x = rng.integers(0, 400), rng.integers(0, 560)
                lab[y:y + rng.integers(20, 80), x:x + rng.integers(20, 80)] = rng.integers(1, 21)
            (folder / f"v{v}").mkdir(parents=True, exist_ok=True)
            write_label_png(folder / f"v{v}" / f"{key}.png", lab)
    return folder


# ---------------------------------------------------------------------- what is on disk
def _md5_png(path: Path) -> str:
    from handpose_core.datasets.labelio import read_label_png

    if not path.exists():
        return "missing"
    try:
        a = read_label_png(path)
    except ValueError:
        return "corrupt"
    return hashlib.md5(np.ascontiguousarray(a).tobytes()).hexdigest()


def disk_state(root: Path) -> tuple[str, dict]:
    """``(integrity_check result, {unit: value})`` read with a fresh connection; values are
    strings as the child prints them, None for a unit with nothing on disk."""
    con = sqlite3.connect(root / "project.sqlite")
    try:
        integrity = ";".join(r[0] for r in con.execute("PRAGMA integrity_check"))
        frames = {fid: f"{s}_{k}_{f:07d}" for fid, s, k, f in con.execute(
            "SELECT id, split, kinect, frame FROM frames")}
        hand = {r[0]: r[1:] for r in con.execute(
            "SELECT frame_id, path, strokes, complete FROM hand_labels")}
        rest = {r[0]: r[1:] for r in con.execute(
            "SELECT frame_id, raw_path, restored_path, override, score_restored_mm "
            "FROM restorations")}
    finally:
        con.close()
    state = {}
    for fid, key in frames.items():
        png = root / "labels" / f"{key}.png"
        row = hand.get(fid)
        if row is None and not png.exists():
            state[f"labels:{fid}"] = None
        else:
            state[f"labels:{fid}"] = (f"{_md5_png(png)},{row[1] if row else None},"
                                      f"{row[2] if row else None}")
        r = rest.get(fid)
        state[f"restoration:{fid}"] = None if r is None else \
            f"{_md5_png(root / r[0])},{_md5_png(root / r[1])}," + \
            ("None" if r[3] is None else f"{r[3]:.6g}")
        state[f"override:{fid}"] = "None" if r is None else str(r[2])  # no row: no override
    return integrity, state


def temporaries(root: Path) -> list[str]:
    found = set()
    for pat in TEMP_PATTERNS:
        found.update(str(p.relative_to(root)) for p in root.rglob(pat))
    return sorted(found)


# ---------------------------------------------------------------------- the child
class Child:
    """The child process and its stdout, read by a thread into a queue of
    ``(monotonic time, line)`` so that every read has a timeout."""

    def __init__(self, root: Path, action: str, seed: int, *, pause: str | None = None,
                 import_dir: Path | None = None, n: int = -1):
        env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
        env.pop("KILL_PAUSE", None)
        if pause:
            env["KILL_PAUSE"] = pause
        args = [sys.executable, str(CHILD), str(root), action, str(n), str(seed)]
        if import_dir is not None:
            args.append(str(import_dir))
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env, cwd=str(REPO))
        self.q: queue.Queue = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.q.put((time.monotonic(), line.split()))
        self.q.put((time.monotonic(), None))

    def next(self, timeout: float = READ_S):
        try:
            t, words = self.q.get(timeout=timeout)
        except queue.Empty:
            raise MatrixFailure(f"no line from the child within {timeout:.0f} s") from None
        if words is None:
            raise MatrixFailure(f"the child ended early (exit {self.proc.wait(30)}): "
                                + "".join(self.err[-15:]))
        return t, words

    def kill(self) -> list:
        """SIGKILL, then every line it printed before it died."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(60)
        rest = []
        while True:
            try:
                _, words = self.q.get(timeout=30)
            except queue.Empty:
                break
            if words is None:
                break
            rest.append(words)
        return rest


def _wait_until(t_target: float) -> None:
    """Sleep until ``t_target`` (monotonic), the last 2 ms spun for sub-ms resolution."""
    while True:
        left = t_target - time.monotonic()
        if left <= 0:
            return
        if left > 0.002:
            time.sleep(left - 0.002)


# ---------------------------------------------------------------------- one kill
class Matrix:
    """Kills on one project copy, one action kind; ``stats`` counts the outcomes."""

    def __init__(self, root: Path, action: str, seed: int, import_dir: Path | None = None,
                 log=print):
        self.root, self.action, self.import_dir, self.log = root, action, import_dir, log
        self.rng = random.Random(seed)
        self.seed = seed
        integrity, self.committed = disk_state(root)
        assert integrity == "ok", integrity
        self.pending: dict[str, list] = {}
        self.stats: Counter = Counter()
        self.durations: list[float] = []
        self.max_ev = 0  # the most hook points one action passed (learnt as kills go)
        self.first_action = 4 if action == "undo" else 1  # the undo child paints 3 first

    def _feed(self, words) -> None:
        if len(words) < 2 or (words[0] == "intent" and len(words) < 3):
            return  # a line the kill cut short: its write had not begun (printed before)
        if words[0] == "intent":
            self.pending.setdefault(words[1], []).append(words[2])
        elif words[0] == "wrote":
            self.committed[words[1]] = self.pending[words[1]].pop(0)
            if not self.pending[words[1]]:
                del self.pending[words[1]]
            self.stats["writes returned"] += 1

    def _open(self, child: Child) -> None:
        while True:
            _, words = child.next()
            if words[0] == "open":
                break
        fid, shown, strokes = words[1], words[2], int(words[3])
        disk = self.committed.get(f"labels:{fid}")
        want = ("-", 0) if disk is None else (disk.split(",")[0], int(disk.split(",")[1]))
        if (shown, strokes) != want:
            raise MatrixFailure(f"the reopened studio shows labels {shown} / {strokes} strokes "
                                f"of frame {fid}, the disk holds {want}")

    def kill_once(self) -> dict:
        """Start a child, kill it once, check the disk; returns what happened."""
        rng = self.rng
        mode = "point" if self.max_ev and rng.random() < 0.5 else "random"
        j = self.first_action + rng.randint(1, 2)  # never the first: its duration is measured
        e = rng.randint(1, max(self.max_ev, 1))
        seed = rng.randrange(2 ** 31)
        child = Child(self.root, self.action, seed, import_dir=self.import_dir,
                      pause=f"{j}:{e}" if mode == "point" else None)
        begun, delay, where, killed = {}, None, None, False
        try:
            self._open(child)
            while not killed:
                t, words = child.next()
                self._feed(words)
                w = words[0]
                if w == "begin":
                    begun[int(words[1])] = t
                    if mode == "random" and int(words[1]) == j:
                        est = float(np.median(self.durations[-20:])) if self.durations else 0.05
                        delay = rng.uniform(0.0, est)
                        _wait_until(t + delay)
                        killed = True
                elif w == "done":
                    k = int(words[1])
                    if k >= self.first_action and k in begun:
                        self.durations.append(t - begun[k])
                    if mode == "point" and k == j:  # the action had fewer hook points
                        where, killed = "after the action", True
                elif w == "ev":
                    self.max_ev = max(self.max_ev, int(words[2]))
                elif w == "paused":
                    where, killed = words[3], True
                elif w in ("timeout", "not-open", "restore-failed", "stage-failed"):
                    raise MatrixFailure(f"the child said {' '.join(words)}")
        finally:
            rest = child.kill()
        for words in rest:  # printed before it died
            self._feed(words)
        if mode == "random":
            where = "random"
        return self._check(mode, where, delay)

    def _check(self, mode, where, delay) -> dict:
        from handpose_core.project import Project

        problems = []
        left = temporaries(self.root)  # what the kill left, before anything opens it
        con = sqlite3.connect(self.root / "project.sqlite")
        integrity = ";".join(r[0] for r in con.execute("PRAGMA integrity_check"))
        con.close()
        if integrity != "ok":
            problems.append(f"integrity_check right after the kill: {integrity}")
        # the project opened as the studio opens it: saves that had committed are finished,
        # temporaries of the dead process removed (Project._finish_label_writes)
        Project.open(self.root).close()
        integrity, disk = disk_state(self.root)
        if integrity != "ok":
            problems.append(f"integrity_check: {integrity}")
        temps = temporaries(self.root)
        if temps:
            problems.append(f"temporary files left after opening: {temps}")
        if left:
            self.stats["temporaries left by the kill, removed at open"] += 1
        outcome = "nothing in flight"
        for unit in sorted(set(disk) | set(self.committed) | set(self.pending)):
            d, c, p = disk.get(unit), self.committed.get(unit), self.pending.get(unit, [])
            if d == c:
                if p:
                    outcome = "in flight: unchanged" if c in p else "in flight: absent"
            elif d in p:
                outcome = "in flight: whole"
            else:
                problems.append(f"{unit}: disk {d}, written before the kill {c}, "
                                f"in flight {p or 'nothing'}")
        self.stats["kills"] += 1
        self.stats[f"mode {mode}"] += 1
        self.stats[outcome] += 1
        rec = {"action": self.action, "mode": mode, "where": where, "delay_s": delay,
               "outcome": outcome, "left_by_kill": left, "problems": problems}
        if problems:
            self.stats["failures"] += 1
        # what is on disk now is where the next child starts
        self.committed, self.pending = disk, {}
        return rec

    def reopen(self) -> None:
        """A last child: the studio opens the project and shows what is on disk."""
        child = Child(self.root, self.action, 0, import_dir=self.import_dir, n=0)
        try:
            self._open(child)
            while True:
                _, words = child.next()
                if words[0] == "end":
                    break
        finally:
            child.kill()


def run_matrix(template: Path, work: Path, actions, kills: int, seed: int, log=print,
               stop_on_failure: bool = False) -> dict:
    """``kills`` kills per action, each action on its own copy of ``template``'s project
    (and dataset); returns ``{action: {"stats": ..., "failures": [...]}}``."""
    out = {}
    for a_i, action in enumerate(actions):
        base = work / action
        shutil.rmtree(base, ignore_errors=True)
        shutil.copytree(template.parent, base)
        root = base / template.name
        imports = make_imports(root, base / "imports", seed=seed) if action == "import" else None
        m = Matrix(root, action, seed * 1000 + a_i, imports, log)
        failures = []
        t0 = time.monotonic()
        for i in range(kills):
            rec = m.kill_once()
            log(json.dumps({"kill": i + 1, **rec}))
            if rec["problems"]:
                failures.append(rec)
                if stop_on_failure:
                    break
        m.reopen()
        out[action] = {"stats": dict(m.stats), "failures": failures,
                       "seconds": round(time.monotonic() - t0, 1)}
        log(json.dumps({action: out[action]["stats"], "seconds": out[action]["seconds"]}))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=50, help="kills per action")
    ap.add_argument("--actions", default=",".join(ACTIONS))
    ap.add_argument("--seed", type=int, default=27)
    ap.add_argument("--template", type=Path, help="a project made by make_template "
                    "(default: made in --work)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/kill-matrix"))
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    template = args.template
    if template is None:
        template = args.work / "template" / "proj"
        if not (template / "project.sqlite").exists():
            shutil.rmtree(args.work / "template", ignore_errors=True)
            make_template(args.work / "template")
    out = run_matrix(template, args.work, args.actions.split(","), args.kills, args.seed)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 1 if any(v["failures"] for v in out.values()) else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
