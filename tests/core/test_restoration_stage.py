"""The restore stage on a project: scores and decisions reach the store and persist."""

from __future__ import annotations

import numpy as np
import pytest

from handpose_core.datasets.crop import CropTransform, crop_labels
from handpose_core.parts import FINGER_PARTS
from handpose_core.project import Project
from handpose_core.render import render_crops, write_nyu_layout
from handpose_core.restoration import Dictionary, accept_restoration, quality_score
from handpose_core.restoration.noise import corrupt_labels
from handpose_core.restoration.stage import RestoreStageConfig, restore_project
from handpose_core.skeleton import joints_36_to_14


class NoisyOracle:
    """Stands in for f_s: the true label crop with network-like noise."""

    def __init__(self, project):
        self.project = project
        self.calls = 0

    def predict(self, depth, probabilities=False):
        self.calls += 1
        out = []
        for d in depth:
            f = next(f for f in self.project.frames("train")
                     if np.array_equal(self.project.crops([f])[0][0], d))
            tf = self.project.crop_transform(f)
            out.append(corrupt_labels(crop_labels(self.project.labels(f), tf), f.id))
        return np.stack(out), None


@pytest.fixture
def project(tmp_path):
    write_nyu_layout(tmp_path / "nyu", 4, split="train", seed=11)
    p = Project.create(tmp_path / "proj", tmp_path / "nyu", kind="nyu")
    yield p
    p.close()


def test_restore_stage_stores_scores_and_keeps_overrides(project, tmp_path):
    d = Dictionary.build(render_crops(100, seed=3)["labels"], project.path("dictionary"),
                         max_patches=20000, n_trees=4)
    oracle = NoisyOracle(project)
    res = restore_project(project, oracle, d, RestoreStageConfig(batch=3), model_name="oracle")
    assert res.frames == 4 and oracle.calls == 2 and 0 <= res.accepted <= 4
    recs = project.restorations()
    assert len(recs) == 4
    for rec in recs.values():
        raw, restored = project.restored_maps(rec)
        assert raw.shape == restored.shape == (48, 48)
        assert rec.auto_accept == (rec.score_restored_mm < rec.score_raw_mm)
        per = rec.details["restored"]["per_joint_mm"]
        assert len(per) == 14 and per[11] is None and per[12] is None  # wrists unscored
        assert rec.details["queries"] > 0 and rec.model == "oracle"
    fid = next(iter(recs))
    project.set_override(fid, not recs[fid].auto_accept)
    project.close()
    p2 = Project.open(project.root)
    try:
        restore_project(p2, NoisyOracle(p2), Dictionary.load(p2.path("dictionary")),
                        RestoreStageConfig(limit=2))
        rec = p2.restoration(fid)
        assert rec.override is (not recs[fid].auto_accept)  # the human decision survives
        assert rec.accepted == rec.override
    finally:
        p2.close()


def test_missing_finger_is_rejected_by_the_stage_rule(project):
    """A "restoration" that deletes a finger must score worse and be rejected."""
    f = project.frames("train")[0]
    depth, tfs, truth = project.crops([f])
    gt = joints_36_to_14(project.joints_uvd(f))
    tf = CropTransform.from_array(tfs[0])
    lost = truth[0].copy()
    lost[np.isin(lost, FINGER_PARTS["index"])] = 0
    good, bad = (quality_score(m, depth[0], tf, gt) for m in (truth[0], lost))
    assert bad.total_mm > good.total_mm and not accept_restoration(good, bad)
