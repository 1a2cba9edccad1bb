"""Where a project's checkpoints are recorded (nets/model_paths.py), shared by the f_s
paths (nets/inference.py) and the f_r paths (nets/joints.py)."""

from pathlib import Path

import pytest

from handpose_core.nets.inference import bundled_segnet_path, segnet_path, set_segnet_path
from handpose_core.nets.joints import regnet_path, set_regnet_path
from handpose_core.nets.model_paths import model_path, set_model_path


class FakeProject:
    def __init__(self, root: Path):
        self.root = root
        self.meta: dict[str, str] = {}

    def get_meta(self, key):
        return self.meta.get(key)

    def set_meta(self, key, value):
        self.meta[key] = value


def test_inside_the_project_is_stored_relative_outside_absolute(tmp_path):
    proj = FakeProject(tmp_path / "proj")
    assert model_path(proj, "k") is None
    set_model_path(proj, "k", proj.root / "models" / "run" / "best.pt")
    assert proj.meta["k"] == str(Path("models") / "run" / "best.pt")
    assert model_path(proj, "k") == proj.root / "models" / "run" / "best.pt"
    proj.root = tmp_path / "moved"  # a moved project still finds its own models
    assert model_path(proj, "k") == tmp_path / "moved" / "models" / "run" / "best.pt"
    set_model_path(proj, "k", tmp_path / "elsewhere.pt")
    assert proj.meta["k"] == str((tmp_path / "elsewhere.pt").resolve())
    assert model_path(proj, "k") == (tmp_path / "elsewhere.pt").resolve()
    # a sibling folder whose name starts like the project's is outside it
    set_model_path(proj, "k", tmp_path / "moved2" / "m.pt")
    assert Path(proj.meta["k"]).is_absolute()


def test_segnet_and_regnet_paths_use_it(tmp_path):
    proj = FakeProject(tmp_path)
    assert segnet_path(proj) == bundled_segnet_path()
    assert segnet_path(proj, "finetuned") is None and regnet_path(proj, "c") is None
    set_segnet_path(proj, tmp_path / "f.pt", "finetuned")
    set_regnet_path(proj, "c", tmp_path / "models" / "c.pt")
    assert proj.meta == {"segnet_finetuned": "f.pt", "regnet_c": str(Path("models") / "c.pt")}
    assert segnet_path(proj, "finetuned") == tmp_path / "f.pt"
    assert regnet_path(proj, "c") == tmp_path / "models" / "c.pt"
    with pytest.raises(ValueError, match="unknown f_r variant 'e'"):
        set_regnet_path(proj, "e", tmp_path / "e.pt")
