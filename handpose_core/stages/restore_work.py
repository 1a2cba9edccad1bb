"""The work of the ``restore`` stage, one function for every place it runs.

:func:`restore_job_frames` is a pure function of ``(job, frames) -> [FrameResult]``: it
reads the project folder's files (dataset, f_s checkpoint, dictionary), never its
SQLite store, and writes nothing. The same function runs

* in the calling process (``workers=1``: :func:`compute_frames` with crops from the
  project's crop cache),
* in a pool of worker processes on this machine (``workers=N``: :func:`run_pool`), and
* on a Dask cluster whose workers see the project folder on shared storage
  (``scheduler=tcp://HOST:8786``, or a ``distributed.Client``: :func:`run_dask`).

Each worker process opens the dictionary once (:func:`_worker_state`): the annoy index
is memory-mapped by annoy's ``load`` and the patch / map arrays by
``np.load(mmap_mode="r")``, so N workers share one copy in the page cache instead of N.
The caller stays the only writer of the store: results come back to it and it stores
them in frame order (:func:`ordered_results`), so a cancelled or killed run loses at most
the chunks in flight and the stage's run key lets the next run skip what was stored.

``restore_maps`` is the one per-frame restoration call (the dictionary restoration of
:func:`handpose_core.restoration.restore.restore_many`); a new method plugs in there and
every path above picks it up.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets.crop import CropTransform, crop_depth, crop_transform
from ..errors import BadInput
from ..fileio import file_identity
from ..progress import check_cancel
from ..project.records import Frame, Score
from ..restoration import crf, joint_prior
from ..restoration.quality import accept_restoration, restoration_scores
from ..restoration.restore import restore_many
from ..skeleton import PALM_CENTRE, joints_36_to_14

DEFAULT_CHUNK = 4
"""Frames per task sent to a worker: small, so a killed worker loses little and the
ordered writer is never far behind."""


@dataclass(frozen=True)
class RestoreJob:
    """What a worker needs to restore frames of one project, all picklable.

    Paths are relative to ``project_dir`` when they lie inside it, so a worker that
    mounts the project folder elsewhere still finds them (absolute otherwise)."""

    project_dir: str
    dataset_root: str
    crop_size: int
    cube_mm: float
    model: str
    dictionary: str
    settings: object  # the stage's RestoreSettings (frozen, picklable)

    def path(self, p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else Path(self.project_dir) / q


@dataclass(frozen=True)
class FrameResult:
    """One restored frame, ready to store."""

    frame_id: int
    raw: np.ndarray
    restored: np.ndarray
    score_raw: Score
    score_restored: Score
    accept: bool
    details: dict
    cpu_s: float = 0.0  # the worker's CPU seconds for this frame (its chunk's share)


def _relative(p: Path, root: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(Path(p).resolve())


def make_job(project, model_path: Path, dictionary_path: Path, settings) -> RestoreJob:
    return RestoreJob(str(Path(project.root).resolve()),
                      _relative(project.dataset_root, project.root), project.crop_size,
                      float(project.cube_mm), _relative(model_path, project.root),
                      _relative(dictionary_path, project.root), settings)


def settings_of(job: RestoreJob):
    """The stage settings ``job`` runs with."""
    return job.settings


# ---------------------------------------------------------------------- the work
def restore_maps(raw: np.ndarray, depth: np.ndarray, dictionary, settings, cancel=None,
                 joints14: list[np.ndarray] | None = None, tfs: np.ndarray | None = None):
    """Restore predicted maps ``raw`` (N, S, S) of depth crops ``depth``: the per-frame
    restoration every path calls. Returns one ``Restoration`` per map. The
    ``joint-prior`` method needs each frame's 14 evaluation joints ``joints14``
    (full-frame uvd, (14, 3) each) and crop transforms ``tfs`` (N, 11)."""
    if settings.method == crf.JOINT_PRIOR:
        if joints14 is None or tfs is None:
            raise ValueError("the joint-prior restoration needs each frame's joints and "
                             "crop transform")
        params = joint_prior.PriorParams(sigma=settings.prior_sigma)
        made = [joint_prior.frame_prior(j, CropTransform.from_array(t), d, r > 0,
                                        params=params, depth_scale=settings.depth_scale,
                                        grow=settings.prior_grow, cut=settings.prior_cut)
                for j, t, d, r in zip(joints14, tfs, depth, raw)]
        return restore_many(raw, dictionary, window=settings.window,
                            integrate=True, backend=settings.backend,
                            stride=settings.stride, keep_silhouette=True,
                            search=settings.search, raw_weight=settings.raw_weight,
                            cancel=cancel, log_priors=np.stack([m[0] for m in made]),
                            prior_weight=settings.prior_weight, prior_eps=settings.prior_eps,
                            silhouettes=np.stack([m[1] for m in made]))
    if settings.method == crf.INTEGRATION:
        return restore_many(raw, dictionary, window=settings.window,
                            integrate=settings.integrate, backend=settings.backend,
                            stride=settings.stride, keep_silhouette=settings.keep_silhouette,
                            search=settings.search, raw_weight=settings.raw_weight,
                            cancel=cancel)
    if settings.crf_weight < 0:
        raise ValueError("restore_maps needs the CRF weight resolved (crf_weight >= 0; see "
                         "stages.restore.resolve_settings)")
    return crf.restore_crf_many(raw, dictionary, settings.method, settings.crf_weight,
                                k=settings.k, search=settings.search,
                                keep_silhouette=settings.keep_silhouette, cancel=cancel)


def compute_frames(frames: list[Frame], depth: np.ndarray, tfs: np.ndarray,
                   joints: list[np.ndarray], model, dictionary, settings,
                   cancel=None) -> list[FrameResult]:
    """Predict, restore, score and decide ``frames`` from their depth crops ``(N, S, S)``,
    crop transforms ``(N, 11)`` and ground-truth joints (36, 3) each; stores nothing."""
    raw, _ = model.predict(depth, probabilities=False)
    restored = restore_maps(raw, depth, dictionary, settings, cancel,
                            joints14=[joints_36_to_14(j) for j in joints], tfs=tfs)
    out = []
    for f, d, tfa, gt36, r, rr in zip(frames, depth, tfs, joints, raw, restored):
        tf = CropTransform.from_array(tfa)
        gt = joints_36_to_14(gt36)
        q_raw, q_res = restoration_scores(r, rr.labels, d, tf, gt,
                                          penalty_mm=settings.penalty_mm,
                                          penalty_px=settings.penalty_px)
        hand = r > 0
        details = {
            "raw": q_raw.to_dict(), "restored": q_res.to_dict(),
            "queries": rr.n_queries, "changed": int((rr.labels != r).sum()),
            "mean_confidence": float(rr.confidence[hand].mean()) if hand.any() else None,
            "mean_distance": float(rr.distances.mean()) if rr.n_queries else None,
            "no_hand": rr.n_queries == 0, "method": settings.method,
            "seconds": round(rr.seconds, 4)}
        if settings.method == crf.JOINT_PRIOR:
            details.update({"prior_weight": settings.prior_weight,
                            "prior_eps": settings.prior_eps})
        elif settings.method != crf.INTEGRATION:
            details.update({"crf_weight": settings.crf_weight, "k": settings.k, **rr.info})
        out.append(FrameResult(f.id, r, rr.labels, Score(q_raw.total_mm, q_raw.total_px),
                               Score(q_res.total_mm, q_res.total_px),
                               bool(accept_restoration(q_raw, q_res, n_queries=rr.n_queries)),
                               details))
    return out


_STATE: dict = {}
_STATE_LOCK = threading.Lock()


def _worker_state(job: RestoreJob):
    """(dataset, model, dictionary) of ``job``, opened once per process and reused while
    the f_s checkpoint and the dictionary's files stay the same: a long-lived worker (a
    Dask cluster's) opens them again after fine-tuning or a rebuild replaced them at the
    same paths, instead of restoring with the old ones."""
    from ..datasets.nyu import NYUDataset
    from ..nets.inference import load_segnet_model
    from ..restoration.dictionary import Dictionary

    d = job.path(job.dictionary)
    try:
        versions = tuple(file_identity(p) for p in (job.path(job.model), d / "meta.json",
                                                      d / "index.ann"))
    except FileNotFoundError:
        versions = None  # the loads below name the missing file
    key = (job.project_dir, job.dataset_root, job.model, job.dictionary, versions)
    with _STATE_LOCK:
        if _STATE.get("key") != key:
            if int(getattr(job.settings, "threads", 0)) == 1:  # a pool or Dask worker
                import torch

                torch.set_num_threads(1)
            _STATE.clear()
            # the project's memory-mapped joint copies (as the stage's Project reads
            # them), not a private decompression of joint_data.mat in every worker
            cache = Path(job.project_dir) / "cache"
            _STATE.update(key=key, dataset=NYUDataset(job.path(job.dataset_root),
                                                      cache_dir=cache if cache.is_dir() else None),
                          model=load_segnet_model(job.path(job.model)),
                          dictionary=Dictionary.load(job.path(job.dictionary)))
        return _STATE["dataset"], _STATE["model"], _STATE["dictionary"]


def restore_job_frames(job: RestoreJob, frames: list[tuple]) -> list[FrameResult]:
    """The worker function: restore ``frames`` (``(id, split, kinect, frame)`` tuples) of
    ``job``'s project, reading its dataset, model and dictionary; stores nothing."""
    ds, model, dictionary = _worker_state(job)
    c0 = time.process_time()  # after opening: once per process, not per frame
    fs = [Frame(int(i), s, int(k), int(n), False) for i, s, k, n in frames]
    size, cube = job.crop_size, job.cube_mm
    depth, tfs, joints = [], [], []
    for f in fs:
        j = ds.joints_uvd(f.split, f.frame, f.kinect)
        tf = crop_transform(j[PALM_CENTRE], cube, size)
        depth.append(crop_depth(ds.depth(f.split, f.frame, f.kinect), tf))
        tfs.append(tf.to_array())
        joints.append(j)
    settings = settings_of(job)
    out = compute_frames(fs, np.stack(depth).astype(np.float32), np.stack(tfs), joints,
                         model, dictionary, settings)
    cpu = (time.process_time() - c0) / max(1, len(out))
    return [dataclasses.replace(r, cpu_s=cpu) for r in out]


def _pool_init(threads: int, parent: int) -> None:
    """A pool worker: Ctrl-C is the parent's to handle (it cancels); one compute thread
    each, the pool supplies the parallelism; the worker ends when its parent is gone
    (a killed parent leaves no orphan computing on)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    import torch

    torch.set_num_threads(max(1, threads))


def _single_thread_job(job: RestoreJob) -> RestoreJob:
    return dataclasses.replace(job, settings=dataclasses.replace(job.settings, threads=1))


# ---------------------------------------------------------------------- ordering
def ordered_results(n_chunks: int, store: Callable[[int, list], None]):
    """A sink for chunk results that arrive in any order: ``put(i, results)`` stores
    every chunk whose predecessors are stored, in chunk order; ``flush()`` stores the
    rest (after a failure: ascending, with the gaps left for the next run)."""
    pending: dict[int, list] = {}
    seen: set[int] = set()
    nxt = [0]

    def put(i: int, results: list) -> None:
        if i in seen:  # a chunk delivered twice (a re-run task) is stored once
            return
        seen.add(i)
        pending[i] = results
        while nxt[0] in pending:
            store(nxt[0], pending.pop(nxt[0]))
            nxt[0] += 1

    def flush() -> None:
        for i in sorted(pending):
            store(i, pending.pop(i))

    return put, flush


def chunks(frames: list[Frame], size: int) -> list[list[tuple]]:
    rows = [(f.id, f.split, f.kinect, f.frame) for f in frames]
    return [rows[s:s + size] for s in range(0, len(rows), size)]


# ---------------------------------------------------------------------- process pool
def run_pool(job: RestoreJob, parts: list[list[tuple]], workers: int,
             store: Callable[[int, list], None], *, cancel=None, retries: int = 3,
             on_pids: Callable[[list[int]], None] | None = None) -> None:
    """Restore ``parts`` (chunks of frame tuples) on ``workers`` processes, one chunk in
    flight per process; ``store(i, results)`` is called in this process, in chunk
    order. A worker that dies (killed, out of memory) breaks the pool: its chunks in
    flight go to a new pool, up to ``retries`` times. ``cancel`` stores what has
    finished, stops the workers (losing only the chunks in flight) and raises
    ``Cancelled``."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    put, flush = ordered_results(len(parts), store)
    todo = list(range(len(parts)))
    wjob = _single_thread_job(job)
    ctx = mp.get_context("spawn")  # no fork of a process with threads (heartbeat, annoy)
    breaks = 0
    try:
        while todo and not _is_set(cancel):
            ex = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_pool_init,
                                     initargs=(1, os.getpid()))
            running: dict = {}
            queue = list(todo)
            broken = False
            try:
                while (queue or running) and not broken:
                    while queue and len(running) < workers and not _is_set(cancel):
                        i = queue.pop(0)
                        running[ex.submit(restore_job_frames, wjob, parts[i])] = i
                    if on_pids is not None:
                        on_pids(_pids(ex))
                    if not running:
                        break
                    done, _ = wait(list(running), timeout=0.1, return_when=FIRST_COMPLETED)
                    for fut in done:
                        i = running.pop(fut)
                        try:
                            res = fut.result()
                        except BrokenProcessPool:
                            broken = True
                            continue
                        put(i, res)
                        todo.remove(i)
                    if _is_set(cancel):
                        break  # the chunks still running are lost
            finally:
                if broken or _is_set(cancel):
                    _stop(ex)
                else:
                    ex.shutdown(wait=True)
            if broken:
                breaks += 1
                if breaks > retries:
                    raise RuntimeError(f"restore: a worker process died {breaks} times; "
                                       "stopped (finished frames are stored)")
        if todo:
            check_cancel(cancel)
    finally:
        flush()


def _pids(ex) -> list[int]:
    return [p.pid for p in (getattr(ex, "_processes", None) or {}).values()]


def _stop(ex) -> None:
    """Stop a pool now: cancel what has not started, end the worker processes (the
    executor has no public call for that before Python 3.14)."""
    ex.shutdown(wait=False, cancel_futures=True)
    for p in list((getattr(ex, "_processes", None) or {}).values()):
        try:
            p.terminate()
            p.join(5)
        except (OSError, ValueError, AttributeError):
            pass


def _is_set(cancel) -> bool:
    return cancel is not None and cancel.is_set()


# ---------------------------------------------------------------------- Dask
def run_dask(job: RestoreJob, parts: list[list[tuple]], scheduler,
             store: Callable[[int, list], None], *, cancel=None) -> None:
    """Restore ``parts`` on a Dask cluster (``scheduler``: its address, or a
    ``distributed.Client``); ``store(i, results)`` runs here, in chunk order. Dask
    re-runs the tasks of a worker that dies on another one; a task fails only after
    the scheduler's ``allowed-failures`` deaths. ``cancel`` cancels the tasks not
    finished, stores the finished ones and raises ``Cancelled``."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise BadInput("--scheduler needs Dask: pip install 'handpose-studio[scale]' "
                       "(dask[distributed])") from None
    own = not isinstance(scheduler, Client)
    client = Client(scheduler, timeout="30s") if own else scheduler
    put, flush = ordered_results(len(parts), store)
    job = _single_thread_job(job)  # parallel across Dask's worker threads / processes
    try:
        futures = {client.submit(restore_job_frames, job, part, pure=False,
                                 key=f"restore-{os.getpid()}-{id(parts)}-{i}"): i
                   for i, part in enumerate(parts)}
        ac = as_completed(list(futures))
        for fut in ac:
            put(futures[fut], fut.result())
            if _is_set(cancel):
                client.cancel([f for f in futures if not f.done()])
                for f in list(futures):  # keep what finished meanwhile
                    if f.done() and f.status == "finished":
                        put(futures[f], f.result())
                break
        check_cancel(cancel)
    finally:
        flush()
        if own:
            client.close()


__all__ = ["RestoreJob", "FrameResult", "restore_job_frames", "compute_frames", "restore_maps",
           "run_pool", "run_dask", "make_job", "chunks", "ordered_results"]
