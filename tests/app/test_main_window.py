import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from app.main import build_window
from handpose_core.datasets.nyu import write_nyu_split
from handpose_core.project import Project


def test_window_summarises_project(qtbot, tmp_path):
    uvd = np.full((2, 36, 3), 500.0)
    write_nyu_split(tmp_path / "nyu", "test",
                    [np.full((480, 640), 2001, np.uint16)] * 2, uvd, uvd)
    p = Project.create(tmp_path / "proj", tmp_path / "nyu", kind="nyu")
    win = build_window(p)
    qtbot.addWidget(win)
    win.show()
    text = win.centralWidget().text()
    assert "2 frames" in text and str(p.root) in text
    assert win.grab().width() > 0


def test_summary_text_is_selectable_and_ctrl_q_closes(qtbot, tmp_path):
    """Real mouse and key events: the project path can be selected and copied, and the
    Ctrl+Q shortcut closes the window."""
    uvd = np.full((1, 36, 3), 500.0)
    write_nyu_split(tmp_path / "nyu", "test", [np.full((480, 640), 2001, np.uint16)], uvd, uvd)
    p = Project.create(tmp_path / "proj", tmp_path / "nyu", kind="nyu")
    win = build_window(p)
    qtbot.addWidget(win)
    with qtbot.waitActive(win):
        win.show()
        win.activateWindow()
    lab = win.centralWidget()
    qtbot.mouseClick(lab, Qt.LeftButton)
    assert lab.hasFocus()
    qtbot.keyClick(lab, Qt.Key_A, Qt.ControlModifier)  # select all
    assert str(p.root) in lab.selectedText()
    qtbot.keyClick(lab, Qt.Key_C, Qt.ControlModifier)
    assert str(p.root) in QGuiApplication.clipboard().text()
    qtbot.keyClick(win, Qt.Key_Q, Qt.ControlModifier)
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=2000)
