"""Cancel and resume of finetune-seg and evaluate; the training stages stopped by SIGINT,
SIGTERM and SIGKILL in real processes, then resumed; a second Ctrl-C stops at once.

(restore has its own real-process test in test_stage_signals.py; the synthetic store,
the dictionary and pretrain-seg / train-reg are resumed in-process elsewhere.)
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from handpose_core.progress import Cancelled
from handpose_core.project import Project, Score, create_demo_project

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture(scope="module")
def _template(tmp_path_factory):
    """A demo project (8 train, 3 test frames) whose train frames carry accepted
    restorations (the true crop labels, saved as a restore run would), so finetune-seg
    has weak labels without running restore."""
    root = tmp_path_factory.mktemp("sig") / "proj"
    p = create_demo_project(root, n_train=8, n_test=3, seed=7)
    try:
        frames = p.frames("train")
        _, _, labels = p.crops(frames)
        for k, f in enumerate(frames):
            p.save_restoration(f, model="m", raw=labels[k], restored=labels[k],
                               score_raw=Score(10.0, 1.0), score_restored=Score(5.0, 0.5),
                               auto_accept=True)
    finally:
        p.close()
    return root


@pytest.fixture
def proj(_template, tmp_path):
    root = tmp_path / "proj"
    shutil.copytree(_template, root)
    return root


def _steps_reported(after: int, cancel: threading.Event, seen: list):
    """A progress callback that records the training steps and cancels ``after`` of them."""
    def progress(done, total, msg):
        if msg.startswith("training"):
            seen.append(done)
            if len(seen) >= after:
                cancel.set()
    return progress


# ------------------------------------------------------------------ in-process
def test_finetune_seg_cancelled_then_resumed_continues_from_its_checkpoint(proj):
    import torch

    from handpose_core.stages.finetune_seg import FT_TRAIN, FinetuneSegSettings
    from handpose_core.stages.finetune_seg import run as finetune

    s = FinetuneSegSettings(samples=16, synthetic_ratio=1,
                            train=replace(FT_TRAIN, epochs=3, batch_size=4,
                                          checkpoint_every_s=0.0, num_threads=1))
    cancel, seen = threading.Event(), []
    with Project.open(proj) as p:
        with pytest.raises(Cancelled):
            finetune(p, s, progress=_steps_reported(3, cancel, seen), cancel=cancel)
        run = p.runs("finetune-seg")[-1]
        assert run.status == "cancelled"
        out = proj / "models" / "finetune-seg"
        stopped = torch.load(out / "last.pt", weights_only=True)["step"]
        assert stopped == seen[-1] == 3  # within the second epoch (3 steps an epoch, below)
        assert not (out / "eval.json").exists()  # no report for a run that did not finish
        resumed = []
        rep = finetune(p, s, progress=lambda d, t, m: resumed.append(d)
                       if m.startswith("training") else None)
        assert resumed[0] == stopped + 1  # continues after the last saved step
        # 8 weak + 8 synthetic samples, a seeded fifth held out: 12 train, 3 steps an epoch
        assert rep["steps"] == 9 and rep["epochs"] == 3 and not rep.get("already_done")
        assert p.runs("finetune-seg")[-1].status == "completed"
        from handpose_core.nets.inference import segnet_path

        assert segnet_path(p, "finetuned") is not None
    vals = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()
            if '"val"' in x]
    assert [v["epoch"] for v in vals] == [1.0, 2.0, 3.0]  # no epoch validated twice


def test_evaluate_cancelled_records_it_and_the_next_run_gives_the_full_report(proj):
    from handpose_core.stages.evaluate import EvaluateSettings
    from handpose_core.stages.evaluate import run as evaluate

    s = EvaluateSettings(restoration=False)
    cancel = threading.Event()

    def progress(done, total, msg):
        cancel.set()  # at the first report: inside the segmentation report

    with Project.open(proj) as p:
        with pytest.raises(Cancelled):
            evaluate(p, s, progress=progress, cancel=cancel)
        first = p.runs("evaluate")[-1]
        assert first.status == "cancelled" and not first.metrics
        rep = evaluate(p, s)
        last = p.runs("evaluate")[-1]
        assert last.id != first.id and last.status == "completed"
        assert last.metrics["raw_per_pixel"] == rep["segmentation"]["results"]["raw"]["per_pixel"]
        # the same numbers as a run never cancelled
        again = evaluate(p, s)
        assert again["segmentation"] == rep["segmentation"]


# ------------------------------------------------------------------ real processes
TRAINING = {
    # stage -> (command-line settings: tiny, but too many epochs to finish before the
    # signal, one step logged at a time), run folder
    "pretrain-seg": (["--samples", "32", "--test-samples", "8", "--epochs", "500",
                      "--set", "batch_size=4"], "pretrain-seg-fast"),
    "finetune-seg": (["--samples", "16", "--synthetic-ratio", "1", "--epochs", "500",
                      "--set", "batch_size=4"], "finetune-seg"),
    "train-reg": (["--variant", "a", "--hidden", "8", "--epochs", "500",
                   "--set", "batch_size=4", "--set", "val_fraction=0.25"], "train-reg-a"),
}
COMMON = ["--set", "log_every=1", "--set", "checkpoint_every_s=0", "--set", "num_threads=1"]


def _start(args: list[str]) -> subprocess.Popen:
    # the child gets SIGINT's default action even when this test runs with SIGINT ignored
    # (a background job of a script): an ignored SIGINT would be inherited
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen([sys.executable, "-m", "handpose_core.cli.main", *args],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    finally:
        signal.signal(signal.SIGINT, old)


def _train_lines(path: Path) -> int:
    try:
        return sum('"train"' in x for x in path.read_text().splitlines())
    except OSError:
        return 0


def _wait_for(cond, proc, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate(timeout=30)
            pytest.fail(f"{what}: ended early or hung (rc {proc.returncode}): {err[-2000:]}")
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("stage", sorted(TRAINING))
def test_training_stage_stopped_by_sigint_sigterm_sigkill_then_resumed(stage, proj):
    """Each signal while the stage trains (2 more steps logged each time): SIGINT and
    SIGTERM exit 130 with the run cancelled and its last step saved; SIGKILL leaves the
    run interrupted and the store intact; each next run continues from the saved step;
    a last in-process run resumes it too."""
    import torch

    settings, folder = TRAINING[stage]
    out = proj / "models" / folder
    metrics = out / "metrics.jsonl"
    argv = ["train", stage, "--project", str(proj), *settings, *COMMON]
    step = 0
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        before = _train_lines(metrics)
        proc = _start(argv)
        _wait_for(lambda before=before: _train_lines(metrics) >= before + 2, proc,
                  f"{stage} before {sig.name}")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        with Project.open(proj) as p:
            run = p.runs(stage)[-1]
            assert p._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            if sig == signal.SIGKILL:
                assert proc.returncode == -signal.SIGKILL
                assert run.status == "interrupted" and run.pid == proc.pid
            else:
                assert proc.returncode == 130, err
                assert "cancelled" in err and "Traceback" not in err
                assert run.status == "cancelled"
                saved = torch.load(out / "last.pt", weights_only=True)["step"]
                assert saved > step  # this run trained on from the last one's step
                step = saved
        # the run resumed: its log continues the step count, never restarts at 1
        steps = [json.loads(x)["step"] for x in metrics.read_text().splitlines()
                 if '"train"' in x]
        assert steps == sorted(steps) and steps[0] == 1, steps[:10]
        assert len(set(steps)) == len(steps)
    # the last saved step (a checkpoint a kill may have landed after) is where the next
    # run starts: in-process, cancelled after its first step
    from handpose_core.cli.main import build_parser
    from handpose_core.cli.train import settings_from_args
    from handpose_core.stages import get_stage

    args = build_parser(only="train").parse_args(argv)
    st = get_stage(stage)
    saved = torch.load(out / "last.pt", weights_only=True)["step"]
    cancel, seen = threading.Event(), []
    with Project.open(proj) as p:
        with pytest.raises(Cancelled):
            st.run(p, settings_from_args(st, args), progress=_steps_reported(1, cancel, seen),
                   cancel=cancel)
    assert seen[0] == saved + 1
    # a checkpoint the SIGKILL cut short (its temporary file) is gone once a run started
    assert not list(out.glob("*.tmp"))


def test_a_second_ctrl_c_stops_at_once(proj):
    """The first Ctrl-C asks the stage to stop at its next safe point and the command goes
    on until then; the second stops it at once. The stage here is evaluate with its
    segmentation report held in a step that never checks for a cancel (as a long
    compiled kernel would be), so only the second Ctrl-C can end it."""
    code = ("import sys, time\n"
            "import handpose_core.stages.evaluate as ev\n"
            "def long_step(*a, **k):\n"
            "    print('in the long step', flush=True)\n"
            "    time.sleep(300)\n"
            "ev.segmentation_report = long_step\n"
            "from handpose_core.cli.main import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen([sys.executable, "-c", code, "train", "evaluate", "--project",
                                 str(proj)], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
    finally:
        signal.signal(signal.SIGINT, old)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        assert lines.get(timeout=120).strip() == "in the long step"
        proc.send_signal(signal.SIGINT)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1.5)  # the first Ctrl-C waits for the next safe point
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        stopped_in = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    err = proc.stderr.read()
    assert proc.returncode == 130, err
    # at once: the step had 300 s left (60 s leaves room for the exit itself, recording
    # the run and unloading torch, on a loaded machine)
    assert stopped_in < 60.0, stopped_in
    assert "Ctrl-C again to stop at once" in err and "Traceback" not in err
    with sqlite3.connect(proj / "project.sqlite") as db:
        status = db.execute("SELECT outcome FROM runs WHERE stage = 'evaluate' "
                            "ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert status == "cancelled"


def test_stale_temporaries_are_those_of_dead_writers(tmp_path):
    from handpose_core.fileio import remove_stale_temporaries, write_text_atomic

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / f"last.pt.{dead.pid}.ab12cd.tmp"  # a writer killed mid-write
    mine = tmp_path / f"last.pt.{os.getpid()}.ef34gh.tmp"  # a writer at work now
    other = tmp_path / "notes.tmp"  # not atomic_write's
    for p in (left, mine, other):
        p.write_bytes(b"partial")
    assert remove_stale_temporaries(tmp_path) == [left]
    assert not left.exists() and mine.exists() and other.exists()
    write_text_atomic(tmp_path / "x.txt", "whole")  # its own temporary: gone once written
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, other.name, "x.txt"])


@pytest.mark.slow
def test_synthetic_stage_stopped_by_sigint_sigterm_sigkill_then_resumed(proj):
    """``train synthetic`` renders its store in chunks of 512: each signal lands once 2
    more chunks are written; SIGINT and SIGTERM exit 130 (run cancelled), SIGKILL leaves
    it interrupted; the store only grows, stays incomplete, and the next run renders on
    from the written chunks."""
    from handpose_core.stages import get_stage
    from handpose_core.stages.synthetic import SyntheticSettings, store_path

    samples = 512 * 40
    with Project.open(proj) as p:
        store = store_path(p.path("synthetic"), samples, size=p.crop_size, seed=1,
                           style="clean")
    meta = store / "meta.json"

    def written():
        try:
            return json.loads(meta.read_text())["written"]
        except (OSError, ValueError, KeyError):
            return 0

    argv = ["train", "synthetic", "--project", str(proj), "--samples", str(samples),
            "--test-samples", "16"]
    last = 0
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        proc = _start(argv)
        _wait_for(lambda last=last: written() >= last + 1024, proc, f"synthetic before {sig.name}")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        with Project.open(proj) as p:
            run = p.runs("synthetic")[-1]
            assert p._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        if sig == signal.SIGKILL:
            assert proc.returncode == -signal.SIGKILL and run.status == "interrupted"
        else:
            assert proc.returncode == 130 and "Traceback" not in err, err
            assert run.status == "cancelled"
        now = written()
        assert last + 1024 <= now < samples and now % 512 == 0  # whole chunks, not complete
        assert json.loads(meta.read_text())["complete"] is False
        last = now
    cancel, seen = threading.Event(), []

    def progress(done, total, msg):
        if "training store" in msg:
            seen.append(done)
            cancel.set()

    with Project.open(proj) as p, pytest.raises(Cancelled):
        get_stage("synthetic").run(p, SyntheticSettings(samples=samples, test_samples=16),
                                   progress=progress, cancel=cancel)
    assert seen and seen[0] == last > 0  # the next run starts from the written chunks
