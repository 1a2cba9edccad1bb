import numpy as np

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
