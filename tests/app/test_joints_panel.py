"""The Skeleton tab's regressor choice, skeleton and guidance views, driven by real mouse and
keys over a project with two really trained f_r runs (one with a geodesic guidance head)."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from app.views.guidance import compose_rgb
from handpose_core.skeleton import EVAL_NAMES


@pytest.fixture(scope="session")
def trained_template(template_project, tmp_path_factory):
    """The studio template with two 1-epoch f_r runs of variant a: ``tiny-a-geodesic``
    (a GMS head on geodesic maps) and ``tiny-a-none`` (no head, the project's f_r a)."""
    from handpose_core.project import Project
    from handpose_core.stages import train_reg
    from handpose_core.training.regression import REG_TRAIN

    base = tmp_path_factory.mktemp("trained")
    shutil.copytree(template_project / "nyu", base / "nyu")
    shutil.copytree(template_project / "proj", base / "proj")
    with Project.open(base / "proj") as p:
        for g in ("geodesic", "none"):
            train_reg.run(p, train_reg.TrainRegSettings(
                variant="a", guidance=g, test_split="train", hidden=8, val_fraction=0.25,
                run_name=f"tiny-a-{g}", train=replace(REG_TRAIN, epochs=1, batch_size=4)))
    return base


@pytest.fixture
def studio_runs(qtbot, trained_template, tmp_path):
    from app.main import build_window
    from handpose_core.project import Project

    shutil.copytree(trained_template / "nyu", tmp_path / "nyu")
    shutil.copytree(trained_template / "proj", tmp_path / "proj")
    win = build_window(Project.open(tmp_path / "proj"))
    qtbot.addWidget(win)
    win.resize(1500, 900)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.session.predictor is not None, timeout=60000)
    bar = win.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(win.tabs.indexOf(win.joints)).center())
    assert win.tabs.currentWidget() is win.joints
    yield win
    win.close()


def _loneliest_joint(pts: np.ndarray) -> int:
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    d[np.arange(len(d)), np.arange(len(d))] = np.inf
    return int(d.min(1).argmax())


def _joint_on_screen(sk, j: int, view: str = "crop") -> bool:
    """Joint ``j``'s dot lies inside its view box and the widget's viewport: the views are
    laid out and fitted, so a click there lands on it."""
    if sk._shown.get(view) is None:
        return False
    vb = sk._boxes()[view]
    pos = sk.joint_scene_pos(j, view)
    box = vb.sceneBoundingRect()
    return box.width() > 40 and box.contains(pos) and \
        sk.glw.viewport().rect().contains(sk.glw.mapFromScene(pos))


def _click_skeleton_joint(qtbot, sk, j: int, view: str = "crop") -> None:
    qtbot.waitUntil(lambda: _joint_on_screen(sk, j, view), timeout=5000)
    pt = sk.glw.mapFromScene(sk.joint_scene_pos(j, view))
    pos = QPoint(round(pt.x()), round(pt.y()))
    qtbot.mouseMove(sk.glw.viewport(), pos)
    qtbot.mouseClick(sk.glw.viewport(), Qt.LeftButton, pos=pos)


def test_runs_are_listed_and_the_guidance_run_shows_its_heads_maps(qtbot, studio_runs):
    from handpose_core.nets.regressor_runs import RunPredictor

    win = studio_runs
    panel, gv = win.joints, win.guidance
    names = [r.name for r in panel.runs]
    assert names == ["tiny-a-none", "tiny-a-geodesic"]  # none first, then by guidance kind
    assert panel.runs[0].current and not panel.runs[1].current  # 'none' was trained last
    # the current run without a head is chosen first: it says it has no guidance head
    assert panel.chosen.name == "tiny-a-none"
    qtbot.waitUntil(lambda: "no guidance head" in panel.status.text(), timeout=30000)
    assert "this model has no guidance head" in gv.pred.note.toPlainText()
    assert gv.pred.note.isVisible() and gv._predicted is None
    assert "prediction dashed by tiny-a-none" in win.skeleton.note.text()
    assert len(win.skeleton.crop_pred.edges[0].getData()[0]) == 2  # dashed skeleton drawn

    # choose the geodesic run with the keyboard: its head's maps appear, kind follows
    panel.run_box.setFocus()
    qtbot.keyClick(panel.run_box, Qt.Key_Down)
    assert panel.chosen.name == "tiny-a-geodesic"
    qtbot.waitUntil(lambda: gv._predicted is not None, timeout=30000)
    assert gv.kind == "geodesic" and "tiny-a-geodesic" in gv.pred.title.text
    assert not gv.pred.note.isVisible()
    fd = win.session.frame_data()
    rp = RunPredictor.load(win.session.project, panel.chosen)
    uvd, maps = rp.predict_frame(fd.full_depth, fd.joints_uvd[13], fd.depth_crop,
                                 fd.transform.to_array())
    j = gv.joint
    alpha = np.where(gv._mask, 0.85, 0.0)
    np.testing.assert_allclose(gv._predicted, maps, atol=1e-6)
    np.testing.assert_array_equal(gv.pred.image.image, compose_rgb(fd.depth_crop, maps[j], alpha))
    assert not np.array_equal(gv.pred.image.image, gv.gt.image.image)
    # the predicted panel's dots are the regressor's joints, not the ground truth
    np.testing.assert_allclose(gv.pred.dots.getData()[0], fd.joints_crop(uvd)[:, 0] + 0.5, atol=1e-6)

    # the next frame is predicted too (a second task with the model already loaded)
    first = win.session.frame_id
    nxt = win.browser.neighbour_id(first, 1)
    win.session.set_frame(nxt)
    qtbot.waitUntil(lambda: gv._predicted is not None and gv._data.frame.id == nxt, timeout=30000)
    assert panel._loaded is not None and panel._loaded.run.name == "tiny-a-geodesic"


def test_clicking_a_joint_in_the_skeleton_selects_it_in_the_guidance_view_and_back(
        qtbot, studio_runs):
    win = studio_runs
    sk, gv = win.skeleton, win.guidance
    qtbot.waitUntil(lambda: "no guidance head" in win.joints.status.text(), timeout=30000)
    pts = sk._shown["crop"]
    j = _loneliest_joint(pts)
    assert j != gv.joint
    with qtbot.waitSignal(gv.joint_selected, timeout=2000) as sig:
        _click_skeleton_joint(qtbot, sk, j)
    assert sig.args == [j] and sk.joint == j and gv.joint == j
    assert gv.joint_box.currentIndex() == j and EVAL_NAMES[j] in gv.name_label.text()
    np.testing.assert_allclose(sk.rings["crop"].getData()[0], [pts[j, 0]])
    assert sk.errors.currentRow() == j  # the error table follows
    # a click in the side view picks that view's joint
    k = _loneliest_joint(sk._shown["side"])
    if k != j:
        _click_skeleton_joint(qtbot, sk, k, "side")
        assert gv.joint == k
    # a click on empty background changes nothing
    before = gv.joint
    vb = sk.crop_vb
    corner = sk.glw.mapFromScene(vb.mapViewToScene(vb.viewRect().topLeft()))
    qtbot.mouseClick(sk.glw.viewport(), Qt.LeftButton, pos=QPoint(corner.x() + 3, corner.y() + 3))
    assert gv.joint == before

    # choosing a joint in the guidance view rings it in the skeleton
    gv.joint_box.setFocus()
    target = (gv.joint + 1) % len(EVAL_NAMES)
    with qtbot.waitSignal(sk.joint_selected, timeout=2000):
        qtbot.keyClick(gv.joint_box, Qt.Key_Down if target else Qt.Key_Home)
    assert sk.joint == target == gv.joint
    np.testing.assert_allclose(sk.rings["crop"].getData()[0], [pts[target, 0]])
    np.testing.assert_allclose(sk.rings["top"].getData()[0], [sk._shown["top"][target, 0]])


def test_hidden_tab_does_no_work_per_frame_and_catches_up_when_shown(qtbot, studio_runs):
    win = studio_runs
    panel, gv, bar = win.joints, win.guidance, win.tabs.tabBar()
    qtbot.waitUntil(lambda: "no guidance head" in panel.status.text(), timeout=30000)
    qtbot.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(win.tabs.indexOf(win.compare)).center())
    assert not panel.isVisible()
    first = win.session.frame_id
    nxt = win.browser.neighbour_id(first, 1)
    win.session.set_frame(nxt)
    assert not win.session.runner.busy("predict joints")  # no prediction for a hidden tab
    assert gv._data.frame.id == first  # nor guidance maps
    qtbot.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(win.tabs.indexOf(win.joints)).center())
    assert gv._data.frame.id == nxt and f"Frame {nxt}" in gv.caption.text()
    qtbot.waitUntil(lambda: (panel.chosen.name, nxt) in panel._cache, timeout=30000)
    assert "prediction dashed by tiny-a-none" in win.skeleton.note.text()


def test_a_broken_run_shows_one_dialog_not_one_per_frame(qtbot, studio_runs):
    win = studio_runs
    panel = win.joints
    run = next(r for r in panel.runs if r.name == "tiny-a-geodesic")
    run.checkpoint.write_bytes(b"not a checkpoint")
    errors = []
    win.session.error_raised.connect(errors.append)
    panel.choose_run(run.name)
    qtbot.waitUntil(lambda: "prediction failed" in panel.status.text(), timeout=30000)
    for fid in [f.id for f in win.session.project.frames()][1:3]:
        win.session.set_frame(fid)  # each frame is tried again, and fails again
        assert "predicting" in panel.status.text()
        qtbot.waitUntil(lambda: "prediction failed" in panel.status.text(), timeout=30000)
    assert len(errors) == 1 and "tiny-a-geodesic" in errors[0]
