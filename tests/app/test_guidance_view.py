"""The guidance-map view over a real session and project, driven by real mouse and key events."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from app.models.session import Session
from app.views.guidance import GuidanceView, compose_rgb
from handpose_core.guidance import guidance_maps


@pytest.fixture
def view(qtbot, make_nyu_project):
    project = make_nyu_project(2)
    session = Session()
    session.open_project(project)
    # f_s loads in a worker; shutting the session down while it loads aborts in h14's runner
    qtbot.waitUntil(lambda: not session.runner.busy(), timeout=60000)
    v = GuidanceView(session)
    qtbot.addWidget(v)
    v.resize(760, 470)
    v.show()
    qtbot.waitExposed(v)
    yield v, session, project
    session.shutdown()


def _loneliest_joint(joints: np.ndarray) -> int:
    d = np.linalg.norm(joints[:, None, :2] - joints[None, :, :2], axis=-1)
    d[np.arange(len(d)), np.arange(len(d))] = np.inf
    return int(d.min(1).argmax())


def _click_dot(qtbot, v: GuidanceView, j: int) -> None:
    scene = v.joint_scene_pos(j)
    pt = v.plot.mapFromScene(scene)
    qtbot.mouseMove(v.plot.viewport(), QPoint(pt.x(), pt.y()))
    qtbot.mouseClick(v.plot.viewport(), Qt.LeftButton, pos=QPoint(pt.x(), pt.y()))


def test_shows_the_ground_truth_map_of_the_frame_and_clicking_a_dot_selects_its_joint(qtbot, view):
    v, session, project = view
    assert "No frame" in v.caption.text()
    fid = project.frames()[1].id
    session.set_frame(fid)
    fd = session.frame_data(fid)
    assert f"Frame {fid}" in v.caption.text() and "pinky tip" in v.name_label.text()
    assert "ground-truth labels" in v.caption.text()

    j = _loneliest_joint(fd.joints_crop())
    with qtbot.waitSignal(v.joint_selected, timeout=2000) as sig:
        _click_dot(qtbot, v, j)
    assert sig.args == [j] and v.joint == j and v.joint_box.currentIndex() == j

    # the ground-truth panel is the joint's map over the crop: bright at the joint, grey off the hand
    img = v.gt.image.image
    expect = guidance_maps(fd.depth_crop, fd.joints_crop()[:, :2], labels=fd.gt_labels).maps[j]
    mask = (fd.depth_crop < 1) & (fd.gt_labels > 0)
    np.testing.assert_array_equal(img, compose_rgb(fd.depth_crop, expect, np.where(mask, 0.85, 0)))
    y, x = np.unravel_index(expect.argmax(), expect.shape)
    r, g, b = (int(c) for c in img[y, x])
    assert expect[y, x] == 1.0 and r > 180 and g > 180 and b < 110, (r, g, b)  # viridis(1): yellow
    off = np.argwhere(fd.depth_crop >= 1.0)[0]
    assert len(set(img[off[0], off[1]].tolist())) == 1  # background stays grey


def test_joint_list_and_map_kind_follow_the_keyboard(qtbot, view):
    v, session, project = view
    session.set_frame(project.frames()[0].id)
    v.joint_box.setFocus()
    with qtbot.waitSignal(v.joint_selected, timeout=2000) as sig:
        qtbot.keyClick(v.joint_box, Qt.Key_Down)
    assert sig.args == [1] and "pinky PIP" in v.name_label.text()
    before = v.gt.image.image.copy()
    v.kind_box.setFocus()
    qtbot.keyClick(v.kind_box, Qt.Key_Down)
    assert v.kind == "euclidean" and "Euclidean distance map of the pinky PIP" in v.caption.text()
    assert not np.array_equal(before, v.gt.image.image)
    v.set_kind("heatmap")
    assert "Gaussian" in v.caption.text()
    with pytest.raises(ValueError, match="joint index"):
        v.select_joint(14)
    with pytest.raises(ValueError, match="unknown guidance kind"):
        v.set_kind("gauss")


def test_predicted_maps_show_for_their_kind_and_clear_on_frame_change(qtbot, view):
    v, session, project = view
    frames = project.frames()
    session.set_frame(frames[0].id)
    fd = session.frame_data()
    assert "no prediction" in v.pred.note.toPlainText()
    with pytest.raises(ValueError, match="predicted maps must be"):
        v.set_predicted_maps(np.zeros((14, 10, 10)))
    empty = v.pred.image.image.copy()
    pred = guidance_maps(fd.depth_crop, fd.joints_crop()[:, :2] + 1.0, kind="geodesic").maps
    v.set_predicted_maps(pred, kind="geodesic")
    assert not v.pred.note.isVisible() and not np.array_equal(empty, v.pred.image.image)
    v.set_kind("heatmap")
    assert v.pred.note.isVisible() and "choose that map kind" in v.pred.note.toPlainText()
    v.set_kind("geodesic")
    assert not v.pred.note.isVisible()
    session.set_frame(frames[1].id)
    assert "no prediction" in v.pred.note.toPlainText()
