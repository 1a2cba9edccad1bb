"""Launching the studio: ``handpose-studio`` and ``handpose-studio gui [--project DIR]``.

With no project the demo project opens, created on first launch in a worker behind a
progress dialog (the window is up and responsive meanwhile). A project that cannot be
opened is reported on stderr, in a dialog and on the welcome panel, which offers to pick
another; the studio never exits or blocks because of it.
"""

from __future__ import annotations

import sys


def build_window(project=None, settings=None):
    """A :class:`~app.main_window.MainWindow`, opening ``project`` (a Project) if given."""
    # imported here, as below: the command line imports this module, and the window's
    # views (Qt widgets, pyqtgraph) cost it start-up time
    from .main_window import MainWindow

    win = MainWindow(settings=settings)
    if project is not None:
        win.session.open_project(project)
    return win


def start(project_dir: str | None = None, settings=None):
    """Create the window and begin opening a project (or the demo) in a worker."""
    from .main_window import MainWindow

    win = MainWindow(settings=settings)
    if project_dir:
        win.project_menu.open_path(project_dir)
    else:
        win.project_menu.open_demo()
    return win


def run_studio(project_dir: str | None = None) -> int:
    """Run the studio until its window closes; returns the exit status."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("handpose-studio")
    app.setOrganizationName("handpose-studio")
    from .gui_gc import GuiGarbageCollector

    collector = GuiGarbageCollector(app)  # Qt objects are never freed by a worker thread
    win = start(project_dir)
    collector.thaw_on(win.session)
    win.show()
    try:
        return app.exec()
    finally:
        collector.stop()
