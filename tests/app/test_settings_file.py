"""A damaged studio settings file (window layout, recent projects) never stops the studio:
what does not read is skipped, named with the file on the status bar, and the file is not
touched until the window saves its layout on closing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CASES = {
    # name -> (file content, whether the layout is reported as not read)
    "binary garbage": (b"\x00\xff\xfe garbage \x89PNG\r\n", False),
    "cut inside a section name": (b"[win", False),
    "geometry as text": (b"[window]\ngeometry=hello\nstate=@Invalid()\n", True),
    "geometry as a number": (b"[window]\ngeometry=5\n", True),
    "geometry bytes that are no geometry": (b"[window]\ngeometry=@ByteArray(abc)\n", True),
    "state bytes that are no state": (b"[window]\nstate=@ByteArray(\\x1\\x2\\x3)\n", True),
    "recent projects as an unknown type": (b"[General]\nrecent=@Variant(\\0\\0\\0\\x7f)\n", False),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_damaged_settings_file_opens_the_studio_with_the_default_layout(qtbot, case):
    from app.main_window import MainWindow

    data, reported = CASES[case]
    path = Path(os.environ["HANDPOSE_STUDIO_SETTINGS"])  # tests/app/conftest.py: per test
    path.write_bytes(data)
    win = MainWindow()  # restores the layout from the file
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    msg = win.statusBar().currentMessage()
    if reported:
        assert str(path) in msg and "did not read; the default layout is used" in msg, msg
    assert path.read_bytes() == data  # read only
    assert all(isinstance(p, str) for p in win.project_menu.recent())
    win.close()  # saves a good layout over the damaged one
    again = MainWindow()
    qtbot.addWidget(again)
    assert "did not read" not in again.statusBar().currentMessage()
