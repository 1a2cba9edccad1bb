"""``handpose-studio bench restore-workers``: restore throughput at 1..N worker processes
and on a Dask LocalCluster, on the same frames in one run, with the restored maps of
every path checked equal.

Each path runs the ``restore`` stage with ``--restart`` on the same first ``--frames``
frames of a split, so it writes that project's store: run it on a copy of a project.
Wall time includes starting the workers (import, opening the dictionary); the steady
rate leaves the first stored chunk out. ``cpu_s_per_frame``: CPU seconds per frame in
the processes that restored (all their threads; a worker's opening of model and
dictionary left out), the figure least disturbed by other load and the one to project
from. Worker memory, sampled every 0.25 s from ``/proc/PID/smaps_rollup`` (Linux): peak
resident set (RSS, counting the memory-mapped dictionary and library pages a worker
touched, which the page cache shares between processes), peak file-backed resident
pages (those shared pages) and peak anonymous memory (heap, arrays, the model: what
each worker adds; a copied dictionary would show here).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time


def add_arguments(parser) -> None:
    parser.add_argument("--project", required=True, help="project (its store is written: "
                        "use a copy)")
    parser.add_argument("--split", default="test", help="frames of this split (default test)")
    parser.add_argument("--frames", type=int, default=40, help="first N frames (default 40)")
    parser.add_argument("--workers", default="1,2", help="process counts, comma separated "
                        "(1: in this process with its threads; 1p: one worker process with "
                        "one thread, as each process of a pool; default 1,2)")
    parser.add_argument("--local-cluster", default="2", metavar="N[,N...]",
                        help="also a Dask LocalCluster of N single-thread worker processes, "
                        "for each N given (comma separated: 1,2 compares the same path at "
                        "one and two processes; 0: skip; needs dask[distributed])")
    parser.add_argument("--chunk", type=int, default=4, help="frames per task (default 4)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to PATH")


def _rollup(pid: int) -> dict[str, float]:
    """Rss, Anonymous (MB) of a process from /proc/PID/smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Rss", "Anonymous"):
                out[k] = int(v.split()[0]) / 1024
    return out


class _Memory(threading.Thread):
    """Peak RSS, file-backed and anonymous memory (MB) of the processes ``pids()``."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.stop = pids, threading.Event()
        self.peak: dict[int, dict] = {}

    def run(self) -> None:
        while not self.stop.wait(0.25):
            for pid in self.pids():
                try:
                    m = _rollup(pid)
                except (OSError, ValueError):
                    continue
                p = self.peak.setdefault(pid, {"rss": 0.0, "anon": 0.0, "file": 0.0})
                p["rss"] = max(p["rss"], m.get("Rss", 0.0))
                p["anon"] = max(p["anon"], m.get("Anonymous", 0.0))
                p["file"] = max(p["file"], m.get("Rss", 0.0) - m.get("Anonymous", 0.0))

    def peaks(self) -> dict:
        if not self.peak:
            return {}
        return {f"peak_{k}_mb_per_worker": round(max(p[k] for p in self.peak.values()), 1)
                for k in ("rss", "file", "anon")} | {"workers_sampled": len(self.peak)}


def _pool_workers() -> list[int]:
    """This process's pool workers (its children but multiprocessing's resource tracker)."""
    import psutil

    out = []
    for c in psutil.Process().children():
        try:
            if "resource_tracker" not in " ".join(c.cmdline()):
                out.append(c.pid)
        except psutil.Error:
            continue
    return out


def _one(project, settings, *, client=None, pids=None) -> dict:
    from ..stages import restore as restore_stage

    times = []
    mem = _Memory(pids or (lambda: [os.getpid()]))
    mem.start()
    t0 = time.perf_counter()
    res = restore_stage.run(project, settings, client=client,
                            on_item=lambda r: times.append(time.perf_counter()),
                            on_pids=None)
    wall = time.perf_counter() - t0
    mem.stop.set()
    mem.join()
    n = res.restored
    first = times[min(len(times) - 1, settings.chunk - 1)] if times else t0
    steady_n = n - min(n, settings.chunk)
    steady = (times[-1] - first) if times else 0.0
    pooled = settings.workers > 1 or settings.in_pool or client is not None
    return {"frames": n, "wall_s": round(wall, 2), "frames_per_s": round(n / wall, 3),
            "first_chunk_s": round(first - t0, 2) if pooled else None,
            "steady_frames_per_s": round(steady_n / steady, 3) if pooled and steady > 0
            else None,
            "cpu_s_per_frame": res.cpu_s_per_frame,
            "write_s_per_frame": res.write_s_per_frame if pooled else None, **mem.peaks()}


def speedups(runs: dict) -> dict[str, float]:
    """Frames per second of each run over the one-process run of the same path:
    ``workers=N`` over ``workers=1`` (in the calling process, with its threads) and over
    ``workers=1p`` (one single-thread worker process, as each process of the pool: how
    the work scales with processes), ``dask-localcluster=N`` over ``dask-localcluster=1``,
    where both were run."""
    out = {}
    for prefix, one in (("workers", "workers=1"), ("workers", "workers=1p"),
                        ("dask-localcluster", "dask-localcluster=1")):
        base = runs.get(one)
        if not base or not base.get("frames_per_s"):
            continue
        for name, r in runs.items():
            if name.startswith(prefix + "=") and name not in ("workers=1", "workers=1p",
                                                              "dask-localcluster=1"):
                out[f"{name} / {one}"] = round(r["frames_per_s"] / base["frames_per_s"], 3)
    return out


def _maps(project, ids) -> dict:
    recs = project.restorations()
    return {i: project.restored_maps(recs[i]) for i in ids}


def run(args) -> int:
    import numpy as np

    from ..project import Project, ProjectError
    from ..stages.restore import RestoreSettings

    try:
        counts = [x.strip() for x in args.workers.split(",") if x.strip()]
        for x in counts:
            if x != "1p" and int(x) < 1:
                raise ValueError(f"--workers: {x!r} is not a process count")
        clusters = [int(x) for x in str(args.local_cluster).split(",") if x.strip()]
        clusters = [n for n in clusters if n > 0]
        project = Project.open(args.project)
    except (ValueError, ProjectError) as e:
        print(f"bench restore-workers: {e}", file=sys.stderr)
        return 2
    out = {"project": str(project.root), "split": args.split, "frames": args.frames,
           "chunk": args.chunk, "loadavg_before": os.getloadavg(), "cpus": os.cpu_count(),
           "runs": {}}
    ids = [f.id for f in project.frames(args.split)[:args.frames]]
    ref = None
    with project:
        for n in counts:
            pool_one = n == "1p"
            s = RestoreSettings(split=args.split, limit=args.frames,
                                workers=1 if pool_one else int(n), in_pool=pool_one,
                                chunk=args.chunk, restart=True)
            r = _one(project, s, pids=_pool_workers if pool_one or int(n) > 1 else None)
            maps = _maps(project, ids)
            if ref is None:
                ref = maps
            r["maps_equal_to_first"] = all(
                np.array_equal(ref[i][0], maps[i][0]) and np.array_equal(ref[i][1], maps[i][1])
                for i in ids)
            out["runs"][f"workers={n}"] = r
            print(f"workers {n}: {json.dumps(r)}", flush=True)
        if clusters:
            try:
                from distributed import Client, LocalCluster
            except ImportError:
                print("bench restore-workers: no dask[distributed]; LocalCluster skipped",
                      file=sys.stderr)
                clusters = []
        for nc in clusters:
            with LocalCluster(n_workers=nc, threads_per_worker=1,
                              processes=True, dashboard_address=None) as cluster, \
                    Client(cluster) as client:
                wpids = list(client.run(os.getpid).values())
                s = RestoreSettings(split=args.split, limit=args.frames, chunk=args.chunk,
                                    restart=True)
                r = _one(project, s, client=client, pids=lambda w=wpids: w)
            maps = _maps(project, ids)
            r["maps_equal_to_first"] = ref is not None and all(
                np.array_equal(ref[i][0], maps[i][0])
                and np.array_equal(ref[i][1], maps[i][1]) for i in ids)
            out["runs"][f"dask-localcluster={nc}"] = r
            print(f"dask LocalCluster {nc}: {json.dumps(r)}", flush=True)
    out["speedups"] = speedups(out["runs"])
    for name, x in out["speedups"].items():
        print(f"speed-up {name}: {x:.2f}x")
    out["loadavg_after"] = os.getloadavg()
    if args.json:
        from ..fileio import write_json_atomic

        write_json_atomic(args.json, out)
    ok = all(r.get("maps_equal_to_first") for r in out["runs"].values())
    print("restored maps identical on every path" if ok else "RESTORED MAPS DIFFER")
    return 0 if ok else 1
