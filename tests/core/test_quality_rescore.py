"""The restore stage scores with the current quality check, and rescores (from the stored
maps, without restoring) what an older check scored."""

from __future__ import annotations

import numpy as np
import pytest

from handpose_core.datasets.crop import CropTransform
from handpose_core.project import Score
from handpose_core.restoration.quality import accept_restoration, restoration_scores
from handpose_core.skeleton import joints_36_to_14


def test_stored_scores_are_the_checks_and_an_older_checks_are_rescored(make_nyu_project):
    from handpose_core.render import render_crops
    from handpose_core.restoration.dictionary import Dictionary
    from handpose_core.stages import restore as restore_stage
    from handpose_core.stages.restore import RestoreSettings, scored_by_current_check

    project = make_nyu_project(2)
    Dictionary.build(render_crops(40, seed=3)["labels"], project.path("dictionary"),
                     max_patches=4000, n_trees=2)
    first = restore_stage.run(project, RestoreSettings(limit=2))
    assert first.restored == 2
    frames = project.frames()[:2]
    depth, tfs, _ = project.crops(frames)
    want = {}
    for f, d, t in zip(frames, depth, tfs):
        rec = project.restoration(f.id)
        assert scored_by_current_check(rec)
        raw, res = project.restored_maps(rec)
        q_raw, q_res = restoration_scores(raw, res, d, CropTransform.from_array(t),
                                          joints_36_to_14(project.joints_uvd(f)))
        assert rec.restored.total_mm == pytest.approx(q_res.total_mm)
        assert rec.details["restored"]["unscored_pixels"] == q_res.unscored_pixels
        want[f.id] = (accept_restoration(q_raw, q_res, n_queries=rec.details["queries"]),
                      q_res.total_mm)
    # make frame 0's record look like an older check's: no unscored_pixels, another
    # score and the opposite decision; a human override on it
    f0 = frames[0]
    old = project.restoration(f0.id)
    raw, res = project.restored_maps(old)
    details = {**old.details, "restored": {k: v for k, v in old.details["restored"].items()
                                           if k not in ("unscored_pixels", "capped")}}
    project.save_restoration(f0, model=old.model, raw=raw, restored=res,
                             score_raw=old.raw,
                             score_restored=Score(999.0, 999.0),
                             auto_accept=not want[f0.id][0], details=details,
                             run_key=old.run_key, method=old.method)
    project.set_override(f0.id, True)
    assert not scored_by_current_check(project.restoration(f0.id))
    again = restore_stage.run(project, RestoreSettings(limit=2))
    assert again.restored == 0 and again.skipped == 2  # nothing restored again
    assert project.last_run("restore").config["rescored"] == 1 and again.rescored == 1
    assert again.rescored_accepted == int(want[f0.id][0])
    rec = project.restoration(f0.id)
    assert scored_by_current_check(rec)
    assert rec.auto_accept == want[f0.id][0] and rec.override is True
    assert rec.restored.total_mm == pytest.approx(want[f0.id][1])
    assert np.array_equal(project.restored_maps(rec)[1], res)
