"""Fixtures for the studio tests: a tiny rendered project, restored with a real dictionary.

The template project is built once per session with the project's own renderer (NYU
layout, 8 train frames), a 20,000-patch dictionary from rendered label crops, and the
restore stage run on the first 5 frames with the bundled f_s; each test gets a copy.
"""

from __future__ import annotations

import shutil

import pytest

N_FRAMES = 8
N_RESTORED = 5


@pytest.fixture(autouse=True)
def _studio_settings(tmp_path, monkeypatch):
    """Each test gets its own settings file (window layout, recent projects)."""
    monkeypatch.setenv("HANDPOSE_STUDIO_SETTINGS", str(tmp_path / "studio.ini"))


@pytest.fixture(autouse=True)
def _gc_on_the_gui_thread(qapp):
    """As the studio does (app/gui_gc.py): cycles holding this test's widgets are freed on
    the GUI thread, never by a worker thread that happens to allocate."""
    from app.gui_gc import GuiGarbageCollector

    collector = GuiGarbageCollector()
    yield
    collector.stop()
    collector.deleteLater()


@pytest.fixture(scope="session")
def template_project(tmp_path_factory):
    from handpose_core.nets.inference import load_segnet_model, segnet_path
    from handpose_core.project import Project
    from handpose_core.render import render_crops, write_nyu_layout
    from handpose_core.restoration import Dictionary
    from handpose_core.stages.restore import RestoreSettings, restore_frames

    base = tmp_path_factory.mktemp("studio")
    write_nyu_layout(base / "nyu", N_FRAMES, split="train", seed=11)
    p = Project.create(base / "proj", base / "nyu", kind="nyu")
    try:
        d = Dictionary.build(render_crops(60, seed=3)["labels"], p.root / "dictionary",
                             max_patches=20000, n_trees=4)
        frames = p.frames()[:N_RESTORED]
        restore_frames(p, frames, load_segnet_model(segnet_path(p)), d,
                       RestoreSettings(split="train"), model_name="bundled")
    finally:
        p.close()
    return base


@pytest.fixture
def project_dir(template_project, tmp_path):
    """A fresh copy of the template (dataset and project) for one test."""
    shutil.copytree(template_project / "nyu", tmp_path / "nyu")
    shutil.copytree(template_project / "proj", tmp_path / "proj")
    return tmp_path / "proj"


@pytest.fixture
def studio(qtbot, project_dir):
    """The main window over ``project_dir``, shown, with f_s loaded and frame 1 current."""
    from app.main import build_window
    from handpose_core.project import Project

    win = build_window(Project.open(project_dir))
    qtbot.addWidget(win)
    win.resize(1500, 900)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.session.predictor is not None, timeout=60000)
    yield win
    win.close()
