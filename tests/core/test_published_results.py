"""Published NYU prediction files against the published ground truth (opt-in).

The files are not shipped (8252 lines each). Point ``HANDPOSE_NYU_RESULTS`` at a folder
holding ``nyu_test_groundtruth_label.txt`` and any of the prediction files below (the
community's evaluation collection uses these names); each present file must give the
mean error the community reports, to three decimals.
"""

import os
from pathlib import Path

import pytest

from handpose_core.evaluation import evaluate_joints, read_predictions

PUBLISHED_MEAN_MM = {
    "ICCVW17_NYU_DeepPrior++.txt": 12.238,
    "CVPR18_NYU_V2V_PoseNet.txt": 8.419,
    "CVWW15_NYU_Prior.txt": 20.750,
}

ROOT = Path(os.environ.get("HANDPOSE_NYU_RESULTS", "/nonexistent"))


@pytest.mark.parametrize("name, mean_mm", sorted(PUBLISHED_MEAN_MM.items()))
def test_published_mean_error(name, mean_mm):
    gt_path, pred_path = ROOT / "nyu_test_groundtruth_label.txt", ROOT / name
    if not (gt_path.exists() and pred_path.exists()):
        pytest.skip(f"set HANDPOSE_NYU_RESULTS to a folder with {gt_path.name} and {name}")
    gt, pred = read_predictions(gt_path), read_predictions(pred_path)
    assert len(gt) == len(pred) == 8252
    assert round(evaluate_joints(pred, gt).mean_mm, 3) == mean_mm
