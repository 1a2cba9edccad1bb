"""Segmentation accuracy per method and per frame, for the evaluation dashboard.

The rows are those of ``handpose-studio evaluate`` (Tables 2 and 3 of the seed paper):
the raw f_s prediction, the restore stage's stored maps, nearest-neighbour restoration
without and with integration and the two CRF restorations (recomputed with the
project's dictionary, as ``evaluate --what restoration`` does), and the fine-tuned f_s
when the project has one.
They are computed by the same calls as ``segmentation_report`` and
``restoration_report`` of :mod:`handpose_core.stages.evaluate` on the same frames (Table 2
through :func:`handpose_core.restoration.ablation.nn_restorations`), kept per frame as
confusion matrices; the totals (``accuracy_from_confusion`` of their sum) are the
command's numbers exactly (tested), and the per-frame rows give the worst frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..datasets.crop import CropTransform
from ..errors import BadInput
from ..evaluation import SegAccuracy, accuracy_from_confusion, segmentation_confusion
from ..nets.inference import load_segnet_model, predict_labels, segnet_path
from ..restoration import crf
from ..restoration import joint_prior as jp
from ..restoration.ablation import nn_restorations
from ..restoration.dictionary import Dictionary
from ..skeleton import joints_36_to_14

RAW, STORED, PLAIN, INTEG, FINE = ("raw f_s", "restored (stored)", "NN, no integration",
                                   "NN, integration", "fine-tuned f_s")
CRF_POTTS, CRF_OVERLAP = "CRF, Potts-like", "CRF, patch-overlap Hamming"  # crf.ROW_NAMES
JOINTS = "joints only (no f_s, no patches)"
METHODS = (RAW, STORED, PLAIN, INTEG, CRF_POTTS, CRF_OVERLAP, JOINTS, FINE)
REPORT_KEYS = {RAW: ("segmentation", "raw"), STORED: ("segmentation", "restored"),
               PLAIN: ("restoration", "NN, no integration"),
               INTEG: ("restoration", "NN, integration"),
               CRF_POTTS: ("restoration", CRF_POTTS), CRF_OVERLAP: ("restoration", CRF_OVERLAP),
               JOINTS: ("restoration", jp.JOINTS_ONLY_ROW),
               FINE: ("segmentation", "fine-tuned")}
"""Where each row appears in ``evaluate --json``: (``--what``, results / table2 key)."""


@dataclass(frozen=True)
class MethodScores:
    """One method's confusions on the frames it was measured on.

    ``frame_ids`` ``(N,)``; ``confusions`` ``(N, 21, 21)`` int64 (rows ground truth).
    """

    name: str
    frame_ids: tuple[int, ...]
    confusions: np.ndarray = field(repr=False)
    source: str = ""

    @cached_property
    def total(self) -> SegAccuracy:
        """Accuracy of the summed confusions (computed once: the GUI reads it often)."""
        return accuracy_from_confusion(self.confusions.sum(axis=0))

    def per_frame(self) -> np.ndarray:
        """``(N,)`` per-pixel accuracy of each frame on its ground-truth hand pixels (NaN
        for a frame without hand pixels); computed once."""
        return self._per_frame

    @cached_property
    def _per_frame(self) -> np.ndarray:
        c = self.confusions
        hand = c[:, 1:, :].sum(axis=(1, 2))
        correct = np.einsum("nii->ni", c)[:, 1:].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(hand > 0, correct / np.maximum(hand, 1), np.nan)
        acc.setflags(write=False)
        return acc

    @cached_property
    def _worst_order(self) -> np.ndarray:
        """Frame indices by per-pixel accuracy, worst first; frames without hand pixels
        left out."""
        acc = self._per_frame
        order = np.argsort(np.where(np.isnan(acc), np.inf, acc), kind="stable")
        return order[~np.isnan(acc[order])]

    def worst(self, k: int = 10) -> list[tuple[int, float]]:
        """The ``k`` frames with the lowest per-pixel accuracy, worst first."""
        acc = self._per_frame
        return [(self.frame_ids[i], float(acc[i])) for i in self._worst_order[:k].tolist()]

    def prepare(self) -> MethodScores:
        """Compute what the dashboard reads (the total, the per-frame accuracies and their
        order) now, in the calling thread: the worker that measured, not the GUI thread
        that shows it (8,252 frames: tens of ms of numpy on it otherwise)."""
        _ = self.total, self._worst_order
        return self


@dataclass(frozen=True)
class DashboardScores:
    frame_ids: tuple[int, ...]
    methods: dict[str, MethodScores]
    missing: dict[str, str]  # method -> why it has no row

    def __post_init__(self):
        for m in self.methods.values():  # in the worker that made them (MethodScores.prepare)
            m.prepare()


def _confusions(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return np.stack([segmentation_confusion(p, g) for p, g in zip(pred, gt)]).astype(np.int64)


def _add_crf_rows(project, methods, missing, raw, gt, ids, dictionary, backend, progress,
                  cancel) -> None:
    """The two CRF rows (:func:`..restoration.crf.crf_rows`, the weights ``evaluate``
    uses: tuned once, cached in the project)."""
    if backend != "annoy":
        missing[CRF_POTTS] = missing[CRF_OVERLAP] = "the CRF needs the annoy search"
        return

    def prog(d, t, m=""):
        if progress:
            progress(d, t, f"{m} {d}/{t}")

    r = crf.crf_rows(raw, dictionary, cache=crf.project_weight_cache(project), progress=prog,
                     cancel=cancel)
    for m, maps in r.maps.items():
        methods[crf.ROW_NAMES[m]] = MethodScores(
            crf.ROW_NAMES[m], ids, _confusions(maps, gt),
            f"{dictionary.path}, weight {r.weights[m]:g}")


def _phase(progress, name: str):
    """``progress`` for one phase: its own done / total, the message naming the phase."""
    if progress is None:
        return None
    return lambda done, total, message="": progress(done, total, f"{name}: {message}")


def evaluation_frames(project, scope: str = "labelled", split: str | None = None, *,
                      progress=None, cancel=None):
    """``(frames, depth (N,S,S), transforms (N,11), labels (N,S,S))`` the dashboard
    measures on, each frame's crop read once (:meth:`.Project.crops`).

    ``scope`` "labelled": the frames ``handpose-studio evaluate`` uses (the test split's
    labelled frames when there are any); "eval_set": the evaluation set's frames that are
    labelled (marked done, or labelled by the dataset). Frames not in the crop cache are
    cropped first (``progress(done, total, "cropping ...")``).
    """
    if scope == "labelled":
        frames = project.evaluation_frames(split)
    elif scope == "eval_set":
        ids = set(project.eval_set())
        frames = [f for f in project.frames(split, labelled=True) if f.id in ids]
    else:
        raise BadInput(f"unknown scope {scope!r} (labelled or eval_set)")
    s = project.crop_size
    if not frames:
        return ([], np.zeros((0, s, s), np.float32), np.zeros((0, 11), np.float64),
                np.zeros((0, s, s), np.uint8))
    return (frames, *project.crops(frames, progress=progress, cancel=cancel))


def dashboard_scores(project, scope: str = "labelled", split: str | None = None, *,
                     restoration: bool = True, dictionary_dir=None, backend: str = "annoy",
                     progress=None, cancel=None) -> DashboardScores:
    """Measure every available method on the ``scope`` frames (see the module docstring).

    ``restoration`` False skips the (slow) recomputed restorations. Raises ``ValueError``
    when there is no labelled frame.
    """
    frames, depth, tfs, gt = evaluation_frames(project, scope, split, progress=progress,
                                               cancel=cancel)
    if not frames:
        raise BadInput(f"{project.root}: no labelled frames to evaluate on"
                       + (" in the evaluation set (mark frames done)" if scope == "eval_set"
                            else ""))
    ids = tuple(f.id for f in frames)
    methods: dict[str, MethodScores] = {}
    missing: dict[str, str] = {}
    if progress:
        progress(0, 4, "raw f_s")
    ckpt = segnet_path(project)
    raw = predict_labels(load_segnet_model(ckpt), depth, cancel=cancel,
                         progress=_phase(progress, "raw f_s"))
    methods[RAW] = MethodScores(RAW, ids, _confusions(raw, gt), str(ckpt))

    recs = [project.restoration(f.id) for f in frames]
    have = [i for i, r in enumerate(recs) if r is not None]
    if have:
        stored = np.stack([project.restored_maps(recs[i])[1] for i in have])
        methods[STORED] = MethodScores(STORED, tuple(ids[i] for i in have),
                                       _confusions(stored, gt[have]), "restore stage")
    else:
        splits = sorted({f.split for f in frames})
        missing[STORED] = (f"none of these {len(frames)} frames is restored yet (train restore "
                           f"--split {splits[0] if len(splits) == 1 else 'all'})")

    # what the joints alone give (the baseline of the default joint-prior restoration)
    try:
        alone = np.stack([jp.joints_only_map(joints_36_to_14(project.joints_uvd(f)),
                                             CropTransform.from_array(t), d)
                          for f, t, d in zip(frames, tfs, depth)])
        methods[JOINTS] = MethodScores(JOINTS, ids, _confusions(alone, gt), "annotated joints")
    except ValueError as e:  # a frame without 14 finite joints
        missing[JOINTS] = f"no joint-only maps: {e}"

    ft = segnet_path(project, "finetuned")
    if ft is not None:
        if progress:
            progress(1, 4, "fine-tuned f_s")
        fine = predict_labels(load_segnet_model(ft), depth, cancel=cancel,
                              progress=_phase(progress, "fine-tuned f_s"))
        methods[FINE] = MethodScores(FINE, ids, _confusions(fine, gt), str(ft))
    else:
        missing[FINE] = "no fine-tuned f_s yet"

    ddir = Path(dictionary_dir) if dictionary_dir else project.root / "dictionary"
    if not restoration:
        missing[PLAIN] = missing[INTEG] = "not computed (restoration off)"
        missing[CRF_POTTS] = missing[CRF_OVERLAP] = missing[PLAIN]
    elif not (ddir / "meta.json").exists():
        missing[PLAIN] = missing[INTEG] = "no patch dictionary (train build-dictionary)"
        missing[CRF_POTTS] = missing[CRF_OVERLAP] = missing[PLAIN]
    else:
        dictionary = Dictionary.load(ddir)

        def prog(d, t, m=""):
            if progress:
                progress(d, t, f"restoring {d}/{t}")

        nn = nn_restorations(raw, dictionary, backend=backend, progress=prog, cancel=cancel)
        methods[PLAIN] = MethodScores(PLAIN, ids, _confusions(nn.plain, gt), str(dictionary.path))
        methods[INTEG] = MethodScores(INTEG, ids, _confusions(nn.integrated, gt),
                                      str(dictionary.path))
        _add_crf_rows(project, methods, missing, raw, gt, ids, dictionary, backend, progress,
                      cancel)
    if progress:
        progress(4, 4, "done")
    return DashboardScores(ids, {m: methods[m] for m in METHODS if m in methods}, missing)
