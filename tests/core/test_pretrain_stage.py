"""Stage pretrain-seg and the evaluate command on a tiny demo project."""

import json
import shutil

import pytest

from handpose_core.cli.main import main
from handpose_core.project import Project, create_demo_project


@pytest.fixture(scope="module")
def _tiny_demo_template(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "proj"
    create_demo_project(root, n_train=6, n_test=4, seed=5).close()
    return root


@pytest.fixture
def tiny_demo(_tiny_demo_template, tmp_path):
    """A fresh copy of a tiny demo project (6 train, 4 test frames) for one test: the f_s
    one test trains is not the project's f_s in another."""
    root = tmp_path / "tiny-demo"
    shutil.copytree(_tiny_demo_template, root)
    return root


TINY = ["--samples", "96", "--epochs", "1", "--set", "test_samples=32", "--set",
        "batch_size=32", "--set", "run_name=tiny"]


def test_pretrain_seg_then_evaluate(tiny_demo, capsys, tmp_path):
    # float32 (the stage's default is bfloat16 where the CPU has it)
    rc = main(["train", "pretrain-seg", "--project", str(tiny_demo), *TINY, "--json",
               "--set", "cpu_amp=false", "--export-bundle", str(tmp_path / "m.pt")])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert manifest["accuracy"]["synthetic_heldout"]["frames"] == 32
    assert "pretrain-seg" in manifest["command"] and manifest["settings"]["samples"] == 96
    assert (tmp_path / "m.pt").read_bytes() == (tiny_demo / "models" / "tiny" /
                                                 "best.pt").read_bytes()
    assert rep["synthetic_heldout"]["frames"] == 32 and not rep["already_done"]
    assert rep["real"]["frames"] == 4 and rep["real"]["split"] == ["test"]
    with Project.open(tiny_demo) as p:
        assert p.get_meta("segnet") == "models/tiny/best.pt"
        run = p.runs("pretrain-seg")[-1]
        assert run.status == "completed" and run.checkpoint.endswith("models/tiny/best.pt")
        assert run.metrics["synthetic_per_pixel"] == rep["synthetic_heldout"]["per_pixel"]
    assert (tiny_demo / "models" / "tiny" / "metrics.jsonl").exists()
    # evaluate measures the project's current f_s: the same figure the stage reported
    assert main(["evaluate", "--project", str(tiny_demo), "--what", "segmentation",
                 "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["results"]["raw"]["per_pixel"] == pytest.approx(rep["real"]["per_pixel"])
    assert ev["results"]["raw"]["checkpoint"].endswith("models/tiny/best.pt")
    assert main(["evaluate", "--project", str(tiny_demo), "--what", "segmentation"]) == 0
    out = capsys.readouterr().out
    assert "per-pixel %" in out and "pinky distal" in out and "train restore" in out
    # a finished run is not trained again, and says so
    assert main(["train", "pretrain-seg", "--project", str(tiny_demo), *TINY]) == 0
    assert "already trained" in capsys.readouterr().out
    # ... and its report, run again under the default bfloat16, says what the weights
    # were trained under, as the bundle's manifest does, not the settings asked for now
    assert main(["train", "pretrain-seg", "--project", str(tiny_demo), *TINY, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["already_done"] and again["train"]["cpu_amp"] is False
    assert manifest["train"]["cpu_amp"] is False and again["sessions"] == manifest["sessions"]
    assert [s["from_step"] for s in again["sessions"]] == [0]
    assert again["sessions"][0]["cpu_amp"] is False and not again["sessions"][0]["bfloat16"]


def test_bad_settings_exit_2_naming_them(tiny_demo, capsys):
    assert main(["train", "pretrain-seg", "--project", str(tiny_demo), "--set", "nonsense=1"]) == 2
    assert "unknown training setting 'nonsense'" in capsys.readouterr().err
    assert main(["train", "pretrain-seg", "--project", str(tiny_demo), "--set", "lr=abc"]) == 2
    assert "lr: cannot read 'abc' as float" in capsys.readouterr().err
    assert main(["train", "restore", "--project", str(tiny_demo), "--window", "x"]) == 2
    assert "window: cannot read 'x' as int" in capsys.readouterr().err


@pytest.mark.slow
def test_restoration_ablation_and_quality_check(tiny_demo, capsys):
    assert main(["train", "build-dictionary", "--project", str(tiny_demo),
                 "--patches", "20000", "--images", "300"]) == 0
    # the project's stores are smaller than 300 maps: a clean store of 300 was rendered
    assert (tiny_demo / "synthetic" / "clean_48px_n300_s2" / "meta.json").exists()
    capsys.readouterr()
    assert main(["evaluate", "--project", str(tiny_demo), "--what", "restoration",
                 "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert set(rep["table2"]) == {"no restoration", "NN, no integration", "NN, integration",
                                  "NN, integration, plain majority", "CRF, Potts-like",
                                  "CRF, patch-overlap Hamming",
                                  "NN, integration + joint prior (joint-prior, the default)",
                                  "joints only (joint prior alone, no f_s, no patches)"}
    assert set(rep["crf"]) == {"crf-potts", "crf-overlap"}
    assert len(rep["per_frame"]["gain_per_pixel"]) == rep["frames"]
    # the ground truth restored: on 4 frames of a 20 k-patch dictionary far from perfect,
    # but well above chance and a proper accuracy
    assert 0.3 < rep["ceiling"]["per_pixel"] < 1.0 and 0 < rep["ceiling"]["per_class"] <= 1.0
    q = rep["quality_check"]
    assert q["accepted"] + q["rejected"] == rep["frames"] == 4
    s = q["separation"]
    assert s["accepted_helped"] + s["accepted_hurt"] <= q["accepted"]
    qp = rep["quality_check_joint_prior"]
    assert qp["accepted"] + qp["rejected"] == rep["frames"]
    assert main(["evaluate", "--project", str(tiny_demo), "--what", "restoration"]) == 0
    out = capsys.readouterr().out
    assert "quality check of NN, integration" in out and "quality check of joint-prior" in out
    # the dictionary is kept when asked again with the same settings
    assert main(["train", "build-dictionary", "--project", str(tiny_demo),
                 "--patches", "20000", "--images", "300"]) == 0
    assert "already built" in capsys.readouterr().out
