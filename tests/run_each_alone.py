"""Run every test of the default selection alone, each in a process of its own.

    python tests/run_each_alone.py [--out DIR] [--fresh] [PYTEST_ARGS ...]

Collects the node ids (``pytest --collect-only -q`` with PYTEST_ARGS, e.g. ``-m ""`` or a
file), then runs each id by itself: by default in a child forked from this process after
it has imported only the heavy third-party modules (torch, numpy, cv2, PySide6.QtWidgets,
pyqtgraph; no QApplication, no fixture, no project module), which saves their import
time per test; with ``--fresh`` in a new ``python -m pytest ID`` process. One test runs at
a time, with one BLAS/OpenMP thread. Writes ``DIR/results.tsv`` (id, exit code, seconds;
a rerun skips the ids already there) and ``DIR/logs/NNN.txt``; prints the failures and
the totals; exits 1 if any test failed alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN_ARGS = ["-q", "-p", "no:randomly", "-p", "no:cacheprovider"]


def collect(pytest_args: list[str]) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                          "-p", "no:randomly", *pytest_args], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    return [line.strip() for line in out.splitlines() if "::" in line]


def run_forked(tid: str, log: Path) -> int:
    import pytest

    pid = os.fork()
    if pid == 0:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        code = 99
        try:
            code = int(pytest.main([tid, *RUN_ARGS]))
        except BaseException:  # noqa: BLE001 -- reported in the log, the parent goes on
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def run_fresh(tid: str, log: Path) -> int:
    with open(log, "w") as f:
        return subprocess.call([sys.executable, "-m", "pytest", tid, *RUN_ARGS], cwd=REPO,
                               stdout=f, stderr=subprocess.STDOUT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/handpose-alone"))
    ap.add_argument("--fresh", action="store_true", help="a new interpreter per test")
    args, pytest_args = ap.parse_known_args()
    os.chdir(REPO)
    sys.path.insert(0, str(REPO))  # as `python -m pytest` from the repository root
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(k, "1")
    ids = collect(pytest_args)
    (args.out / "logs").mkdir(parents=True, exist_ok=True)
    results = args.out / "results.tsv"
    done = {}
    if results.exists():
        for line in results.read_text().splitlines():
            tid, rc, _ = line.split("\t")
            done[tid] = int(rc)
    if not args.fresh:
        import cv2  # noqa: F401
        import numpy  # noqa: F401
        import pyqtgraph  # noqa: F401
        import PySide6.QtWidgets  # noqa: F401
        import torch  # noqa: F401
    t_all = time.perf_counter()
    for i, tid in enumerate(ids):
        if tid in done:
            continue
        log = args.out / "logs" / f"{i:03d}.txt"
        t0 = time.perf_counter()
        rc = run_fresh(tid, log) if args.fresh else run_forked(tid, log)
        dt = time.perf_counter() - t0
        done[tid] = rc
        with open(results, "a") as f:
            f.write(f"{tid}\t{rc}\t{dt:.1f}\n")
        print(f"{i + 1}/{len(ids)} {'ok' if rc == 0 else f'FAILED rc={rc}'} {dt:.1f}s {tid}",
              flush=True)
    failed = [t for t in ids if done.get(t) != 0]
    for t in failed:
        print(f"failed alone: {t} (rc {done[t]})")
    print(f"{len(ids)} ids, {len(ids) - len(failed)} passed alone, {len(failed)} failed "
          f"({time.perf_counter() - t_all:.0f} s this call); results in {results}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
