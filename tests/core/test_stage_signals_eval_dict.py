"""``train evaluate`` and ``train build-dictionary`` stopped by SIGINT, SIGTERM and SIGKILL
in real processes, then run again (issue 27; the other stages: test_stage_signals.py,
test_stage_cancel_signals.py).

The child is the real command line; it holds the stage at its first progress report in
the middle of the real work (inside the segmentation report's frame loop, inside the
dictionary's build after its first step), where it waits and checks for a cancel, so
the signal lands inside the run. SIGINT / SIGTERM: exit 130, run recorded cancelled;
SIGKILL: the run reads interrupted, the store passes integrity_check. The next plain run
completes: evaluate gives the same figures as a run never stopped, build-dictionary a
loadable dictionary with no temporary file left beside it.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from handpose_core.project import Project, create_demo_project

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200),  # 4 CLI runs, each importing torch
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

HOLD = """
import sys, time
from handpose_core.progress import check_cancel

def held(progress, cancel):
    seen = []
    def report(*a):
        if not seen:
            seen.append(1)
            print("held", flush=True)
            for _ in range(3000):  # 300 s, a safe point every 0.1 s
                check_cancel(cancel)
                time.sleep(0.1)
        if progress is not None:
            progress(*a)
    return report
"""

WRAP = {
    "evaluate": HOLD + """
import handpose_core.stages.evaluate as ev
real = ev.segmentation_report
def segmentation_report(project, split=None, *, progress=None, cancel=None):
    return real(project, split, progress=held(progress, cancel), cancel=cancel)
ev.segmentation_report = segmentation_report
""",
    "build-dictionary": HOLD + """
import handpose_core.stages.build_dictionary as bd
real = bd.Dictionary.build.__func__
def build(cls, *a, progress=None, cancel=None, **k):
    return real(cls, *a, progress=held(progress, cancel), cancel=cancel, **k)
bd.Dictionary.build = classmethod(build)
""",
}
MAIN = "\nfrom handpose_core.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"
ARGS = {"evaluate": ["--no-restoration"],
        "build-dictionary": ["--images", "48", "--patches", "4000", "--trees", "2"]}


@pytest.fixture(scope="module")
def _template(tmp_path_factory):
    root = tmp_path_factory.mktemp("sig2") / "proj"
    create_demo_project(root, n_train=4, n_test=3, seed=7).close()
    return root


@pytest.fixture
def proj(_template, tmp_path):
    shutil.copytree(_template, tmp_path / "proj")
    return tmp_path / "proj"


def _cli(stage: str, proj: Path, *, held: bool) -> subprocess.Popen:
    code = (WRAP[stage] if held else "import sys\n") + MAIN
    # SIGINT's default action in the child even when this test runs with SIGINT ignored
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen([sys.executable, "-c", code, "train", stage, "--project",
                                 str(proj), *ARGS[stage]], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
    finally:
        signal.signal(signal.SIGINT, old)


def _args_ok(stage):
    from handpose_core.cli.main import build_parser

    build_parser(only="train").parse_args(["train", stage, "--project", "x", *ARGS[stage]])


@pytest.mark.parametrize("stage", sorted(WRAP))
def test_stage_stopped_by_sigint_sigterm_sigkill_then_run_again(stage, proj):
    _args_ok(stage)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        proc = _cli(stage, proj, held=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda p=proc, q=lines: [q.put(x) for x in p.stdout],
                         daemon=True).start()
        try:
            assert lines.get(timeout=240).strip() == "held", f"{stage} before {sig.name}"
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
        with Project.open(proj) as p:
            assert p._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            run = p.runs(stage)[-1]
        if sig == signal.SIGKILL:
            assert proc.returncode == -signal.SIGKILL
            assert run.status == "interrupted" and run.pid == proc.pid
        else:
            assert proc.returncode == 130, err
            assert "cancelled" in err and "Traceback" not in err, err
            assert run.status == "cancelled"
    proc = _cli(stage, proj, held=False)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    with Project.open(proj) as p:
        last = p.runs(stage)[-1]
        assert last.status == "completed"
        if stage == "evaluate":
            from handpose_core.stages.evaluate import EvaluateSettings
            from handpose_core.stages.evaluate import run as evaluate

            rep = evaluate(p, EvaluateSettings(restoration=False))  # never stopped
            seg = rep["segmentation"]["results"]
            assert last.metrics["raw_per_pixel"] == seg["raw"]["per_pixel"]
    if stage == "build-dictionary":
        from handpose_core.restoration import Dictionary

        d = Dictionary.load(proj / "dictionary")
        assert d.meta["n_patches"] > 0
        assert not [x.name for x in (proj / "dictionary").iterdir() if ".tmp" in x.name]
