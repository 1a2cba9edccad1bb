"""Stage ``restore`` (seed paper, step 3): predict, restore, score, decide, store.

For every frame of a split: f_s predicts a label map of the frame's depth crop, the map
is restored with the project's dictionary, both maps get their barycenter score against
the frame's ground-truth joints, and the restored map is accepted by the project's one
accept rule (:func:`handpose_core.restoration.quality.accept_restoration`). Maps, scores,
the decision and a per-joint breakdown go to the store, which keeps human overrides.

``method``: ``joint-prior`` (the default: the paper's integration votes combined with a
per-pixel prior built from the frame's 14 annotated joints, the weak labels the quality
check already uses; :mod:`..restoration.joint_prior`), ``integration`` (the paper's
equation 2) or a CRF over each pixel's K nearest patches (``crf-potts``,
``crf-overlap``; :mod:`..restoration.crf`), whose pairwise weight is tuned on held-out
synthetic maps (cached in the project's ``cache/crf_weights.json``) unless
``crf_weight`` gives one. Each method's result is stored beside the others'; the
default method's (the store's primary restorations) is the one fine-tuning uses.

Every restoration carries a run key (model file, dictionary, method and settings): a
re-run skips frames already restored with the same key (per method), so an interrupted
run continues where it stopped; ``restart`` redoes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..nets.inference import load_segnet_model, segnet_path
from ..progress import ProgressFn, check_cancel
from ..restoration import crf, joint_prior
from ..restoration.dictionary import Dictionary, SearchParams
from ..restoration.quality import PENALTY_MM, PENALTY_PX, accept_restoration, restoration_scores
from ..restoration.restore import DEFAULT_RAW_WEIGHT, DEFAULT_STRIDE, DEFAULT_WINDOW
from . import restore_work as work
from .base import recorded_run

NAME = "restore"
_KEYED = ("window", "stride", "integrate", "keep_silhouette", "backend", "n_candidates",
          "search_k", "propagate", "pool", "centre", "raw_weight", "penalty_mm", "penalty_px")
_CRF_KEYED = ("method", "crf_weight", "k")  # keyed only for a CRF (integration keys unchanged)
_PRIOR_KEYED = ("method", "prior_weight", "prior_eps", "prior_sigma", "depth_scale",
                "prior_grow", "prior_cut")


@dataclass(frozen=True)
class RestoreSettings:
    split: str = field(default="train", metadata={
        "help": "frames to restore: train (for fine-tuning), test, or all"})
    limit: int | None = field(default=None, metadata={"help": "only the first N frames"})
    method: str = field(default=crf.JOINT_PRIOR, metadata={
        "help": "joint-prior (integration votes combined with a prior from the frame's 14 "
        "annotated joints; the default), integration (the paper's equation 2), or a CRF "
        "over each pixel's K nearest patches with the Potts-like or the patch-overlap "
        "pairwise term", "choices": crf.METHODS})
    prior_weight: float = field(default=joint_prior.DEFAULT_WEIGHT, metadata={
        "help": "joint-prior: weight of the joint log-prior against the log vote shares"})
    prior_eps: float = field(default=joint_prior.DEFAULT_EPS, metadata={
        "help": "joint-prior: floor added to each part's vote share before the log"})
    prior_sigma: float = field(default=joint_prior.DEFAULT_PARAMS.sigma, metadata={
        "help": "joint-prior: width (crop pixels of a 48-pixel crop) of each part's "
        "prior around its skeleton segment"})
    depth_scale: float = field(default=joint_prior.DEFAULT_DEPTH_SCALE, metadata={
        "help": "joint-prior: weight of depth in the distance to the skeleton (0: 2D)"})
    prior_grow: float = field(default=joint_prior.DEFAULT_GROW, metadata={
        "help": "joint-prior: pixels with depth this close to the skeleton become hand "
        "(0: never)"})
    prior_cut: float = field(default=joint_prior.DEFAULT_CUT, metadata={
        "help": "joint-prior: predicted hand pixels farther than this from the skeleton "
        "become background (0: never)"})
    crf_weight: float = field(default=-1.0, metadata={
        "help": "CRF pairwise weight (negative: tuned on held-out synthetic maps, cached)"})
    k: int = field(default=crf.DEFAULT_K, metadata={
        "help": "CRF: nearest patches per pixel (the label space)"})
    model: str = field(default="", metadata={
        "help": "f_s checkpoint (default: the project's current f_s, else the bundled one)"})
    dictionary: str = field(default="", metadata={
        "help": "dictionary folder (default PROJECT/dictionary)"})
    window: int = field(default=DEFAULT_WINDOW, metadata={"help": "integration window W"})
    stride: int = field(default=DEFAULT_STRIDE, metadata={
        "help": "query every stride-th hand pixel on a grid (1: all, as the paper)"})
    integrate: bool = field(default=True, metadata={
        "help": "W x W integration vote (off: centre label of each pixel's nearest patch)"})
    raw_weight: float = field(default=DEFAULT_RAW_WEIGHT, metadata={
        "help": "prior of the raw label in the integration vote, as a share of the votes "
        "(0: the paper's plain majority)"})
    keep_silhouette: bool = field(default=True, metadata={
        "help": "keep the predicted hand silhouette (off: background may win the vote)"})
    backend: str = field(default="annoy", metadata={"help": "nearest-patch search",
                                                    "choices": ("annoy", "exact")})
    n_candidates: int = field(default=SearchParams.n_candidates, metadata={
        "help": "annoy candidates per query"})
    search_k: int = field(default=SearchParams.search_k, metadata={"help": "annoy search_k"})
    propagate: int = field(default=SearchParams.propagate, metadata={
        "help": "propagation rounds"})
    pool: int = field(default=SearchParams.pool, metadata={
        "help": "neighbour candidate pooling radius"})
    centre: int = field(default=SearchParams.centre, metadata={
        "help": "match distance: label Hamming distance + centre x the centre-weighted one "
        "(0: the paper's)"})
    threads: int = field(default=SearchParams.threads, metadata={"help": "search threads"})
    batch: int = field(default=64, metadata={"help": "frames per batch"})
    penalty_mm: float = field(default=PENALTY_MM, metadata={
        "help": "barycenter score of a missing part (mm)"})
    penalty_px: float = field(default=PENALTY_PX, metadata={
        "help": "barycenter score of a missing part (px)"})
    restart: bool = field(default=False, metadata={
        "help": "restore again frames already restored with the same model and settings"})
    workers: int = field(default=1, metadata={
        "help": "worker processes (0: one per core; 1: in this process; the command line "
        "defaults to one per core)"})
    scheduler: str = field(default="", metadata={
        "help": "Dask scheduler address (tcp://HOST:8786): restore on that cluster, whose "
        "workers see the project folder at the same path (docs/scale.md)"})
    chunk: int = field(default=4, metadata={
        "help": "frames per task sent to a worker process or Dask worker"})
    in_pool: bool = field(default=False, metadata={
        "help": "with --workers 1: restore in one worker process (one thread, as each "
        "process of a pool) instead of in this process (measures how a run scales with "
        "processes)"})

    @property
    def search(self) -> SearchParams:
        return SearchParams(self.n_candidates, self.search_k, self.threads, self.propagate,
                            self.pool, self.centre)


@dataclass(frozen=True)
class RestoreResult:
    """Counts and mean barycenter scores (mm per scored joint) of one run."""

    frames: int
    restored: int
    skipped: int
    accepted: int
    no_hand: int
    mean_raw_mm: float
    mean_restored_mm: float
    seconds: float
    run_key: str
    method: str = "integration"
    crf_weight: float | None = None
    ms_per_frame: float = float("nan")  # restoration alone (search + vote or CRF), mean
    cpu_s_per_frame: float = float("nan")
    """CPU seconds per restored frame in the processes that restored them (all their
    threads; crops, f_s, search, scoring): what projects a run to other machines."""
    write_s_per_frame: float = float("nan")
    """Seconds per frame the writer spent storing results (PNGs, one committed row) when
    workers restored: the one-writer ceiling is 1 / this many frames per second."""
    rescored: int = 0
    """Frames already restored with this run key that an older quality check had scored:
    scored and decided again from their stored maps (:func:`rescore_stale`)."""
    rescored_accepted: int = 0

    @property
    def acceptance(self) -> float:
        return self.accepted / self.restored if self.restored else float("nan")

    def to_dict(self) -> dict:
        return {**asdict(self), "acceptance": self.acceptance}


def file_digest(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def run_key(model_path: Path, dictionary: Dictionary, settings: RestoreSettings) -> str:
    """Identifies what a restoration was made with: the model file's content, the
    dictionary's build and the settings that change results."""
    ident = {"model": file_digest(model_path),
             "dictionary": [dictionary.meta.get(k) for k in ("created", "n_patches", "seed",
                                                             "source")],
             **{k: getattr(settings, k) for k in _KEYED}}
    if settings.method == crf.JOINT_PRIOR:
        ident.update({k: getattr(settings, k) for k in _PRIOR_KEYED})
    elif settings.method != crf.INTEGRATION:
        ident.update({k: getattr(settings, k) for k in _CRF_KEYED})
    return hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def restore_frames(project, frames, model, dictionary: Dictionary, settings: RestoreSettings,
                   *, model_name: str, key: str | None = None, cancel=None, on_item=None):
    """Predict, restore, score, decide and store ``frames`` (one batch) in this process;
    returns the stored :class:`~handpose_core.project.RestorationRecord` of each frame."""
    depth, tfs, _ = project.crops(frames, cancel=cancel)
    joints = [project.joints_uvd(f) for f in frames]
    out = []
    by_id = {f.id: f for f in frames}
    for res in work.compute_frames(frames, depth, tfs, joints, model, dictionary, settings, cancel):
        rec = project.save_restoration(
            by_id[res.frame_id], model=model_name, raw=res.raw, restored=res.restored,
            score_raw=res.score_raw, score_restored=res.score_restored,
            auto_accept=res.accept, details=res.details, run_key=key, method=settings.method)
        out.append(rec)
        if on_item is not None:
            on_item(rec)
    return out


def scored_by_current_check(rec) -> bool:
    """Whether a stored record's restored score was made by the current quality check
    (:func:`~handpose_core.restoration.quality.restoration_scores`: it records
    ``unscored_pixels``); an older record was scored without its two rules."""
    return "unscored_pixels" in (rec.details.get("restored") or {})


def rescore_stale(project, frames, settings: RestoreSettings, cancel=None) -> tuple[int, int]:
    """Score again, from their stored maps, the ``frames`` whose stored ``settings.method``
    restoration an older quality check scored, and decide again; maps, run key and any
    human override stay. Cheap (no restoration): a store made before the check changed
    agrees with ``evaluate`` and the studio after the next ``train restore``. Returns
    ``(frames rescored, of them accepted)``."""
    from ..datasets.crop import CropTransform
    from ..project.records import Score
    from ..skeleton import joints_36_to_14

    recs = [(f, project.restoration(f.id, settings.method)) for f in frames]
    stale = [(f, r) for f, r in recs if r is not None and not scored_by_current_check(r)]
    n_accepted = 0
    for s in range(0, len(stale), 64):
        check_cancel(cancel)
        part = stale[s:s + 64]
        depth, tfs, _ = project.crops([f for f, _ in part], cancel=cancel)
        items = []
        for (f, r), d, t in zip(part, depth, tfs):
            raw, res = project.restored_maps(r)
            q_raw, q_res = restoration_scores(raw, res, d, CropTransform.from_array(t),
                                              joints_36_to_14(project.joints_uvd(f)),
                                              penalty_mm=settings.penalty_mm,
                                              penalty_px=settings.penalty_px)
            items.append(dict(
                f=f, model=r.model, raw=raw, restored=res,
                score_raw=Score(q_raw.total_mm, q_raw.total_px),
                score_restored=Score(q_res.total_mm, q_res.total_px),
                auto_accept=accept_restoration(q_raw, q_res,
                                               n_queries=r.details.get("queries")),
                details={**r.details, "raw": q_raw.to_dict(), "restored": q_res.to_dict()},
                run_key=r.run_key, method=settings.method))
        n_accepted += sum(bool(it["auto_accept"]) for it in items)
        project.save_restorations(items)
    return len(stale), n_accepted


def resolve_settings(project, settings: RestoreSettings, dictionary: Dictionary, *,
                     progress: ProgressFn | None = None, cancel=None) -> RestoreSettings:
    """``settings`` with a CRF's weight filled in when it is negative: tuned on held-out
    synthetic maps for this dictionary and search, cached in the project
    (:func:`~handpose_core.restoration.crf.tuned_weight`). A CRF takes the annoy search's
    candidates: another backend is refused. (``window``, ``stride``, ``integrate`` and
    ``raw_weight`` concern integration only.)"""
    crf.check_method(settings.method)
    if settings.method in (crf.INTEGRATION, crf.JOINT_PRIOR):
        return settings
    if settings.backend != "annoy":
        raise BadInput(f"the CRF methods take their K nearest patches from the annoy "
                       f"search; backend {settings.backend!r} is not supported")
    if settings.crf_weight >= 0:
        return settings
    w, _ = crf.tuned_weight(dictionary, settings.method, crf.project_weight_cache(project),
                            k=settings.k, search=settings.search,
                            keep_silhouette=settings.keep_silhouette, progress=progress,
                            cancel=cancel)
    return replace(settings, crf_weight=w)


def n_workers(settings: RestoreSettings) -> int:
    """Worker processes a run uses: ``settings.workers``, 0 meaning one per core."""
    return settings.workers if settings.workers > 0 else (os.cpu_count() or 1)


def run(project, settings: RestoreSettings = RestoreSettings(), *, progress: ProgressFn | None = None,
        cancel=None, on_item=None, client=None, on_pids=None) -> RestoreResult:
    """Run the stage over ``settings.split`` of ``project``. Frames are stored as they are
    done, so a cancelled or killed run keeps its finished frames and the next run
    continues after them. Raises :class:`~handpose_core.progress.Cancelled` on cancel.

    ``settings.workers`` > 1 restores in that many worker processes, ``settings.scheduler``
    (or ``client``, a ``distributed.Client``) on a Dask cluster; either way this process
    alone writes the store, in frame order (:mod:`.restore_work`). ``on_pids(pids)``
    hears the pool's worker process ids (tests kill one)."""
    t0 = time.perf_counter()
    frames = project.frames(None if settings.split == "all" else settings.split)
    if settings.limit is not None:
        frames = frames[:settings.limit]
    if not frames:
        raise BadInput(f"{project.root}: no frames in split {settings.split!r}")
    model_path = Path(settings.model) if settings.model else segnet_path(project)
    model = load_segnet_model(model_path)  # here too with workers: a bad file fails at once
    dictionary = Dictionary.load(Path(settings.dictionary) if settings.dictionary
                                 else project.root / "dictionary")
    settings = resolve_settings(project, settings, dictionary, progress=progress,
                                cancel=cancel)
    key = run_key(model_path, dictionary, settings)
    done = set() if settings.restart else project.restored_with_key(key, settings.method)
    todo = [f for f in frames if f.id not in done]
    rescored, rescored_acc = rescore_stale(project, [f for f in frames if f.id in done], settings,
                             cancel=cancel)
    report = progress or (lambda d, t, m: None)
    workers = n_workers(settings)
    distributed = bool(settings.scheduler) or client is not None
    config = {**asdict(settings), "model": str(model_path), "dictionary": str(dictionary.path),
              "run_key": key, "to_restore": len(todo), "already_restored": len(frames) - len(todo),
              "rescored": rescored,
              "workers_used": "dask" if distributed else workers}
    acc = {"n_acc": 0, "n_empty": 0, "raw": [], "res": [], "cpu": 0.0, "write": 0.0, "secs": []}

    def count(r) -> None:
        acc["n_acc"] += r.auto_accept
        acc["n_empty"] += bool(r.details.get("no_hand"))
        acc["raw"].append(r.raw.mm)
        acc["res"].append(r.restored.mm)
        acc["secs"].append(r.details.get("seconds", float("nan")))

    def metrics():
        return replace(_result(frames, todo, acc["n_acc"], acc["n_empty"], acc["raw"], acc["res"],
                               t0, key, acc["cpu"], acc["write"]),
                       method=settings.method, rescored=rescored,
                       rescored_accepted=rescored_acc,
                       crf_weight=None if settings.method not in crf.CRF_METHODS
                       else settings.crf_weight,
                       ms_per_frame=1000 * float(np.mean(acc["secs"])) if acc["secs"]
                       else float("nan"))

    pooled = (workers > 1 or settings.in_pool) and len(todo) > 1
    with recorded_run(project, NAME, config) as rec:
        report(0, len(todo), f"restoring {len(todo)} frames"
               + (f" ({len(frames) - len(todo)} already done)" if len(todo) < len(frames) else "")
               + (" on a Dask cluster" if distributed else
                  f" in {workers} worker process{'es' if workers > 1 else ''}" if pooled
                  else ""))
        if todo and (distributed or pooled):
            by_id = {f.id: f for f in todo}
            job = work.make_job(project, model_path, dictionary.path, settings)
            parts = work.chunks(todo, settings.chunk)

            def store(i, results):
                w0 = time.perf_counter()
                recs = project.save_restorations([dict(
                    f=by_id[res.frame_id], model=str(model_path), raw=res.raw,
                    restored=res.restored, score_raw=res.score_raw,
                    score_restored=res.score_restored, auto_accept=res.accept,
                    details=res.details, run_key=key, method=settings.method)
                    for res in results])
                for res, r in zip(results, recs):
                    acc["cpu"] += res.cpu_s
                    count(r)
                    if on_item is not None:
                        on_item(r)
                acc["write"] += time.perf_counter() - w0
                report(len(acc["raw"]), len(todo), "restoring frames")
                rec.metrics = metrics().to_dict()

            if distributed:
                work.run_dask(job, parts, client if client is not None else settings.scheduler,
                              store, cancel=cancel)
            else:
                work.run_pool(job, parts, min(workers, len(parts)), store, cancel=cancel,
                              on_pids=on_pids)
        else:
            for s in range(0, len(todo), settings.batch):
                check_cancel(cancel)
                c0 = time.process_time()
                for r in restore_frames(project, todo[s:s + settings.batch], model, dictionary,
                                        settings, model_name=str(model_path), key=key,
                                        cancel=cancel, on_item=on_item):
                    count(r)
                acc["cpu"] += time.process_time() - c0
                report(min(len(todo), s + settings.batch), len(todo), "restoring frames")
                rec.metrics = metrics().to_dict()
        result = metrics()
        rec.metrics = result.to_dict()
    return result


def _result(frames, todo, n_acc, n_empty, raw_mm, res_mm, t0, key, cpu_s=0.0,
            write_s=float("nan")) -> RestoreResult:
    n = len(raw_mm)
    return RestoreResult(len(frames), n, len(frames) - len(todo), int(n_acc), int(n_empty),
                         float(np.mean(raw_mm)) if n else float("nan"),
                         float(np.mean(res_mm)) if n else float("nan"),
                         round(time.perf_counter() - t0, 2), key,
                         cpu_s_per_frame=round(cpu_s / n, 4) if n else float("nan"),
                         write_s_per_frame=round(write_s / n, 4) if n else float("nan"))


def headline(m: dict) -> str:
    if not m.get("restored") and m.get("skipped"):
        return f"all {m['frames']} frames already restored"
    return (f"{m.get('method', crf.INTEGRATION)}: {m.get('restored', 0)} frames, "
            f"{m.get('accepted', 0)} accepted; barycenter score "
            f"raw {m.get('mean_raw_mm', float('nan')):.1f} -> restored "
            f"{m.get('mean_restored_mm', float('nan')):.1f} mm")


def done(project) -> bool:
    return project.n_restorations() > 0
