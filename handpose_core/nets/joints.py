"""Joint prediction with a project's trained f_r: crops -> full-frame u, v, d.

:class:`JointPredictor` holds what one variant of Table 4 needs at test time -- its
f_r, the f_s whose segmentation feeds it (variants c and d), and for the cascade (b) the
first step -- and maps depth frames with hand centres to 14 joints ``(N, 14, 3)``
(u px, v px, d mm). The stages, ``evaluate``, ``predict`` and the pipeline benchmark all
predict through it.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets.crop import crop_depth, crop_transform
from ..errors import BadInput
from ..fileio import read_toml
from ..progress import check_cancel
from .checkpoint import load_regnet
from .inference import load_segnet_model, segnet_path
from .model_paths import model_path, set_model_path
from .regnet import VARIANTS, RegNet, target_to_uvd

PALM_14 = 13
"""The palm centre in the 14-joint order."""

_META = {v: f"regnet_{v}" for v in VARIANTS}


def regnet_path(project, variant: str) -> Path | None:
    """The project's f_r checkpoint of ``variant`` (None until train-reg ran for it)."""
    if variant not in VARIANTS:
        raise BadInput(f"unknown f_r variant {variant!r}; expected one of {VARIANTS}")
    return model_path(project, _META[variant])


def set_regnet_path(project, variant: str, path: str | os.PathLike) -> None:
    """Make ``path`` the project's f_r of ``variant`` (stored relative to the project)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown f_r variant {variant!r}; expected one of {VARIANTS}")
    set_model_path(project, _META[variant], path)


def trained_variants(project) -> list[str]:
    """Variants with a trained f_r in the project, in Table 4 order."""
    return [v for v in VARIANTS if regnet_path(project, v) is not None]


def _trained_with(regnet_ckpt: Path) -> Path | None:
    """The f_s whose segmentations trained this f_r (its run's config.toml), if it is
    still there: predicting with another f_s would feed f_r maps it never saw. No
    config.toml: None; one that does not read, or whose ``data.segnet`` is not a path:
    ``BadInput`` naming it (guessing would pair f_r with an f_s it never saw)."""
    cfg = regnet_ckpt.parent / "config.toml"
    try:
        toml = read_toml(cfg)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise BadInput(f"{cfg}: cannot read the run's config ({e.strerror})") from None
    data = toml.get("data", {})
    seg = data.get("segnet") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(seg, (str, type(None))):
        raise BadInput(f"{cfg}: [data] segnet must be the path of the f_s the run used, got "
                       f"{seg if isinstance(data, dict) else data!r}")
    return Path(seg) if seg and Path(seg).is_file() else None


def _read_cascade(path: Path) -> dict:
    """cascade.json: ``first`` (the path of step 1's f_r), ``first_cube_mm`` and
    ``cube_mm`` (positive numbers); ``BadInput`` naming the file otherwise."""
    try:
        info = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as e:
        raise BadInput(f"{path}: cascade description missing or unreadable ({e})") from None
    if not isinstance(info, dict):
        raise BadInput(f"{path}: the cascade description is a JSON object, got "
                       f"{type(info).__name__}")
    if not isinstance(info.get("first"), str) or not info["first"]:
        raise BadInput(f"{path}: 'first' must be the path of the cascade's first f_r, got "
                       f"{info.get('first')!r}")
    out = {"first": info["first"]}
    for k in ("first_cube_mm", "cube_mm"):
        v = info.get(k)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 10_000:
            raise BadInput(f"{path}: {k!r} must be a crop cube in mm, got {v!r}")
        out[k] = float(v)
    return out


class _EmptyCrop(Exception):
    def __init__(self, index: int):
        super().__init__(index)
        self.index = index


@dataclass
class JointPredictor:
    """f_r of one variant with what it needs: ``segnet`` (c, d), ``first`` and
    ``first_cube_mm`` (b: the first step and its crop cube; ``cube_mm`` is then the
    refinement's tighter cube)."""

    regnet: RegNet
    cube_mm: float
    segnet: object | None = None
    first: RegNet | None = None
    first_cube_mm: float = 0.0

    @property
    def variant(self) -> str:
        return self.regnet.config.variant

    @property
    def size(self) -> int:
        return self.regnet.config.in_size

    @classmethod
    def for_project(cls, project, variant: str, checkpoint=None) -> JointPredictor:
        """Load the project's trained ``variant`` (or the f_r of that variant in
        ``checkpoint``, e.g. one run of an ablation); ``ValueError`` when it is not trained
        (or a model it needs is missing), naming the command that makes it."""
        path = Path(checkpoint) if checkpoint is not None else regnet_path(project, variant)
        if path is None:
            raise BadInput(f"{project.root}: no f_r of variant '{variant}' yet; run "
                           f"'handpose-studio train train-reg --project {project.root} "
                           f"--variant {variant}'")
        model, _, _ = load_regnet(path, variant=variant)
        model.fuse()
        segnet, first, first_cube = None, None, 0.0
        cube = project.cube_mm
        if variant in ("c", "d"):
            which = "pretrained" if variant == "c" else "finetuned"
            sp = _trained_with(path) or segnet_path(project, which)
            if sp is None:
                raise BadInput(f"{project.root}: variant d needs the fine-tuned f_s; run "
                               "'handpose-studio train finetune-seg' first")
            # a private copy with BatchNorm folded (the cached model is shared)
            segnet = copy.deepcopy(load_segnet_model(sp)).eval().fuse()
        if variant == "b":
            info_p = path.parent / "cascade.json"
            info = _read_cascade(info_p)
            first, _, _ = load_regnet(info["first"] if Path(info["first"]).is_absolute()
                                      else project.root / info["first"], variant="a")
            first.fuse()
            first_cube, cube = info["first_cube_mm"], info["cube_mm"]
        return cls(model, cube, segnet, first, first_cube)

    # ------------------------------------------------------------------ prediction
    def predict_crops(self, crops: np.ndarray, tfs: np.ndarray, *, model: RegNet | None = None,
                      batch: int = 256) -> np.ndarray:
        """One network step on crops ``(N, S, S)`` with transforms ``(N, 11)`` ->
        full-frame ``(N, 14, 3)`` u, v, d (segmenting first for variants c, d)."""
        model = model or self.regnet
        labels = None
        if model.config.segmented:
            labels, _ = self.segnet.predict(np.asarray(crops, np.float32), batch=batch,
                                            probabilities=False)
        return target_to_uvd(model.predict(crops, labels, batch=batch), tfs)

    def predict_frames(self, depths, centres: np.ndarray, *, batch: int = 64, progress=None,
                       cancel=None, names=None) -> np.ndarray:
        """Depth frames (a sequence of ``(480, 640)`` uint16 mm, or a callable ``i ->
        frame`` with ``len(centres)`` frames) and hand centres ``(N, 3)`` (u, v, d) ->
        ``(N, 14, 3)`` full-frame u, v, d. A crop without one valid depth pixel raises a
        ``ValueError`` naming the frame (``names[i]``, else its index)."""
        centres = np.asarray(centres, np.float64)
        n = len(centres)
        get = depths if callable(depths) else (lambda i: depths[i])
        out = np.empty((n, 14, 3), np.float64)
        for s in range(0, n, batch):
            check_cancel(cancel)
            idx = range(s, min(n, s + batch))
            frames = [get(i) for i in idx]
            try:
                out[s:s + len(frames)] = self._predict_batch(frames, centres[s:s + len(frames)])
            except _EmptyCrop as e:
                k = s + e.index
                name = names[k] if names is not None else f"frame {k}"
                raise BadInput(f"{name}: no valid depth in the hand crop around "
                               f"({centres[k][0]:.0f}, {centres[k][1]:.0f}, "
                               f"{centres[k][2]:.0f} mm): nothing to predict from") from None
            if progress is not None:
                progress(s + len(frames), n, "predicting joints")
        return out

    def _predict_batch(self, frames, centres) -> np.ndarray:
        if self.first is not None:  # cascade: step 1 on the standard crop
            uvd1 = self._step(frames, centres, self.first, self.first_cube_mm)
            centres = uvd1[:, PALM_14]
        return self._step(frames, centres, self.regnet, self.cube_mm)

    def _step(self, frames, centres, model: RegNet, cube: float) -> np.ndarray:
        s = model.config.in_size
        tfs = [crop_transform(c, cube, s) for c in centres]
        crops = np.stack([crop_depth(f, tf) for f, tf in zip(frames, tfs)])
        empty = np.nonzero((crops >= 1.0).all(axis=(1, 2)))[0]
        if len(empty):
            raise _EmptyCrop(int(empty[0]))
        return self.predict_crops(crops, np.stack([tf.to_array() for tf in tfs]), model=model)


CENTRES = ("gt", "detect", "refine")
"""How crops are centred: ground-truth palm, detected from depth alone, or detected and
then moved to the palm centre that the project's variant a predicts there."""


def refine_centres(project, depths, centres: np.ndarray, *, names=None, cancel=None
                   ) -> np.ndarray:
    """``(N, 3)`` centres moved to the palm centre (u, v, d) that the project's variant a
    (the cascade's first step) predicts on crops around ``centres``; ``depths`` as in
    :meth:`JointPredictor.predict_frames`."""
    first = JointPredictor.for_project(project, "a")
    return first.predict_frames(depths, centres, names=names, cancel=cancel)[:, PALM_14]

