"""Stage ``evaluate``: segmentation accuracy (raw / restored / fine-tuned), the Table 2
restoration ablation with the quality check, on the project's labelled frames, and the
joint errors of every trained f_r variant (Table 4).

On the labelled frames (the test split's when it has any): per-pixel and per-class
accuracy of the raw f_s prediction, of the stored restorations where they exist and of
the fine-tuned f_s; then, when the project has a dictionary, nearest-neighbour
restoration without integration (centre labels) and with the paper's W x W integration
from the same matches, and the barycenter quality check: how many restorations it
rejects, and whether the accepted ones really gained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..camera import NYU_CAMERA
from ..datasets.crop import CropTransform, crop_transform
from ..detection import NoHandError, detect_center
from ..errors import BadInput
from ..evaluation import evaluate_joints, segmentation_accuracy
from ..nets.inference import load_segnet_model, predict_labels, segnet_path
from ..nets.joints import CENTRES, PALM_14, JointPredictor, refine_centres, regnet_path, trained_variants
from ..nets.regnet import VARIANT_TITLES
from ..nets.regressor_runs import regressor_runs
from ..progress import check_cancel
from ..restoration import crf
from ..restoration import joint_prior as jp
from ..restoration.ablation import nn_restorations
from ..restoration.dictionary import Dictionary
from ..restoration.quality import accept_restoration, restoration_scores
from ..restoration.restore import restore_many
from ..skeleton import joints_36_to_14
from .base import recorded_run

NAME = "evaluate"


@dataclass(frozen=True)
class EvaluateSettings:
    split: str = field(default="", metadata={
        "help": "labelled frames of this split (default: the test split's, else all)"})
    restoration: bool = field(default=True, metadata={
        "help": "also run the Table 2 restoration ablation (restores the labelled frames)"})
    joint_split: str = field(default="test", metadata={
        "help": "frames on which every trained f_r variant is measured (Table 4)"})


def _no_frames(project, split):
    return BadInput(f"{project.root}: no labelled frames to evaluate on"
                      + (f" in split {split!r}" if split else ""))


def segmentation_report(project, split: str | None = None, *, progress=None,
                        cancel=None) -> dict:
    """Accuracy of the raw, restored (stored) and fine-tuned maps on labelled frames."""
    frames, depth, labels = project.labelled_crops(split, progress=progress, cancel=cancel)
    if not frames:
        raise _no_frames(project, split)
    out = {"frames": len(frames), "splits": sorted({f.split for f in frames}), "results": {}}
    ckpt = segnet_path(project)
    raw = predict_labels(load_segnet_model(ckpt), depth, cancel=cancel)
    out["results"]["raw"] = {"frames": len(frames), "checkpoint": str(ckpt),
                             **segmentation_accuracy(raw, labels).to_dict()}
    recs = [project.restoration(f.id) for f in frames]
    have = [i for i, r in enumerate(recs) if r is not None]
    out["restored_frames"] = len(have)
    if have:
        restored = np.stack([project.restored_maps(recs[i])[1] for i in have])
        out["results"]["restored"] = {
            "frames": len(have), **segmentation_accuracy(restored, labels[have]).to_dict()}
        if len(have) < len(frames):
            out["results"]["raw (same frames)"] = {
                "frames": len(have), **segmentation_accuracy(raw[have], labels[have]).to_dict()}
    ft = segnet_path(project, "finetuned")
    if ft is not None:
        out["results"]["fine-tuned"] = {
            "frames": len(frames), "checkpoint": str(ft),
            **segmentation_accuracy(predict_labels(load_segnet_model(ft), depth, cancel=cancel),
                                    labels).to_dict()}
    return out


def restoration_report(project, split: str | None = None, *, dictionary_dir=None,
                       backend: str = "annoy", progress=None, cancel=None) -> dict:
    """Table 2 (raw, NN without and with integration, from the same matches, and the
    two CRF rows of :func:`..restoration.crf.table2_rows` at their tuned weights), the
    ceiling (the ground-truth maps restored with integration: 100 % would mean the
    dictionary reproduces every labelled frame) and the quality check on the labelled
    frames. Restores those frames afresh (the stored
    restorations hold only the integrated maps)."""
    frames = project.evaluation_frames(split)
    if not frames:
        raise _no_frames(project, split)
    depth, tfs, gt = project.crops(frames, cancel=cancel)  # each crop read once
    dictionary = Dictionary.load(Path(dictionary_dir) if dictionary_dir
                                 else project.root / "dictionary")
    ckpt = segnet_path(project)
    raw = predict_labels(load_segnet_model(ckpt), depth, cancel=cancel)
    nn = nn_restorations(raw, dictionary, backend=backend, progress=progress, cancel=cancel)
    rest, integ, plain = nn.restorations, nn.integrated, nn.plain
    # the ceiling: the ground truth itself restored (what the dictionary can reproduce)
    # (the paper's plain vote: a prior for the "raw" label would favour the ground truth)
    ceiling = np.stack([r.labels for r in restore_many(gt, dictionary, backend=backend,
                                                       raw_weight=0.0, cancel=cancel)])
    paper_vote = nn.revote(raw, dictionary, raw_weight=0.0)
    # the restore stage's default: the same matches, combined with each frame's joint
    # prior; and what the joints give by themselves (no f_s, no patches)
    j14s = [joints_36_to_14(project.joints_uvd(f)) for f in frames]
    prior_maps, joints_alone = joint_prior_rows(raw, depth, tfs, j14s, rest, dictionary)
    crf_part = crf.table2_rows(raw, gt, dictionary, cache=crf.project_weight_cache(project),
                               backend=backend, cancel=cancel)  # the two CRF rows

    def acc(pred, sel=slice(None)):
        return segmentation_accuracy(pred[sel], gt[sel]).to_dict()

    qc, accepted, gain, score_raw, score_res = quality_check(
        raw, integ, gt, depth, tfs, j14s, [r.n_queries for r in rest])
    qc_prior = quality_check(raw, prior_maps, gt, depth, tfs, j14s,
                             [r.n_queries for r in rest])[0]
    out = {"frames": len(frames), "splits": sorted({f.split for f in frames}),
           "checkpoint": str(ckpt), "dictionary": str(dictionary.path),
           "dictionary_patches": int(dictionary.meta.get("n_patches", len(dictionary.patches))),
           "backend": backend,
           "table2": {"no restoration": acc(raw), "NN, no integration": acc(plain),
                      "NN, integration": acc(integ),
                      "NN, integration, plain majority": acc(paper_vote),
                      **crf_part["rows"],
                      JOINT_PRIOR_ROW: acc(prior_maps),
                      JOINTS_ONLY_ROW: acc(joints_alone)},
           "crf": crf_part["crf"], "ceiling": acc(ceiling),
           "quality_check": qc, "quality_check_joint_prior": qc_prior}
    out["per_frame"] = {"frame_id": [int(f.id) for f in frames],
                        "gain_per_pixel": [round(float(g), 5) for g in gain],
                        "score_raw_mm": [round(float(x), 2) for x in score_raw],
                        "score_restored_mm": [round(float(x), 2) for x in score_res],
                        "accepted": [bool(a) for a in accepted]}
    return out


JOINT_PRIOR_ROW = "NN, integration + joint prior (joint-prior, the default)"
JOINTS_ONLY_ROW = jp.JOINTS_ONLY_ROW


def joint_prior_rows(raw, depth, tfs, j14s, restorations, dictionary):
    """``(joint-prior maps, joints-only maps)`` ``(N, S, S)``: the integration matches
    of ``restorations`` combined with each frame's joint prior and silhouette (the
    restore stage's default settings), and the part of highest prior on every pixel with
    depth within the default cut of the skeleton (the joints' own silhouette)."""
    from ..restoration.restore import DEFAULT_RAW_WEIGHT, DEFAULT_WINDOW, apply_matches

    prior, alone = [], []
    for r, d, t, j, res in zip(raw, depth, tfs, j14s, restorations):
        tf = CropTransform.from_array(t)
        dist = jp.part_distances(jp.crop_joints(j, tf), tf.size, jp.DEFAULT_PARAMS, d,
                                 jp.DEFAULT_DEPTH_SCALE)
        lp = jp.log_prior_from_distances(dist, jp.DEFAULT_PARAMS)
        sil = jp.joint_silhouette(r > 0, d, dist, grow=jp.DEFAULT_GROW, cut=jp.DEFAULT_CUT)
        nb = np.asarray(dictionary.patches[res.neighbours]) if res.n_queries else \
            np.zeros((0, dictionary.patch, dictionary.patch), np.uint8)
        prior.append(apply_matches(r, res.centers, nb, window=DEFAULT_WINDOW,
                                   raw_weight=DEFAULT_RAW_WEIGHT, zoom=res.zoom,
                                   log_prior=lp, prior_weight=jp.DEFAULT_WEIGHT,
                                   prior_eps=jp.DEFAULT_EPS, silhouette=sil)[0])
        alone.append(jp.joints_only_from(dist, lp, d))  # the distances computed once
    return np.stack(prior), np.stack(alone)


def quality_check(raw, restored, gt, depth, tfs, j14s, n_queries):
    """The paper's quality check of ``restored`` against ``raw`` on labelled frames:
    ``(summary dict, accepted (N,) bool, per-frame per-pixel gain, raw and restored
    mean barycenter scores (N,) mm)``."""
    n = len(raw)
    accepted = np.zeros(n, bool)
    score_raw, score_res = np.zeros(n), np.zeros(n)
    for i in range(n):
        tf = CropTransform.from_array(tfs[i])
        qr, qs = restoration_scores(raw[i], restored[i], depth[i], tf, j14s[i])
        score_raw[i], score_res[i] = qr.mean_mm, qs.mean_mm
        accepted[i] = accept_restoration(qr, qs, n_queries=n_queries[i])

    def acc(pred, sel=slice(None)):
        return segmentation_accuracy(pred[sel], gt[sel]).to_dict()

    # per frame: did restoration help (per-pixel accuracy up) or hurt?
    gain = np.array([acc(restored, [i])["per_pixel"] - acc(raw, [i])["per_pixel"]
                     for i in range(n)])
    qc = {"accepted": int(accepted.sum()), "rejected": int((~accepted).sum()),
          "rejection_rate": float((~accepted).mean()),
          "mean_score_raw_mm": float(score_raw.mean()),
          "mean_score_restored_mm": float(score_res.mean()),
          "separation": {
              "accepted_helped": int((accepted & (gain > 0)).sum()),
              "accepted_hurt": int((accepted & (gain < 0)).sum()),
              "rejected_helped": int((~accepted & (gain > 0)).sum()),
              "rejected_hurt": int((~accepted & (gain < 0)).sum())}}
    for name, sel in (("accepted", accepted), ("rejected", ~accepted)):
        if sel.any():
            qc[name + "_frames"] = {"raw": acc(raw, sel), "restored": acc(restored, sel)}
    return qc, accepted, gain, score_raw, score_res


def predict_split(project, variant: str, split: str = "test", *, centre: str = "gt",
                  checkpoint=None, progress=None, cancel=None) -> np.ndarray:
    """``(N, 14, 3)`` u, v, d of the project's ``variant`` on the frames of ``split`` (frame
    order), with crops around the ground-truth palm centre (``gt``), the hand centre
    detected from depth alone (``detect``), or that centre moved to the palm predicted
    there by the project's variant a (``refine``). ``checkpoint``: an f_r of ``variant``
    other than the project's current one (e.g. one run of an ablation)."""
    frames = project.frames(split)
    if not frames:
        raise BadInput(f"{project.root}: no frames in split {split!r}")
    pred = JointPredictor.for_project(project, variant, checkpoint)
    names = [str(project.dataset.path(f.split, "depth", f.frame, f.kinect)) for f in frames]
    if centre == "gt":
        centres = np.stack([joints_36_to_14(project.joints_uvd(f))[PALM_14] for f in frames])
    elif centre in ("detect", "refine"):
        centres = np.stack([detect_center(project.depth(f), name=n)
                            for f, n in zip(frames, names)])
        if centre == "refine":
            centres = refine_centres(project, lambda i: project.depth(frames[i]), centres,
                                     names=names, cancel=cancel)
    else:
        raise BadInput(f"centre must be one of {', '.join(CENTRES)}, got {centre!r}")
    return pred.predict_frames(lambda i: project.depth(frames[i]), centres, progress=progress,
                               cancel=cancel, names=names)


def measure_variant(project, variant: str, split: str = "test", *, centre: str = "gt",
                    checkpoint=None, progress=None, cancel=None) -> dict:
    """Joint errors of the project's ``variant`` (or of the f_r in ``checkpoint``) on
    ``split``: mean / median mm, mean px, per-joint mm and the max-frame success curve
    (0..80 mm)."""
    uvd = predict_split(project, variant, split, centre=centre, checkpoint=checkpoint,
                        progress=progress, cancel=cancel)
    gt = np.stack([joints_36_to_14(project.joints_uvd(f)) for f in project.frames(split)])
    return {**evaluate_joints(uvd, gt, name=variant).to_dict(), "centre": centre,
            "split": split}


def detection_report(project, split: str = "test", *, progress=None, cancel=None) -> dict:
    """How far the hand centre detected from depth alone lies from the ground-truth palm
    centre on the frames of ``split`` (3D, mm): mean, median, 90th percentile, maximum,
    the share within 20 / 40 mm, the share of frames whose crop (the project's cube around
    the detected centre) holds all 14 joints, and the mean offset (x, y, z mm, y up)."""
    frames = project.frames(split)
    if not frames:
        raise BadInput(f"{project.root}: no frames in split {split!r}")
    err, held, failed = [], [], []
    for k, f in enumerate(frames):
        check_cancel(cancel)
        gt = joints_36_to_14(project.joints_uvd(f))
        try:
            c = detect_center(project.depth(f), name=f.key)
        except NoHandError:
            failed.append(f.key)
            continue
        err.append(NYU_CAMERA.uvd_to_xyz(c) - NYU_CAMERA.uvd_to_xyz(gt[PALM_14]))
        x = crop_transform(c, project.cube_mm, project.crop_size).frame_to_crop(gt)
        held.append(bool((x[:, :2] >= 0).all() and (x[:, :2] <= project.crop_size - 1).all()
                         and (np.abs(x[:, 2]) <= 1).all()))
        if progress is not None:
            progress(k + 1, len(frames), "detecting hands")
    e = np.array(err).reshape(-1, 3)
    n = np.linalg.norm(e, axis=1)
    if not len(n):
        raise BadInput(f"{project.root}: no hand detected in any frame of split {split!r}")
    return {"split": split, "frames": len(frames), "no_hand": failed,
            "mean_mm": float(n.mean()), "median_mm": float(np.median(n)),
            "p90_mm": float(np.percentile(n, 90)), "max_mm": float(n.max()),
            "within_20mm": float((n <= 20).mean()), "within_40mm": float((n <= 40).mean()),
            "crop_holds_all_joints": float(np.mean(held)),
            "mean_offset_xyz_mm": [float(v) for v in e.mean(axis=0)]}


def joints_report(project, split: str = "test", *, centre: str = "gt", runs: bool = False,
                  progress=None, cancel=None) -> dict:
    """Table 4 on the project: :func:`measure_variant` for every trained f_r variant, keyed
    by variant; with ``runs``, for every finished train-reg run under models/ instead (an
    ablation's runs, e.g. one per guidance kind), keyed by run folder, each with its
    ``variant``, ``guidance`` and whether it is the project's ``current`` f_r."""
    out = {"split": split, "centre": centre, "runs": runs, "variants": {}}
    if runs:
        found = regressor_runs(project)
        if not found:
            raise BadInput(f"{project.root}: no finished train-reg run under "
                           f"{project.path('models')}")
        for r in found:
            out["variants"][r.name] = {
                "title": r.title, "variant": r.variant, "guidance": r.guidance,
                "guidance_weight": r.guidance_weight, "guidance_at": r.guidance_at,
                "guidance_feedback": r.guidance_feedback,
                "checkpoint": str(r.checkpoint), "current": r.current,
                **measure_variant(project, r.variant, split, centre=centre,
                                  checkpoint=r.checkpoint, progress=progress, cancel=cancel)}
        return out
    variants = trained_variants(project)
    if not variants:
        raise BadInput(f"{project.root}: no trained f_r yet; run 'handpose-studio train "
                       "train-reg --variant a|b|c|d'")
    for v in variants:
        out["variants"][v] = {"title": VARIANT_TITLES[v], "checkpoint": str(regnet_path(project, v)),
                              **measure_variant(project, v, split, centre=centre,
                                                progress=progress, cancel=cancel)}
    return out


def run(project, settings: EvaluateSettings = EvaluateSettings(), *, progress=None,
        cancel=None, on_item=None) -> dict:
    """Both reports (the restoration one when asked and a dictionary exists)."""
    split = settings.split or None
    with recorded_run(project, NAME, asdict(settings)) as rec:
        rep = {"segmentation": segmentation_report(project, split, progress=progress,
                                                   cancel=cancel)}
        if settings.restoration and (project.root / "dictionary" / "meta.json").exists():
            rep["restoration"] = restoration_report(project, split, progress=progress,
                                                    cancel=cancel)
        if trained_variants(project):
            rep["joints"] = joints_report(project, settings.joint_split, progress=progress,
                                          cancel=cancel)
            rec.metrics.update({f"joints_{v}_mean_mm": r["mean_mm"]
                                for v, r in rep["joints"]["variants"].items()})
        seg = rep["segmentation"]["results"]
        rec.metrics.update({k.replace(" ", "_") + "_per_pixel": v["per_pixel"]
                            for k, v in seg.items()})
        rec.metrics.update({k.replace(" ", "_") + "_per_class": v["per_class"]
                            for k, v in seg.items()})
        if "restoration" in rep:
            t2 = rep["restoration"]["table2"]
            rec.metrics["table2_per_pixel"] = {k: v["per_pixel"] for k, v in t2.items()}
    return rep


def headline(m: dict) -> str:
    parts = [f"{k[:-10]} {100 * v:.1f} %" for k, v in m.items()
             if k.endswith("_per_pixel") and isinstance(v, float) and "same" not in k]
    joints = [f"{k[7]} {v:.1f}" for k, v in m.items()
              if k.startswith("joints_") and k.endswith("_mean_mm")]
    s = "per pixel: " + ", ".join(parts) if parts else ""
    return s + (("; " if s else "") + "joints mm: " + ", ".join(joints) if joints else "")


def done(project) -> bool:
    r = project.last_run(NAME)
    return r is not None and r.outcome == "completed"
