import json

import pytest

from handpose_core.cli.main import main
from handpose_core.project import Project
from handpose_core.projects import create_demo_project


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo") / "proj"
    create_demo_project(root, n_train=6, n_test=4, seed=5)
    return root


def test_pretrain_seg_then_evaluate(tiny_demo, capsys, tmp_path):
    rc = main(["train", "pretrain-seg", "--project", str(tiny_demo), "--samples", "96",
               "--epochs", "1", "--set", "test_samples=32", "--set", "batch_size=32",
               "--set", "run_name=tiny", "--json", "--export-bundle", str(tmp_path / "m.pt")])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert manifest["accuracy"]["synthetic_heldout"]["frames"] == 32
    assert "pretrain-seg" in manifest["command"] and manifest["settings"]["samples"] == 96
    assert (tmp_path / "m.pt").stat().st_size > 1000
    assert rep["synthetic_heldout"]["frames"] == 32
    assert rep["real"]["frames"] == 4 and rep["real"]["split"] == ["test"]
    assert 0.0 <= rep["real"]["per_pixel"] <= 1.0
    p = Project.open(tiny_demo)
    assert p.get_meta("segnet") == "models/tiny/best.pt"
    runs = p.runs("pretrain-seg")
    assert runs[-1]["outcome"] == "completed"
    assert "synthetic_per_pixel" in runs[-1]["metrics"]
    assert (tiny_demo / "models" / "tiny" / "metrics.jsonl").exists()
    assert main(["evaluate", "--project", str(tiny_demo), "--what", "segmentation"]) == 0
    out = capsys.readouterr().out
    assert "per-pixel %" in out and "pinky distal" in out and "raw" in out


def test_bad_override(tiny_demo, capsys):
    assert main(["train", "pretrain-seg", "--project", str(tiny_demo), "--set", "nonsense=1"]) == 2
    assert "unknown setting 'nonsense'" in capsys.readouterr().err
    assert main(["train", "pretrain-seg", "--project", str(tiny_demo), "--set", "lr=abc"]) == 2


def test_restoration_ablation_after_pretraining(tiny_demo, capsys):
    # runs after test_pretrain_seg_then_evaluate in this module: the project has an f_s
    assert Project.open(tiny_demo).get_meta("segnet")
    assert main(["train", "build-dictionary", "--project", str(tiny_demo),
                 "--patches", "20000"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--project", str(tiny_demo), "--what", "restoration",
                 "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert set(rep["table2"]) == {"no restoration", "NN, no integration", "NN, integration"}
    q = rep["quality_check"]
    assert q["accepted"] + q["rejected"] == rep["frames"] == 4
    assert 0.0 <= q["rejection_rate"] <= 1.0
    assert main(["evaluate", "--project", str(tiny_demo), "--what", "restoration"]) == 0
    assert "quality check:" in capsys.readouterr().out
