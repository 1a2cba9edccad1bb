"""``handpose-studio evaluate --what restoration``: the Table 2 ablation and the quality check.

On the project's labelled frames (the test split's when it has any): per-pixel and
per-class accuracy of the raw f_s prediction, of nearest-neighbour restoration without
integration (centre labels) and with the paper's W x W integration — the same matches
for both — then the barycenter quality check on every frame: how many restorations it
rejects, and whether the ones it accepts really are better than those it rejects.
"""

from __future__ import annotations


def restoration_report(project, split: str | None = None, *, dictionary_dir=None,
                       backend: str = "annoy", progress=None, cancel=None) -> dict:
    from pathlib import Path

    import numpy as np

    from ..datasets.crop import CropTransform
    from ..evaluation import segmentation_accuracy
    from ..restoration.dictionary import Dictionary
    from ..restoration.quality import accept_restoration, quality_score
    from ..restoration.restore import apply_matches, restore_many
    from ..skeleton import joints_36_to_14
    from ..training.checkpoint import load_segnet
    from ..training.pretrain_seg import current_segnet, labelled_real_crops
    from ..training.segmentation import predict_labels

    frames, depth, gt = labelled_real_crops(project, split, cancel=cancel)
    if not frames:
        raise ValueError(f"{project.root}: no labelled frames to evaluate on")
    dictionary = Dictionary.load(Path(dictionary_dir) if dictionary_dir
                                 else project.path("dictionary"))
    ckpt = current_segnet(project)
    model, _, _ = load_segnet(ckpt)
    raw = predict_labels(model, depth, cancel=cancel)
    rest = restore_many(raw, dictionary, backend=backend, progress=progress, cancel=cancel)
    integ = np.stack([r.labels for r in rest])
    plain = np.stack([apply_matches(raw[i], r.centers, dictionary.patches[r.neighbours],
                                    integrate=False)[0] for i, r in enumerate(rest)])
    _, tfs, _ = project.crops(frames)
    accepted = np.zeros(len(frames), bool)
    score_raw = np.zeros(len(frames))
    score_res = np.zeros(len(frames))
    for i, f in enumerate(frames):
        tf = CropTransform.from_array(tfs[i])
        j14 = joints_36_to_14(project.joints_uvd(f))
        qr = quality_score(raw[i], depth[i], tf, j14)
        qs = quality_score(integ[i], depth[i], tf, j14)
        score_raw[i], score_res[i] = qr.total_mm, qs.total_mm
        accepted[i] = accept_restoration(qr, qs) and rest[i].n_queries > 0

    def acc(pred, sel=slice(None)):
        return segmentation_accuracy(pred[sel], gt[sel]).to_dict()

    out = {"frames": len(frames), "splits": sorted({f.split for f in frames}),
           "checkpoint": str(ckpt), "dictionary": str(dictionary.path),
           "dictionary_patches": int(dictionary.meta.get("n_patches", len(dictionary.patches))),
           "backend": backend,
           "table2": {"no restoration": acc(raw), "NN, no integration": acc(plain),
                      "NN, integration": acc(integ)},
           "quality_check": {"accepted": int(accepted.sum()),
                             "rejected": int((~accepted).sum()),
                             "rejection_rate": float((~accepted).mean()),
                             "mean_score_raw_mm": float(score_raw.mean()),
                             "mean_score_restored_mm": float(score_res.mean())}}
    for name, sel in (("accepted", accepted), ("rejected", ~accepted)):
        if sel.any():
            out["quality_check"][name + "_frames"] = {
                "raw": acc(raw, sel), "restored": acc(integ, sel)}
    return out


def report(project, args) -> dict:
    from ..progress import TerminalProgress

    return restoration_report(project, args.split, progress=TerminalProgress("restoring"))


def print_text(rep: dict) -> None:
    from .tables import pct, print_seg_table

    cols = {k: {"frames": rep["frames"], **v} for k, v in rep["table2"].items()}
    print_seg_table(cols, f"Table 2 on {rep['frames']} labelled frames "
                    f"({', '.join(rep['splits'])}); dictionary of {rep['dictionary_patches']:,} "
                    f"patches, {rep['backend']} search:")
    q = rep["quality_check"]
    print(f"\nquality check: {q['accepted']} accepted, {q['rejected']} rejected "
          f"(rejection rate {100 * q['rejection_rate']:.1f} %); mean barycenter score "
          f"raw {q['mean_score_raw_mm']:.0f} mm, restored {q['mean_score_restored_mm']:.0f} mm")
    for name in ("accepted", "rejected"):
        s = q.get(name + "_frames")
        if s:
            print(f"  {name:<9} frames: per-pixel raw {pct(s['raw']['per_pixel'])} -> restored "
                  f"{pct(s['restored']['per_pixel'])} %, per-class raw "
                  f"{pct(s['raw']['per_class'])} -> restored {pct(s['restored']['per_class'])} %")
