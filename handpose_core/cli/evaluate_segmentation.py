"""``handpose-studio evaluate --what segmentation``: raw / restored / fine-tuned accuracy.

On the project's labelled frames (the test split's when it has any): the raw f_s
prediction, the restored maps of the restore stage where they exist, and the fine-tuned
f_s when the project has one; per-pixel and per-class accuracy and a per-class table.
"""

from __future__ import annotations


def segmentation_report(project, split: str | None = None, *, progress=None,
                        cancel=None) -> dict:
    import numpy as np

    from ..evaluation import segmentation_accuracy
    from ..training.checkpoint import load_segnet
    from ..training.pretrain_seg import current_segnet, labelled_real_crops
    from ..training.segmentation import predict_labels

    frames, depth, labels = labelled_real_crops(project, split, progress=progress, cancel=cancel)
    if not frames:
        raise ValueError(f"{project.root}: no labelled frames to evaluate on"
                         + (f" in split {split!r}" if split else ""))
    out = {"frames": len(frames), "splits": sorted({f.split for f in frames}), "results": {}}
    ckpt = current_segnet(project)
    model, _, _ = load_segnet(ckpt)
    raw = predict_labels(model, depth, cancel=cancel)
    out["results"]["raw"] = {"frames": len(frames), "checkpoint": str(ckpt),
                             **segmentation_accuracy(raw, labels).to_dict()}
    recs = [project.restoration(f.id) for f in frames]
    have = [i for i, r in enumerate(recs) if r is not None]
    if have:
        restored = np.stack([project.restored_maps(recs[i])[1] for i in have])
        out["results"]["restored"] = {
            "frames": len(have), **segmentation_accuracy(restored, labels[have]).to_dict()}
        out["results"]["raw (same frames)"] = {
            "frames": len(have), **segmentation_accuracy(raw[have], labels[have]).to_dict()}
    ft = project.get_meta("segnet_finetuned")
    if ft:
        ftm, _, _ = load_segnet(project.root / ft)
        out["results"]["fine-tuned"] = {
            "frames": len(frames), "checkpoint": ft,
            **segmentation_accuracy(predict_labels(ftm, depth, cancel=cancel), labels).to_dict()}
    return out


def report(project, args) -> dict:
    return segmentation_report(project, args.split)


def print_text(rep: dict) -> None:
    from .tables import print_seg_table

    print_seg_table(rep["results"], f"segmentation accuracy on {rep['frames']} labelled frames "
                    f"({', '.join(rep['splits'])}), ground-truth hand pixels:")
