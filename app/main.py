"""Launching the studio.

Until the studio issue lands, this is a small window that opens (or first creates) the
project and shows what it holds; the browser, segmentation views, quality panel and
training panel come with the studio issue.
"""

from __future__ import annotations

import sys


def run_studio(project_dir: str | None = None) -> int:
    from PySide6.QtWidgets import QApplication, QMessageBox

    from handpose_core.project import default_demo_dir, open_or_create_demo

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("handpose-studio")
    try:
        from handpose_core.progress import TerminalProgress
        from handpose_core.project import Project

        project = Project.open(project_dir) if project_dir else open_or_create_demo(
            default_demo_dir(), progress=TerminalProgress("creating the demo project"))
    except (ValueError, FileNotFoundError) as e:
        QMessageBox.critical(None, "handpose-studio", str(e))
        return 2
    win = build_window(project)
    win.show()
    return app.exec()


def build_window(project):
    """The main window over an open project."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QAction, QKeySequence
    from PySide6.QtWidgets import QLabel, QMainWindow

    win = QMainWindow()
    win.setWindowTitle(f"handpose-studio — {project.root}")
    frames = project.frames()
    labelled = sum(f.has_labels for f in frames)
    runs = project.runs()
    text = (f"<h2>handpose-studio</h2><p>Project <b>{project.root}</b> ({project.kind})<br>"
            f"dataset: {project.dataset_root}<br>{len(frames)} frames, {labelled} with part "
            f"labels, {len(runs)} training runs recorded.</p><p>The studio views (frame browser, "
            "raw / restored / fine-tuned segmentations, quality check, training) arrive with the "
            "studio issue; every stage already runs from the command line "
            "(<code>handpose-studio --help</code>). Ctrl+Q quits.</p>")
    lab = QLabel(text)
    lab.setObjectName("summary")
    lab.setMargin(24)
    lab.setWordWrap(True)
    lab.setMaximumWidth(760)  # lines of readable length when the window is wide
    lab.setAlignment(Qt.AlignTop | Qt.AlignLeft)  # reads from the top at any window size
    # paths can be selected and copied with the mouse or the keyboard
    lab.setTextInteractionFlags(Qt.TextSelectableByMouse | Qt.TextSelectableByKeyboard)
    lab.setFocusPolicy(Qt.StrongFocus)
    win.setCentralWidget(lab)
    quit_action = QAction("Quit", win)
    quit_action.setObjectName("quit")
    # explicit: the platform "Quit" binding is empty on Windows and offscreen
    quit_action.setShortcut(QKeySequence("Ctrl+Q"))
    quit_action.triggered.connect(win.close)
    win.addAction(quit_action)
    win.resize(720, 320)
    return win
