"""Stages finetune-seg and train-reg, predict, evaluate --what joints, bad inputs."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from handpose_core.cli.main import main
from handpose_core.datasets.nyu import encode_depth
from handpose_core.evaluation import evaluate_joints, read_predictions
from handpose_core.nets.inference import bundled_segnet_path, load_segnet_model, segnet_path
from handpose_core.nets.joints import regnet_path, set_regnet_path
from handpose_core.project import Project, create_demo_project
from handpose_core.skeleton import joints_36_to_14

TINY = ["--epochs", "1", "--set", "batch_size=4", "--set", "val_fraction=0.2", "--hidden", "8"]


@pytest.fixture(scope="module")
def _tiny_demo_template(tmp_path_factory):
    root = tmp_path_factory.mktemp("jdemo") / "proj"
    create_demo_project(root, n_train=10, n_test=3, seed=5).close()
    return root


@pytest.fixture
def tiny_demo(_tiny_demo_template, tmp_path):
    """A fresh copy of a small demo project (10 train, 3 test frames, nothing trained) for
    one test: what a test trains or registers never reaches another (tests run in any
    order; a shared project let a variant c trained by one test pass for the variant a
    another test needed)."""
    root = tmp_path / "tiny-demo"
    shutil.copytree(_tiny_demo_template, root)
    return root


def test_train_reg_a_then_predict_evaluate_and_compare_agree(tiny_demo, capsys, tmp_path):
    assert main(["train", "train-reg", "--project", str(tiny_demo), "--variant", "a", *TINY,
                 "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["variant"] == "a" and rep["epochs"] == 1 and rep["test"]["frames"] == 3
    with Project.open(tiny_demo) as p:
        assert regnet_path(p, "a") == tiny_demo / "models" / "train-reg-a" / "best.pt"
        run = p.runs("train-reg")[-1]
        assert run.status == "completed" and run.metrics["test_mean_mm"] == rep["test"]["mean_mm"]
        gt = np.stack([joints_36_to_14(p.joints_uvd(f)) for f in p.frames("test")])
    # evaluate --what joints measures the same model the same way
    assert main(["evaluate", "--project", str(tiny_demo), "--what", "joints", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["variants"]["a"]["mean_mm"] == pytest.approx(rep["test"]["mean_mm"])
    # predict writes the community format; its errors are those evaluate reported
    out = tmp_path / "a.txt"
    assert main(["predict", "--project", str(tiny_demo), "--split", "test", "--variant", "a",
                 "--out", str(out)]) == 0
    pred = read_predictions(out)
    assert pred.shape == (3, 14, 3)
    assert evaluate_joints(pred, gt).mean_mm == pytest.approx(rep["test"]["mean_mm"], abs=0.01)
    # with detected centres: another crop, other numbers, same file format
    assert main(["predict", "--project", str(tiny_demo), "--split", "test", "--variant", "a",
                 "--centre", "detect", "--out", str(tmp_path / "det.txt")]) == 0
    assert read_predictions(tmp_path / "det.txt").shape == (3, 14, 3)
    # refined centres: variant a's palm on the detected crop re-centres the crop
    assert main(["predict", "--project", str(tiny_demo), "--split", "test", "--variant", "a",
                 "--centre", "refine", "--out", str(tmp_path / "ref.txt")]) == 0
    ref, det = read_predictions(tmp_path / "ref.txt"), read_predictions(tmp_path / "det.txt")
    assert ref.shape == (3, 14, 3) and not np.allclose(ref, det)
    # a folder of depth PNGs (here the split's own folder) gives the same, in name order
    assert main(["predict", "--project", str(tiny_demo), "--input",
                 str(tiny_demo / "dataset" / "test"), "--variant", "a",
                 "--out", str(tmp_path / "dir.txt")]) == 0
    np.testing.assert_allclose(read_predictions(tmp_path / "dir.txt"),
                               read_predictions(tmp_path / "det.txt"))
    assert main(["evaluate", "--project", str(tiny_demo), "--what", "joints"]) == 0
    assert "a direct regression" in capsys.readouterr().out
    # a finished run is not trained again
    assert main(["train", "train-reg", "--project", str(tiny_demo), "--variant", "a", *TINY,
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["already_done"] is True


def test_cascade_needs_a_and_refines_it(tiny_demo, capsys):
    assert main(["train", "train-reg", "--project", str(tiny_demo), "--variant", "b", *TINY]) == 2
    assert "run 'handpose-studio train train-reg --variant a' first" in capsys.readouterr().err
    assert main(["train", "train-reg", "--project", str(tiny_demo), "--variant", "a", *TINY]) == 0
    capsys.readouterr()
    with Project.open(tiny_demo) as p:
        first = regnet_path(p, "a")
    assert first == tiny_demo / "models" / "train-reg-a" / "best.pt"
    assert main(["train", "train-reg", "--project", str(tiny_demo), "--variant", "b", *TINY,
                 "--set", "cascade_copies=2", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    info = json.loads((tiny_demo / "models" / "train-reg-b" / "cascade.json").read_text())
    assert info["cube_mm"] == 200.0 and info["first"] == str(first)
    assert rep["test"]["frames"] == 3 and np.isfinite(rep["test"]["mean_mm"])
    # b refines: its first step is the project's a on the standard crop, its second step
    # b's own f_r on the tighter crop around the palm that a predicted
    from handpose_core.nets.joints import PALM_14, JointPredictor

    with Project.open(tiny_demo) as p:
        frames = p.frames("test")
        depths = [p.depth(f) for f in frames]
        gt = np.stack([joints_36_to_14(p.joints_uvd(f)) for f in frames])
        a, b = JointPredictor.for_project(p, "a"), JointPredictor.for_project(p, "b")
        assert (b.first_cube_mm, b.cube_mm) == (p.cube_mm, 200.0)
    centres = gt[:, PALM_14]
    ua, ub = a.predict_frames(depths, centres), b.predict_frames(depths, centres)
    np.testing.assert_allclose(b._step(depths, centres, b.first, b.first_cube_mm), ua)
    np.testing.assert_allclose(ub, b._step(depths, ua[:, PALM_14], b.regnet, 200.0))
    assert not np.allclose(ub, ua)  # not a's answer ...
    assert not np.allclose(ub, b._step(depths, centres, b.regnet, 200.0))  # ... nor one step
    assert evaluate_joints(ub, gt).mean_mm == pytest.approx(rep["test"]["mean_mm"], abs=0.01)


def test_train_reg_with_handmap_guidance(tiny_demo, capsys):
    import torch

    assert main(["train", "train-reg", "--project", str(tiny_demo), "--variant", "a", *TINY,
                 "--guidance", "geodesic", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["checkpoint"].endswith("train-reg-a-geodesic/best.pt")
    state = torch.load(rep["checkpoint"], weights_only=True)["model"]
    assert any(k.startswith("guidance_head.") for k in state)
    assert main(["train", "train-reg", "--project", str(tiny_demo), "--variant", "c",
                 "--guidance", "heatmap"]) == 2
    assert "guidance plugs onto variants a and d only" in capsys.readouterr().err
    # a second guided run of a, named: it becomes the project's a; the first keeps its row
    assert main(["train", "train-reg", "--project", str(tiny_demo), "--variant", "a", *TINY,
                 "--guidance", "heatmap", "--run-name", "abl-a-heatmap", "--json"]) == 0
    rep_h = json.loads(capsys.readouterr().out)
    assert main(["evaluate", "--project", str(tiny_demo), "--what", "joints", "--runs",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["variants"]
    geo, heat = rows["train-reg-a-geodesic"], rows["abl-a-heatmap"]
    assert (geo["variant"], geo["guidance"], geo["current"]) == ("a", "geodesic", False)
    assert (heat["guidance"], heat["current"]) == ("heatmap", True)
    # each row measures its own checkpoint, as its training did
    assert geo["mean_mm"] == pytest.approx(rep["test"]["mean_mm"])
    assert heat["mean_mm"] == pytest.approx(rep_h["test"]["mean_mm"])
    assert geo["mean_mm"] != pytest.approx(heat["mean_mm"])
    assert main(["evaluate", "--project", str(tiny_demo), "--what", "joints", "--runs"]) == 0
    out = capsys.readouterr().out
    assert "abl-a-heatmap (direct regression (depth only) + heatmap guidance)" in out
    assert "train-reg-a-geodesic (direct regression (depth only) + geodesic guidance)" in out
    # the run's head predicts the 14 maps of a crop, in [0, 1]
    from handpose_core.nets.regressor_runs import RunPredictor, regressor_runs

    with Project.open(tiny_demo) as p:
        run = next(r for r in regressor_runs(p) if r.name == "train-reg-a-geodesic")
        f = p.frames("test")[0]
        crop, tfs, _ = p.crops([f])
        uvd, maps = RunPredictor.load(p, run).predict_crop(crop[0], tfs[0])
    assert uvd.shape == (14, 3) and maps.shape == (14, *crop.shape[1:])
    assert maps.dtype == np.float32 and 0 <= maps.min() and maps.max() <= 1


def _restore_with_bundled_fs(project):
    """Real restorations of the train frames (bundled f_s, a small dictionary of the test
    frames' label patches)."""
    from handpose_core.restoration import Dictionary
    from handpose_core.stages.restore import RestoreSettings, restore_frames

    labels = project.crops(project.frames("test"))[2]
    d = Dictionary.build(labels, project.path("dictionary"), max_patches=5000, n_trees=2)
    model = load_segnet_model(bundled_segnet_path())
    return restore_frames(project, project.frames("train"), model, d, RestoreSettings(),
                          model_name="bundled")


def test_weak_labels_are_the_accepted_restorations_overrides_first(make_nyu_project):
    from handpose_core.project import Score
    from handpose_core.stages.finetune_seg import weak_labels

    p = make_nyu_project(4)
    frames = p.frames("train")
    with pytest.raises(ValueError, match="no accepted restorations in split 'train' "
                                         r"\(0 restored\)"):
        weak_labels(p, "train")
    depth, _, labels = p.crops(frames)
    for k, f in enumerate(frames):  # restored map = true crop shifted by k ids (recognisable)
        restored = np.where(labels[k] > 0, (labels[k] + k - 1) % 20 + 1, 0).astype(np.uint8)
        p.save_restoration(f, model="m", raw=labels[k], restored=restored,
                           score_raw=Score(10.0, 1.0), score_restored=Score(5.0, 0.5),
                           auto_accept=k < 2)
    p.set_override(frames[0].id, False)
    p.set_override(frames[3].id, True)
    got, d, maps = weak_labels(p, "train")
    assert [f.id for f in got] == [frames[1].id, frames[3].id]
    np.testing.assert_array_equal(d, depth[[1, 3]])
    np.testing.assert_array_equal(maps[1], p.restored_maps(p.restoration(frames[3].id))[1])


@pytest.mark.slow
def test_finetune_uses_accepted_frames_with_overrides_then_d_trains(tiny_demo, capsys):
    with Project.open(tiny_demo) as p:
        assert main(["train", "train-reg", "--project", str(tiny_demo), "--variant", "d",
                     *TINY]) == 2
        assert "variant d needs the fine-tuned f_s" in capsys.readouterr().err
        recs = _restore_with_bundled_fs(p)
        acc = [r for r in recs if r.auto_accept]
        rej = [r for r in recs if not r.auto_accept]
        assert acc, "the quality check accepted no restoration"
        p.set_override(acc[0].frame_id, False)     # a person rejects one the check accepted
        if rej:
            p.set_override(rej[0].frame_id, True)  # and accepts one it rejected
        want = sorted(r.frame_id for r in p.restorations().values() if r.accepted)
        restored = [f.id for f in p.frames("train") if f.id in p.restorations()]
    assert main(["train", "finetune-seg", "--project", str(tiny_demo), "--samples", "24",
                 "--synthetic-ratio", "2", "--epochs", "1", "--set", "batch_size=8",
                 "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    used = json.loads((tiny_demo / "models" / "finetune-seg" / "frames.json").read_text())
    assert used["frame_ids"] == want and rep["frames_used"] == len(want)
    # the default joint loss sees every restored frame, the rejected ones too
    assert used["joint_frame_ids"] == restored and rep["joint_frames"] == len(restored)
    assert rep["synthetic_used"] == min(24, 2 * len(restored))
    assert set(rep["table3"]["results"]) == {"supervised", "finetuned"}
    with Project.open(tiny_demo) as p:
        assert segnet_path(p, "finetuned") == tiny_demo / "models" / "finetune-seg" / "best.pt"
        assert p.runs("finetune-seg")[-1].metrics["frames_used"] == len(want)
    assert main(["train", "train-reg", "--project", str(tiny_demo), "--variant", "d", *TINY,
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["test"]["frames"] == 3
    assert main(["evaluate", "--project", str(tiny_demo), "--what", "segmentation",
                 "--json"]) == 0
    assert "fine-tuned" in json.loads(capsys.readouterr().out)["results"]


def test_bad_inputs_are_named(tiny_demo, capsys, tmp_path, real_sample):
    assert main(["train", "train-reg", "--project", str(tiny_demo), "--variant", "a", *TINY]) == 0
    capsys.readouterr()
    base = ["predict", "--project", str(tiny_demo), "--variant", "a", "--out",
            str(tmp_path / "o.txt"), "--input"]
    # the real NYU frame, from depth alone
    assert main([*base, str(real_sample / "depth_1_0000001.png")]) == 0
    assert read_predictions(tmp_path / "o.txt").shape == (1, 14, 3)
    # a colour frame is not a depth image
    assert main([*base, str(real_sample / "rgb_1_0000001.png")]) == 2
    err = capsys.readouterr().err
    assert "rgb_1_0000001.png: not an NYU depth image" in err
    # a depth image with no valid pixel
    empty = tmp_path / "depth_1_0000009.png"
    cv2.imwrite(str(empty), encode_depth(np.full((480, 640), 2001, np.uint16)))
    assert main([*base, str(empty)]) == 2
    assert "depth_1_0000009.png: no valid depth pixel" in capsys.readouterr().err
    # a 16-bit single-channel PNG (another dataset's layout)
    gray = tmp_path / "depth_gray.png"
    cv2.imwrite(str(gray), np.full((480, 640), 800, np.uint16))
    assert main([*base, str(gray)]) == 2
    assert "depth_gray.png: NYU depth must be a 3-channel 8-bit PNG" in capsys.readouterr().err
    # --centre gt has no ground truth for PNGs
    assert main([*base, str(empty), "--centre", "gt"]) == 2
    assert "--centre gt needs ground truth" in capsys.readouterr().err
    # a project frame whose depth has no valid pixel in the crop: named, nothing written
    png = tiny_demo / "dataset" / "test" / "depth_1_0000002.png"
    cv2.imwrite(str(png), encode_depth(np.full((480, 640), 2001, np.uint16)))
    out = tmp_path / "split.txt"
    assert main(["predict", "--project", str(tiny_demo), "--split", "test", "--variant", "a",
                 "--out", str(out)]) == 2
    assert "test/depth_1_0000002.png: no valid depth in the hand crop" in capsys.readouterr().err
    assert not out.exists()
    # a checkpoint of another variant registered as d
    with Project.open(tiny_demo) as p:
        set_regnet_path(p, "d", regnet_path(p, "a"))
    assert main(["predict", "--project", str(tiny_demo), "--split", "test", "--variant", "d",
                 "--out", str(tmp_path / "d.txt")]) == 2
    assert "best.pt: holds an f_r of variant 'a', expected variant 'd'" in capsys.readouterr().err


def test_bench_pipeline_times_every_step(capsys, make_nyu_project):
    assert main(["bench", "pipeline", "--json", "--repeats", "3", "--variant", "b"]) == 0
    r = json.loads(capsys.readouterr().out)
    steps = r["steps"]
    assert set(steps) == {"detect", "crop", "segment", "regress", "total"}
    parts = sum(steps[k]["median_ms"] for k in ("detect", "crop", "segment", "regress"))
    assert steps["total"]["median_ms"] > 0 and parts > 0.5 * steps["total"]["median_ms"]
    assert r["target_ms"] == 15.0 and r["meets_target"] == (steps["total"]["median_ms"] <= 15.0)
    # on a project without the variant's model: a clear error
    p = make_nyu_project(1)
    assert main(["bench", "pipeline", "--project", str(p.root), "--variant", "d"]) == 2
    assert "no f_r of variant 'd' yet" in capsys.readouterr().err


def test_train_reg_cancelled_then_resumed_continues_from_its_checkpoint(tiny_demo):
    import threading
    from dataclasses import replace

    import torch

    from handpose_core.progress import Cancelled
    from handpose_core.stages.train_reg import TrainRegSettings
    from handpose_core.stages.train_reg import run as train_reg
    from handpose_core.training.regression import REG_TRAIN

    s = TrainRegSettings(variant="a", hidden=8, run_name="resume-a", val_fraction=0.2,
                         train=replace(REG_TRAIN, epochs=3, batch_size=4,
                                       checkpoint_every_s=0.0))
    cancel = threading.Event()

    def progress(done, total, msg):
        if msg.startswith("training") and done >= 3:
            cancel.set()

    with Project.open(tiny_demo) as p:
        with pytest.raises(Cancelled):
            train_reg(p, s, progress=progress, cancel=cancel)
        assert p.runs("train-reg")[-1].status == "cancelled"
        last = torch.load(tiny_demo / "models" / "resume-a" / "last.pt", weights_only=True)
        stopped = last["step"]
        assert 3 <= stopped < 6  # 2 steps per epoch (8 frames / batch 4), 3 epochs
        rep = train_reg(p, s)
        assert rep["steps"] == 6 and rep["epochs"] == 3
        assert p.runs("train-reg")[-1].status == "completed"
    lines = (tiny_demo / "models" / "resume-a" / "metrics.jsonl").read_text().splitlines()
    vals = [json.loads(x) for x in lines if '"val"' in x]
    assert [v["epoch"] for v in vals] == [1.0, 2.0, 3.0]  # no epoch validated twice


def test_segmented_variant_predicts_with_the_f_s_it_was_trained_with(tiny_demo, capsys,
                                                                     tmp_path):
    import torch

    from handpose_core.nets import SegNetConfig, build_segnet
    from handpose_core.nets.checkpoint import save_checkpoint
    from handpose_core.nets.inference import set_segnet_path
    from handpose_core.nets.joints import JointPredictor

    assert main(["train", "train-reg", "--project", str(tiny_demo), "--variant", "c", *TINY,
                 "--json"]) == 0
    capsys.readouterr()
    torch.manual_seed(3)
    other = build_segnet(SegNetConfig("fast", 48))
    other_p = save_checkpoint(tmp_path / "other.pt", other, other.config)
    with Project.open(tiny_demo) as p:
        before = segnet_path(p, "pretrained")
        crops = p.crops(p.frames("test"))[0]
        set_segnet_path(p, other_p, "pretrained")  # the project's f_s changes afterwards
        try:
            pred = JointPredictor.for_project(p, "c")
        finally:
            set_segnet_path(p, before, "pretrained")
    import copy

    bundled = copy.deepcopy(load_segnet_model(bundled_segnet_path())).eval().fuse()
    want, _ = bundled.predict(crops, probabilities=False)
    got, _ = pred.segnet.predict(crops, probabilities=False)
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(got, other.eval().predict(crops, probabilities=False)[0])
