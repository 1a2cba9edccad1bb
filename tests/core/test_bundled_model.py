"""The bundled f_s (resources/models/segnet_fast.pt) and its manifest.

The fast test checks the manifest describes the file; the slow one re-runs the README's
recipe in a fresh demo project (about 17 minutes on a 2-core CPU) and checks what the
README promises: the same accuracy within a stated tolerance. Bit-identical weights are
not asserted: they need the same CPU type (float summation order differs between CPU
kinds; on another 2-thread AMD EPYC the weights differed, max difference 42 in one
tensor, while the accuracy was 85.7 / 65.5 % against 85.9 / 66.8 %).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from handpose_core.cli.main import main
from handpose_core.nets.checkpoint import load_checkpoint, load_segnet

MODELS = Path(__file__).resolve().parents[2] / "resources" / "models"

TOLERANCE_POINTS = {"synthetic_heldout": 1.0, "real": 2.0}
"""How far (percentage points of per-pixel accuracy) a reproduction may land from the
manifest: 1 point on the 2,000 held-out synthetic crops, 2 on the 200 real-like frames
(fewer frames, and the other machine's run was 1.3 points off there)."""


def test_manifest_describes_the_bundled_file():
    manifest = json.loads((MODELS / "segnet_fast.json").read_text())
    assert manifest["file"] == "segnet_fast.pt"
    model, config, meta = load_segnet(MODELS / manifest["file"])
    assert config.preset == manifest["settings"]["preset"] == "fast"
    acc = manifest["accuracy"]
    assert acc["synthetic_heldout"]["frames"] == 2000 and acc["real"]["frames"] == 200
    assert 0.8 < acc["synthetic_heldout"]["per_pixel"] < 0.9  # README: 85.3 %
    assert 0.8 < acc["real"]["per_pixel"] < 0.9  # README: 84.0 % (on demo version 1)
    assert acc["real_demo_version"] == 1
    assert meta["step"] == manifest["steps"] == 7122  # the checkpoint is the run's last step
    assert meta["metrics"]["epoch"] == manifest["epochs"] == 6


@pytest.mark.very_slow
@pytest.mark.timeout(3 * 3600)
def test_readme_recipe_reproduces_the_bundled_accuracy(tmp_path, capsys):
    """The README's command, in a fresh demo project: per-pixel accuracy within
    :data:`TOLERANCE_POINTS` of the manifest's; the weight difference is printed."""
    want = json.loads((MODELS / "segnet_fast.json").read_text())
    out = tmp_path / "segnet_fast.pt"
    assert main(["init", str(tmp_path / "bundle"), "--demo"]) == 0
    assert main(["train", "pretrain-seg", "--project", str(tmp_path / "bundle"), "--samples",
                 "40000", "--epochs", "6", "--set", "run_name=bundled", "--set", "cpu_amp=false",
                 "--export-bundle",
                 str(out)]) == 0
    made = json.loads(out.with_suffix(".json").read_text())
    for kind, tol in TOLERANCE_POINTS.items():
        got, ref = made["accuracy"][kind], want["accuracy"][kind]
        if kind == "real" and (made["accuracy"]["real_demo_version"]
                               != want["accuracy"].get("real_demo_version", 1)):
            # the manifest's real-like figure was measured on another demo (version 1:
            # the primitive hand; version 2: the real-like generator); the two are not
            # comparable, so only the held-out synthetic accuracy is checked
            with capsys.disabled():
                print(f"\nreal-like accuracy {100 * got['per_pixel']:.1f} % on demo version "
                      f"{made['accuracy']['real_demo_version']}; the manifest's "
                      f"{100 * ref['per_pixel']:.1f} % is from demo version "
                      f"{want['accuracy'].get('real_demo_version', 1)}: not compared")
            continue
        assert got["frames"] == ref["frames"]
        diff = 100 * abs(got["per_pixel"] - ref["per_pixel"])
        assert diff <= tol, f"{kind}: {100 * got['per_pixel']:.1f} % vs {100 * ref['per_pixel']:.1f} %"
    a = load_checkpoint(out)["model"]
    b = load_checkpoint(MODELS / "segnet_fast.pt")["model"]
    worst = max(float((a[k].double() - b[k].double()).abs().max()) for k in b
                if torch.is_floating_point(b[k]))
    with capsys.disabled():
        print(f"\nreproduced f_s: max weight difference to the bundle {worst:.3g} "
              "(0 only on the CPU type that made it)")
