"""A project's trained f_r runs, and one frame through a chosen run (joints and guidance maps).

Every ``train-reg`` run has its own folder under ``PROJECT/models`` (``--run-name``, default
``train-reg-<variant>[-<guidance>]``); the project's f_r of a variant is the last one
trained. :func:`regressor_runs` lists the finished runs (those with an ``eval.json``), so
``evaluate --what joints --runs`` and the studio can show an ablation's runs side by side.
:class:`RunPredictor` loads one run with its HandMap guidance head, when it was trained
with one (``load_regnet`` drops the head: joints do not need it), and predicts a crop's
joints and the head's 14 maps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import BadInput
from .checkpoint import load_checkpoint
from .joints import JointPredictor, regnet_path
from .regnet import VARIANT_TITLES, VARIANTS

GUIDANCE_KINDS = ("heatmap", "euclidean", "geodesic")


@dataclass(frozen=True)
class RegressorRun:
    """One finished f_r run: ``name`` (its folder under models/), ``variant`` (a-d),
    ``guidance`` ("none" or the map kind its GMS head learnt), ``checkpoint`` (best, else
    last), ``current`` (the project's f_r of its variant), and how the head was trained:
    ``guidance_weight`` (0: no map loss, the head is only extra layers),
    ``guidance_at`` ("trunk" or "early") and ``guidance_feedback``."""

    name: str
    variant: str
    guidance: str
    checkpoint: Path
    current: bool
    guidance_weight: float = 1.0
    guidance_at: str = "trunk"
    guidance_feedback: bool = False

    @property
    def title(self) -> str:
        if self.guidance == "none":
            return VARIANT_TITLES[self.variant]
        g = (" + guidance head without map loss" if self.guidance_weight == 0
             else f" + {self.guidance} guidance")
        how = [w for w, on in (("early", self.guidance_at == "early"),
                               ("fed back", self.guidance_feedback)) if on]
        return f"{VARIANT_TITLES[self.variant]}{g}" + (f" ({', '.join(how)})" if how else "")


def _run_from_folder(folder: Path, current: dict[str, Path | None]) -> RegressorRun | None:
    """The run in ``folder``; None when it has no eval.json (unfinished) or is another
    stage's; ``BadInput`` naming the eval.json when it does not read as a run's report."""
    ev = folder / "eval.json"
    try:
        rep = json.loads(ev.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise BadInput(f"{ev}: not a run report ({e})") from None
    if not isinstance(rep, dict):
        raise BadInput(f"{ev}: a run report is a JSON object, got {type(rep).__name__}")
    if rep.get("stage") != "train-reg":
        return None
    if rep.get("variant") not in VARIANTS:
        raise BadInput(f"{ev}: 'variant' must be one of {', '.join(VARIANTS)}, got "
                       f"{rep.get('variant')!r}")
    if not isinstance(rep.get("checkpoint", ""), str) or \
            not isinstance(rep.get("settings") or {}, dict):
        raise BadInput(f"{ev}: 'checkpoint' must be a path and 'settings' an object")
    # the file of that name in this folder: eval.json holds the path where it was trained,
    # and a copied or moved project keeps its runs beside it
    ckpt = folder / Path(rep.get("checkpoint", "")).name
    if not ckpt.is_file():
        return None
    v = rep["variant"]
    settings = rep.get("settings") or {}
    g = settings.get("guidance") or "none"
    cur = current.get(v)
    try:
        weight = float(settings.get("guidance_weight", 1.0))
    except (TypeError, ValueError):
        raise BadInput(f"{ev}: 'guidance_weight' must be a number, got "
                       f"{settings.get('guidance_weight')!r}") from None
    return RegressorRun(folder.name, v, g if g in GUIDANCE_KINDS else "none", ckpt,
                        cur is not None and cur.resolve() == ckpt.resolve(), weight,
                        str(settings.get("guidance_at", "trunk")),
                        bool(settings.get("guidance_feedback", False)))


def regressor_runs(project, problems: list | None = None) -> list[RegressorRun]:
    """The project's finished f_r runs, by variant (Table 4 order), then guidance
    (none, heatmap, euclidean, geodesic), then folder name. A run folder whose eval.json
    does not read raises its ``BadInput``; with a ``problems`` list, that error is
    appended to it instead and the other runs are listed."""
    models = Path(project.path("models"))
    current = {v: regnet_path(project, v) for v in VARIANTS}
    runs = []
    for d in (sorted(models.iterdir()) if models.is_dir() else []):
        if not d.is_dir():
            continue
        try:
            r = _run_from_folder(d, current)
        except BadInput as e:
            if problems is None:
                raise
            problems.append(e)
            continue
        if r is not None:
            runs.append(r)
    order = ("none", *GUIDANCE_KINDS)
    return sorted(runs, key=lambda r: (VARIANTS.index(r.variant), order.index(r.guidance), r.name))


@dataclass
class RunPredictor:
    """A run's :class:`JointPredictor` and, when it has one, its guidance head (eval mode)."""

    run: RegressorRun
    joints: JointPredictor
    head: object | None  # handpose_core.guidance.head.GuidanceHead

    @classmethod
    def load(cls, project, run: RegressorRun) -> RunPredictor:
        """Load ``run`` (``ValueError`` naming the file when it cannot be read)."""
        jp = JointPredictor.for_project(project, run.variant, run.checkpoint)
        state = load_checkpoint(run.checkpoint)["model"]
        hs = {k[len("guidance_head."):]: v for k, v in state.items()
              if k.startswith("guidance_head.")}
        head = None
        if hs:
            # function-local for start-up time: the guidance package loads only for an f_r
            # trained with a guidance head
            from ..guidance.head import GuidanceHead

            try:
                w0, w_out = hs["body.0.weight"], hs["out.weight"]
                head = GuidanceHead(int(w0.shape[1]), n_joints=int(w_out.shape[0]),
                                    out_size=jp.size, hidden=int(w0.shape[0]))
                head.load_state_dict(hs)
            except (KeyError, RuntimeError) as e:
                raise BadInput(f"{run.checkpoint}: guidance head does not load ({e})") from None
            head.eval()
        return cls(run, jp, head)

    @property
    def has_head(self) -> bool:
        return self.head is not None

    def predict_crop(self, depth_crop: np.ndarray, transform_array: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray | None]:
        """One crop ``(S, S)`` float32 in [-1, 1] with its crop transform ``(11,)`` ->
        ``(joints (14, 3) full-frame u px, v px, d mm, maps (14, S, S) float32 in [0, 1]
        or None without a head)``. Variants c and d segment the crop with their f_s first.
        The cascade (b) refines on its own tighter crop, so its joints come from
        :meth:`JointPredictor.predict_frames` on the frame; use :meth:`predict_frame`."""
        crop = np.asarray(depth_crop, np.float32)[None]
        tf = np.asarray(transform_array, np.float64)[None]
        uvd = self.joints.predict_crops(crop, tf)[0]
        if self.head is None:
            return uvd, None
        with torch.inference_mode():  # the head reads the trunk (or c1), which sees depth only
            feats = self.joints.regnet.guidance_features(torch.from_numpy(crop[:, None].copy()))
            maps = self.head(feats)[0].numpy().astype(np.float32)
        return uvd, maps

    def predict_frame(self, depth_frame: np.ndarray, centre_uvd: np.ndarray, depth_crop: np.ndarray,
                      transform_array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """As :meth:`predict_crop` for the frame's crop, except that the cascade (b) predicts
        from the full ``(480, 640)`` depth frame around ``centre_uvd`` (3,)."""
        if self.run.variant == "b":
            return self.joints.predict_frames([depth_frame], np.asarray(centre_uvd)[None])[0], None
        return self.predict_crop(depth_crop, transform_array)
