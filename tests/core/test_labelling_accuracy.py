"""The dashboard's accuracy rows equal ``handpose-studio evaluate``'s on the same project."""

from __future__ import annotations

import numpy as np
import pytest

from handpose_core.evaluation import segmentation_accuracy
from handpose_core.labelling.accuracy import (
    CRF_OVERLAP,
    CRF_POTTS,
    INTEG,
    JOINTS,
    PLAIN,
    RAW,
    REPORT_KEYS,
    STORED,
    dashboard_scores,
)
from handpose_core.project import Project
from handpose_core.render import render_crops, write_nyu_layout
from handpose_core.restoration import Dictionary
from handpose_core.stages.evaluate import restoration_report, segmentation_report


@pytest.fixture
def project(tmp_path):
    write_nyu_layout(tmp_path / "nyu", 5, split="test", seed=8)
    p = Project.create(tmp_path / "proj", tmp_path / "nyu", kind="nyu")
    yield p
    p.close()


def _store_restorations(project, frames, lab):
    """Stored restorations for some frames, as the restore stage leaves them."""
    from handpose_core.restoration.quality import quality_score
    from handpose_core.skeleton import joints_36_to_14

    for f, gt in zip(frames, lab):
        noisy = gt.copy()
        noisy[::3, ::3] = 0
        depth, tf, _ = project.crop(f)
        j14 = joints_36_to_14(project.joints_uvd(f))
        project.save_restoration(f, model="m", raw=gt, restored=noisy,
                                 score_raw=quality_score(gt, depth, tf, j14),
                                 score_restored=quality_score(noisy, depth, tf, j14),
                                 auto_accept=False)


def _same(row, rep):
    assert row.per_pixel == rep["per_pixel"] and row.per_class == rep["per_class"]
    assert [None if np.isnan(x) else float(x) for x in row.class_acc] == rep["class_acc"]
    assert [int(c) for c in row.counts] == rep["counts"]


def test_segmentation_rows_and_worst_frames_equal_evaluate(project):
    frames = project.frames("test")
    _store_restorations(project, frames[1:3], project.crops(frames[1:3])[2])
    scores = dashboard_scores(project, restoration=False)
    seg = segmentation_report(project)
    assert set(scores.methods) == {RAW, STORED, JOINTS}  # the joints-only row is cheap: always there
    _same(scores.methods[RAW].total, seg["results"]["raw"])
    _same(scores.methods[STORED].total, seg["results"]["restored"])
    assert scores.methods[STORED].frame_ids == (frames[1].id, frames[2].id)
    assert "no patch dictionary" not in scores.missing[PLAIN]  # switched off, not absent
    raw = scores.methods[RAW]
    acc, worst = raw.per_frame(), raw.worst(3)
    assert len(worst) == 3 and worst[0][1] == pytest.approx(np.nanmin(acc))
    assert [w[1] for w in worst] == sorted(w[1] for w in worst)
    # per frame = evaluate restricted to that frame
    fid, a = worst[0]
    i = raw.frame_ids.index(fid)
    assert a == segmentation_accuracy(raw_pred(project)[i], project.crops(frames)[2][i]).per_pixel


def test_joints_only_row_reads_the_crops_once_and_equals_evaluates_maps(project, monkeypatch):
    """The joints-only row takes the crop transforms from the one read of the frames'
    crops (evaluation_frames) and equals the maps made with each frame's own transform,
    as evaluate's Table 2 makes them."""
    from handpose_core.restoration import joint_prior as jp
    from handpose_core.skeleton import joints_36_to_14

    crops, reads = project.crops, []

    def counted(frames, *a, **k):
        reads.append(len(frames))
        return crops(frames, *a, **k)

    monkeypatch.setattr(project, "crops", counted)
    scores = dashboard_scores(project, restoration=False)
    assert reads == [5]  # the five test frames' crops, read once
    frames = project.frames("test")
    depth, _, gt = crops(frames)
    alone = np.stack([jp.joints_only_map(joints_36_to_14(project.joints_uvd(f)),
                                         project.crop_transform(f), d)
                      for f, d in zip(frames, depth)])
    assert scores.methods[JOINTS].frame_ids == tuple(f.id for f in frames)
    _same(scores.methods[JOINTS].total, segmentation_accuracy(alone, gt).to_dict())


def test_without_restorations_of_these_frames_the_row_says_which_split_to_restore(project):
    scores = dashboard_scores(project, restoration=False)
    assert STORED not in scores.methods
    assert scores.missing[STORED] == ("none of these 5 frames is restored yet "
                                      "(train restore --split test)")


def raw_pred(project):
    from handpose_core.nets.inference import load_segnet_model, predict_labels, segnet_path

    return predict_labels(load_segnet_model(segnet_path(project)),
                          project.crops(project.frames("test"))[0])


@pytest.mark.slow
def test_table2_rows_equal_evaluate_restoration(project):
    Dictionary.build(render_crops(60, seed=3)["labels"], project.path("dictionary"),
                     max_patches=8000, n_trees=4)
    frames = project.frames("test")
    _store_restorations(project, frames[:2], project.crops(frames[:2])[2])
    scores = dashboard_scores(project)
    seg = segmentation_report(project)
    res = restoration_report(project)
    assert set(scores.methods) == {RAW, STORED, PLAIN, INTEG, CRF_POTTS, CRF_OVERLAP, JOINTS}
    assert len(scores.frame_ids) == seg["frames"] == res["frames"] == 5
    for name, m in scores.methods.items():
        what, key = REPORT_KEYS[name]
        rep = seg["results"][key] if what == "segmentation" else res["table2"][key]
        _same(m.total, rep)
    _same(scores.methods[RAW].total, res["table2"]["no restoration"])
