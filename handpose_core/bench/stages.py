"""``handpose-studio bench pipeline --stages``: every stage of the pipeline on a fresh demo
project, timed one by one.

The demo project is created (``init --demo``), then each stage of
:data:`handpose_core.stages.STAGES` runs in order as its own ``handpose-studio train
STAGE`` process (``train-reg`` once per Table 4 variant of ``--variants``), with the
stage's defaults, or with ``--quick``'s scaled-down settings (:data:`QUICK`: a smoke run
in minutes, not a measurement of the defaults). Each step reports its wall time, its CPU
time (user + system of the process and the processes it waited for), its peak resident
memory (the process's ``ru_maxrss``) and its headline from the run record, as a table or
one JSON object; the 1-minute load average before and after each step is recorded beside
it, since on a shared machine it decides the figures as much as the code does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = ("a", "b", "c", "d")

QUICK_DEMO = {"n_train": 24, "n_test": 12}
"""Demo frame counts of ``--quick`` (the default demo: :mod:`handpose_core.render.demo`)."""

QUICK: dict[str, list[str]] = {
    "synthetic": ["--samples", "400", "--test-samples", "100"],
    "pretrain-seg": ["--samples", "400", "--test-samples", "100", "--epochs", "1"],
    "build-dictionary": ["--images", "400", "--patches", "20000", "--trees", "4"],
    "restore": [],
    "finetune-seg": ["--samples", "400", "--epochs", "1"],
    "train-reg": ["--epochs", "1"],
    "evaluate": [],
}
"""``--quick``: each stage's command-line options (the stores reused between stages keep
the same sizes, so nothing is rendered twice)."""


def add_arguments(parser) -> None:
    parser.add_argument("--stages", action="store_true",
                        help="run every stage on a fresh demo project and time each one "
                        "(wall, CPU, peak memory, headline) instead of the per-frame path")
    parser.add_argument("--quick", action="store_true",
                        help="with --stages: scaled-down settings (a smoke run of a few "
                        "minutes; the defaults take about 20 minutes on an idle 2-core machine, "
                        "docs/measurements.md)")
    parser.add_argument("--dir", default=None,
                        help="with --stages: create the project here and keep it "
                        "(default: a temporary folder, removed afterwards)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="with --stages: the train-reg variants to train, in order "
                        "(default a,b,c,d: Table 4)")


def _steps(quick: bool, variants: list[str]) -> list[tuple[str, list[str]]]:
    from ..stages import STAGES

    steps = []
    for st in STAGES:
        extra = list(QUICK[st.name]) if quick else []
        if st.name == "train-reg":
            steps += [(f"train-reg {v}", ["train", st.name, "--variant", v, *extra])
                      for v in variants]
        else:
            steps.append((st.name, ["train", st.name, *extra]))
    return steps


def _child(argv: list[str], out_path: Path) -> dict:
    """Run ``python -m handpose_core.cli.main ARGV`` (stdout to ``out_path``, stderr
    through); its wall time, CPU time and peak memory from ``wait4``."""
    root = Path(__file__).resolve().parents[2]  # the checkout this module is imported from
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(out_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, *argv], stdout=out, cwd=root, env=env)
        _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"rc": proc.returncode, "wall_s": round(time.perf_counter() - t0, 2),
            "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
            "peak_rss_mb": round(ru.ru_maxrss / 1024, 1),
            "load": [round(load0, 2), round(os.getloadavg()[0], 2)]}


def _headline(project_dir: Path, stage: str) -> str:
    from ..project import Project
    from ..stages import get_stage

    with Project.open(project_dir) as p:
        rec = p.last_run(stage)
        if rec is None:
            return ""
        if rec.outcome != "completed":
            return rec.outcome
        try:
            return get_stage(stage).headline(rec.metrics)
        except (KeyError, TypeError, ValueError):
            return ""


def run_stages(args) -> int:
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        print(f"handpose-studio bench pipeline: unknown variant(s) {', '.join(bad)} "
              f"(a, b, c, d)", file=sys.stderr)
        return 2
    tmp = tempfile.TemporaryDirectory(prefix="bench-stages-")  # step outputs, project
    base = Path(tmp.name)
    project_dir = Path(args.dir) if args.dir else base / "project"
    if (project_dir / "project.sqlite").exists():
        print(f"handpose-studio bench pipeline: {project_dir}: a project already exists "
              "here (the stage bench starts from a fresh one)", file=sys.stderr)
        return 2
    demo = QUICK_DEMO if args.quick else {}
    rows = []
    info = {"settings": "quick" if args.quick else "defaults", "project": str(project_dir),
            "cpu_count": os.cpu_count(), "python": sys.version.split()[0],
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quick": QUICK if args.quick
            else None, "quick_demo": demo or None, "steps": rows}
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, flush=True))
    init = ["-c", "import sys, json; from handpose_core.project import create_demo_project; "
            "create_demo_project(sys.argv[1], **json.loads(sys.argv[2])).close()",
            str(project_dir), json.dumps(demo)]
    steps = [("init --demo", init)] + [
        (name, ["-m", "handpose_core.cli.main", *argv, "--project", str(project_dir), "--json"])
        for name, argv in _steps(args.quick, variants)]
    try:
        for name, argv in steps:
            say(f"{name} ...")
            r = _child(argv, base / "step-stdout.txt")
            stage = name.split()[0]
            r = {"step": name, "args": argv[2:] if argv[0] == "-m" else [], **r,
                 "headline": "" if name.startswith("init") or r["rc"] != 0
                 else _headline(project_dir, stage)}
            rows.append(r)
            say(f"  {r['wall_s']:9.1f} s wall  {r['cpu_s']:9.1f} s CPU  "
                f"{r['peak_rss_mb']:8.0f} MB peak  load {r['load'][0]}->{r['load'][1]}  "
                f"{r['headline']}")
            if r["rc"] != 0:
                print(f"handpose-studio bench pipeline: {name} exited with {r['rc']}; "
                      "the steps after it need its output, so the bench stops here",
                      file=sys.stderr)
                break
    finally:
        tmp.cleanup()
    info["total_wall_s"] = round(sum(r["wall_s"] for r in rows), 1)
    info["total_cpu_s"] = round(sum(r["cpu_s"] for r in rows), 1)
    info["complete"] = len(rows) == len(steps) and all(r["rc"] == 0 for r in rows)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        say(f"total {info['total_wall_s']} s wall, {info['total_cpu_s']} s CPU "
            f"({info['settings']} settings, {os.cpu_count()} cores)")
    return 0 if info["complete"] else 1
