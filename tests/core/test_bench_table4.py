"""``bench table4``: Table 4 over seeds (train or reuse, mean ± spread, per-seed differences)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from handpose_core.bench.table4 import summarise
from handpose_core.cli.main import main
from handpose_core.nets.inference import bundled_segnet_path, set_segnet_path
from handpose_core.project import Project, create_demo_project

TINY = ["--epochs", "1", "--set", "batch_size=4", "--set", "val_fraction=0.2",
        "--set", "hidden=8"]


def _row(mm, px=10.0):
    return {"mean_mm": mm, "median_mm": mm - 1, "mean_px": px, "success_40": 0.5}


def test_summarise_means_spread_differences_and_checks():
    per_seed = {0: {"a": _row(20.0), "b": _row(17.0), "c": _row(16.0), "d": _row(15.0)},
                1: {"a": _row(21.0), "b": _row(18.0), "c": _row(16.5), "d": _row(15.2)},
                2: {"a": _row(22.0), "b": _row(16.0), "c": _row(17.0), "d": _row(15.4)}}
    rep = summarise(per_seed)
    assert rep["summary"]["a"]["mean_mm"]["mean"] == pytest.approx(21.0)
    assert rep["summary"]["a"]["mean_mm"]["std"] == pytest.approx(1.0)  # sample std
    assert rep["summary"]["c"]["mean_mm"]["std"] == pytest.approx(0.5)
    dc = rep["differences"]["d-c"]
    assert dc["mm"] == {"0": pytest.approx(-1.0), "1": pytest.approx(-1.3),
                        "2": pytest.approx(-1.6)}
    assert dc["mm_mean"] == pytest.approx(-1.3) and dc["seeds_negative"] == 3
    assert rep["checks"]["d < c < a"] and rep["checks"]["b < a"]
    assert rep["checks"]["spread_mm"] == pytest.approx(0.5)  # max(std c, std d)
    assert rep["checks"]["d - c beyond spread"]  # -1.3 < -0.5
    # d - c inside the spread fails the check, though d < c < a holds
    for s, mm in ((0, 15.9), (1, 16.6), (2, 16.7)):
        per_seed[s]["d"] = _row(mm)
    rep = summarise(per_seed)
    assert rep["checks"]["d < c < a"] and not rep["checks"]["d - c beyond spread"]
    per_seed[1]["c"] = _row(40.0)  # c above a on the means
    assert not summarise(per_seed)["checks"]["d < c < a"]
    rep = summarise({0: {"a": _row(20.0), "c": _row(16.0), "d": _row(15.0)}})
    assert rep["summary"]["a"]["mean_mm"]["std"] is None
    assert "d - c beyond spread" not in rep["checks"]  # one seed: no spread


@pytest.fixture(scope="module")
def _template(tmp_path_factory):
    root = tmp_path_factory.mktemp("t4demo") / "proj"
    create_demo_project(root, n_train=10, n_test=3, seed=5).close()
    return root


@pytest.fixture
def tiny_demo(_template, tmp_path):
    """A fresh copy of a small demo project with a stand-in "fine-tuned" f_s (a copy of
    the bundled one) so that variant d can train; nothing trained."""
    root = tmp_path / "t4"
    shutil.copytree(_template, root)
    (root / "models" / "ft").mkdir(parents=True)
    shutil.copy(bundled_segnet_path(), root / "models" / "ft" / "best.pt")
    with Project.open(root) as p:
        set_segnet_path(p, root / "models" / "ft" / "best.pt", "finetuned")
    return root


@pytest.mark.slow  # ten tiny f_r runs (and their test measurements)
def test_bench_table4_trains_reuses_and_keeps_other_fs_runs_apart(tiny_demo, capsys):
    args = ["bench", "table4", "--project", str(tiny_demo), "--seeds", "0,1", *TINY]
    assert main([*args, "--json"]) == 0
    out = capsys.readouterr()
    rep = json.loads(out.out)
    assert "table4" in out.err  # the progress line
    assert rep["reused"] == [] and rep["epochs"] == 1
    assert set(rep["per_seed"]) == {"0", "1"} and rep["variants"] == ["a", "b", "c", "d"]
    models = tiny_demo / "models"
    for s in (0, 1):
        for v in "abcd":
            ev = json.loads((models / f"seed-{v}-{s}" / "eval.json").read_text())
            assert ev["train"]["seed"] == s and ev["epochs"] == 1
            assert rep["per_seed"][str(s)][v]["mean_mm"] == ev["test"]["mean_mm"]
        # each seed's cascade refines that seed's a
        first = json.loads((models / f"seed-b-{s}" / "cascade.json").read_text())["first"]
        assert f"seed-a-{s}" in first
    d0 = rep["per_seed"]["0"]["d"]["mean_mm"] - rep["per_seed"]["0"]["c"]["mean_mm"]
    assert rep["differences"]["d-c"]["mm"]["0"] == pytest.approx(d0)
    assert set(rep["checks"]) >= {"d < c < a", "b < a", "d - c beyond spread"}

    # run again: every run is reused, same figures, printed as a table
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "reused 8 finished runs" in text and "d < c < a:" in text and "d-c" in text
    assert f"{rep['summary']['a']['mean_mm']['mean']:.2f}" in text

    # another fine-tuned f_s (one weight moved): the first's d runs are not reused ...
    (models / "ft2").mkdir()
    ck = torch.load(bundled_segnet_path(), map_location="cpu", weights_only=False)
    first_weight = next(iter(ck["model"]))
    ck["model"][first_weight] = ck["model"][first_weight] + 1e-3
    torch.save(ck, models / "ft2" / "best.pt")
    with Project.open(tiny_demo) as p:
        set_segnet_path(p, models / "ft2" / "best.pt", "finetuned")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "seed-d-0" in err and "give --tag" in err
    # ... and --tag trains d beside them while a, b, c are reused
    assert main([*args, "--variants", "acd", "--tag", "ft2", "--json"]) == 0
    rep2 = json.loads(capsys.readouterr().out)
    assert sorted(rep2["reused"]) == ["seed-a-0", "seed-a-1", "seed-c-0", "seed-c-1"]
    assert rep2["runs"]["0"]["d"] == "seed-d-0-ft2" and (models / "seed-d-1-ft2" / "eval.json").is_file()
    assert rep2["per_seed"]["0"]["a"] == rep["per_seed"]["0"]["a"]


def test_bench_table4_bad_input(tiny_demo, capsys):
    base = ["bench", "table4", "--project", str(tiny_demo)]
    assert main([*base, "--seeds", "0,x"]) == 2
    assert "--seeds expects" in capsys.readouterr().err
    assert main([*base, "--variants", "aq"]) == 2
    assert "--variants" in capsys.readouterr().err
    assert main([*base, "--variants", "b", "--seeds", "3", *TINY]) == 2
    assert "seed-a-3, which is not finished" in capsys.readouterr().err
    assert main([*base, "--set", "seed=4"]) == 2
    assert "--seeds" in capsys.readouterr().err
