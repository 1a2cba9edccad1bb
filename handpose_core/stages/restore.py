"""Stage ``restore`` (seed paper, step 3): predict, restore, score, decide, store.

For every frame of a split: f_s predicts a label map of the frame's depth crop, the map
is restored with the project's dictionary, both maps get their barycenter score against
the frame's ground-truth joints, and the restored map is accepted by the project's one
accept rule (:func:`handpose_core.restoration.quality.accept_restoration`). Maps, scores,
the decision and a per-joint breakdown go to the store, which keeps human overrides.

Every restoration carries a run key (model file, dictionary and settings): a re-run
skips frames already restored with the same key, so an interrupted run continues where
it stopped; ``restart`` redoes them.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..datasets.crop import CropTransform
from ..errors import BadInput
from ..nets.inference import load_segnet_model, segnet_path
from ..progress import ProgressFn, check_cancel
from ..project.records import Score
from ..restoration.dictionary import Dictionary, SearchParams
from ..restoration.quality import PENALTY_MM, PENALTY_PX, accept_restoration, quality_score
from ..restoration.restore import DEFAULT_RAW_WEIGHT, DEFAULT_STRIDE, DEFAULT_WINDOW, restore_many
from ..skeleton import joints_36_to_14
from .base import recorded_run

NAME = "restore"
_KEYED = ("window", "stride", "integrate", "keep_silhouette", "backend", "n_candidates",
          "search_k", "propagate", "pool", "centre", "raw_weight", "penalty_mm", "penalty_px")


@dataclass(frozen=True)
class RestoreSettings:
    split: str = field(default="train", metadata={
        "help": "frames to restore: train (for fine-tuning), test, or all"})
    limit: int | None = field(default=None, metadata={"help": "only the first N frames"})
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
    return hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def restore_frames(project, frames, model, dictionary: Dictionary, settings: RestoreSettings,
                   *, model_name: str, key: str | None = None, cancel=None, on_item=None):
    """Predict, restore, score, decide and store ``frames`` (one batch); returns the
    stored :class:`~handpose_core.project.RestorationRecord` of each frame."""
    depth, tfs, _ = project.crops(frames, cancel=cancel)
    raw, _ = model.predict(depth, probabilities=False)
    restored = restore_many(raw, dictionary, window=settings.window,
                            integrate=settings.integrate, backend=settings.backend,
                            stride=settings.stride, keep_silhouette=settings.keep_silhouette,
                            search=settings.search, raw_weight=settings.raw_weight,
                            cancel=cancel)
    out = []
    for f, d, tfa, r, rr in zip(frames, depth, tfs, raw, restored):
        tf = CropTransform.from_array(tfa)
        gt = joints_36_to_14(project.joints_uvd(f))
        q_raw = quality_score(r, d, tf, gt, penalty_mm=settings.penalty_mm,
                              penalty_px=settings.penalty_px)
        q_res = quality_score(rr.labels, d, tf, gt, penalty_mm=settings.penalty_mm,
                              penalty_px=settings.penalty_px)
        ok = accept_restoration(q_raw, q_res, n_queries=rr.n_queries)
        hand = r > 0
        details = {
            "raw": q_raw.to_dict(), "restored": q_res.to_dict(),
            "queries": rr.n_queries, "changed": int((rr.labels != r).sum()),
            "mean_confidence": float(rr.confidence[hand].mean()) if hand.any() else None,
            "mean_distance": float(rr.distances.mean()) if rr.n_queries else None,
            "no_hand": rr.n_queries == 0}
        rec = project.save_restoration(
            f, model=model_name, raw=r, restored=rr.labels,
            score_raw=Score(q_raw.total_mm, q_raw.total_px),
            score_restored=Score(q_res.total_mm, q_res.total_px), auto_accept=ok,
            details=details, run_key=key)
        out.append(rec)
        if on_item is not None:
            on_item(rec)
    return out


def run(project, settings: RestoreSettings = RestoreSettings(), *, progress: ProgressFn | None = None,
        cancel=None, on_item=None) -> RestoreResult:
    """Run the stage over ``settings.split`` of ``project``. Frames are stored as they are
    done, so a cancelled or killed run keeps its finished frames and the next run
    continues after them. Raises :class:`~handpose_core.progress.Cancelled` on cancel."""
    t0 = time.perf_counter()
    frames = project.frames(None if settings.split == "all" else settings.split)
    if settings.limit is not None:
        frames = frames[:settings.limit]
    if not frames:
        raise BadInput(f"{project.root}: no frames in split {settings.split!r}")
    model_path = Path(settings.model) if settings.model else segnet_path(project)
    model = load_segnet_model(model_path)
    dictionary = Dictionary.load(Path(settings.dictionary) if settings.dictionary
                                 else project.root / "dictionary")
    key = run_key(model_path, dictionary, settings)
    done = set() if settings.restart else project.restored_with_key(key)
    todo = [f for f in frames if f.id not in done]
    report = progress or (lambda d, t, m: None)
    config = {**asdict(settings), "model": str(model_path), "dictionary": str(dictionary.path),
              "run_key": key, "to_restore": len(todo), "already_restored": len(frames) - len(todo)}
    n_acc = n_empty = 0
    raw_mm, res_mm = [], []
    with recorded_run(project, NAME, config) as rec:
        report(0, len(todo), f"restoring {len(todo)} frames"
               + (f" ({len(frames) - len(todo)} already done)" if len(todo) < len(frames) else ""))
        for s in range(0, len(todo), settings.batch):
            check_cancel(cancel)
            recs = restore_frames(project, todo[s:s + settings.batch], model, dictionary,
                                  settings, model_name=str(model_path), key=key, cancel=cancel,
                                  on_item=on_item)
            for r in recs:
                n_acc += r.auto_accept
                n_empty += bool(r.details.get("no_hand"))
                raw_mm.append(r.raw.mm)
                res_mm.append(r.restored.mm)
            report(min(len(todo), s + settings.batch), len(todo), "restoring frames")
            rec.metrics = _result(frames, todo, n_acc, n_empty, raw_mm, res_mm, t0, key).to_dict()
        result = _result(frames, todo, n_acc, n_empty, raw_mm, res_mm, t0, key)
        rec.metrics = result.to_dict()
    return result


def _result(frames, todo, n_acc, n_empty, raw_mm, res_mm, t0, key) -> RestoreResult:
    n = len(raw_mm)
    return RestoreResult(len(frames), n, len(frames) - len(todo), int(n_acc), int(n_empty),
                         float(np.mean(raw_mm)) if n else float("nan"),
                         float(np.mean(res_mm)) if n else float("nan"),
                         round(time.perf_counter() - t0, 2), key)


def headline(m: dict) -> str:
    if not m.get("restored") and m.get("skipped"):
        return f"all {m['frames']} frames already restored"
    return (f"{m.get('restored', 0)} frames, {m.get('accepted', 0)} accepted; barycenter score "
            f"raw {m.get('mean_raw_mm', float('nan')):.1f} -> restored "
            f"{m.get('mean_restored_mm', float('nan')):.1f} mm")


def done(project) -> bool:
    return project.n_restorations() > 0
