"""The studio's main window: it only composes.

The panels come from one list (:data:`app.panels.PANELS`: name, class, centre tab or
dock); the actions on the current frame that span panels (accept / reject / clear,
restore this frame) live in one :class:`~app.views.frame_actions.FrameActions` the panels
share; the window adds menus, the status bar, the welcome page and the saved layout.
``window.add_tab(name, widget)`` and ``window.add_panel(name, widget, area)`` add a tab
or a dock at run time (a dock appears in the View menu and its place is saved with the
layout). Window geometry and dock layout persist in the studio settings (QSettings, INI
file; ``HANDPOSE_STUDIO_SETTINGS`` names another file).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QStackedWidget, QTabWidget

from .models.session import Session
from .panels import PANELS, TAB
from .project_menu import ProjectMenu, WelcomePanel
from .views.frame_actions import FrameActions

LAYOUT_VERSION = 1


def studio_settings() -> QSettings:
    """The studio's settings file (window layout, recent projects)."""
    path = os.environ.get("HANDPOSE_STUDIO_SETTINGS")
    if not path:
        from platformdirs import user_config_dir

        path = str(Path(user_config_dir("handpose-studio", appauthor=False)) / "studio.ini")
    return QSettings(path, QSettings.IniFormat)


class MainWindow(QMainWindow):
    """The studio window over a :class:`Session` (see the module docstring)."""

    def __init__(self, session: Session | None = None, settings: QSettings | None = None):
        super().__init__()
        self.session = session or Session(self)
        self.settings = settings or studio_settings()
        self.setWindowTitle("handpose-studio")
        self.setDockNestingEnabled(True)
        self.frame_actions = FrameActions(self.session, self)
        self._make_actions()

        self.tabs = QTabWidget()
        self.tabs.setObjectName("tabs")
        self.tabs.setDocumentMode(True)
        self.docks: list[QDockWidget] = []
        self.panels: dict[str, object] = {}
        for spec in PANELS:
            widget = spec.build(self.session, self.frame_actions)
            self.panels[spec.name] = widget
            setattr(self, spec.name, widget)
            if spec.where == TAB:
                self.add_tab(spec.title, widget)
            else:
                self.docks.append(self.add_panel(spec.title, widget, spec.where))
            msg = getattr(widget, "status_message", None)
            if msg is not None:
                msg.connect(self._on_panel_status_message)
            for w in getattr(widget, "status_widgets", list)():
                self.statusBar().addPermanentWidget(w)
            attach = getattr(widget, "attach_window", None)
            if attach is not None:
                attach(self)
        self.welcome = WelcomePanel()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.tabs)
        self.setCentralWidget(self.stack)

        self.project_menu = ProjectMenu(self, self.settings)
        self._make_menus()
        self.project_state = QLabel()
        self.statusBar().addPermanentWidget(self.project_state)

        s = self.session
        s.project_opened.connect(self._on_session_project_opened)
        s.message_posted.connect(self._on_session_message_posted)
        s.error_raised.connect(self.show_error)
        self.frame_actions.message.connect(self.statusBar().showMessage)
        self.frame_actions.failed.connect(self.show_error)
        self.welcome.open_requested.connect(self.project_menu.choose_project)
        self.welcome.new_requested.connect(self.project_menu.new_from_nyu)
        self.welcome.demo_requested.connect(self.project_menu.open_demo)
        self.resize(1560, 920)
        widths = {spec.title: spec.width for spec in PANELS if spec.where != TAB}
        sized = [d for d in self.docks if widths.get(d.windowTitle())]
        self.resizeDocks(sized, [widths[d.windowTitle()] for d in sized], Qt.Horizontal)
        self.restore_layout()
        self._on_session_project_opened(self.session.project)

    @property
    def skeleton(self):
        """The Skeleton tab's skeleton view (``window.joints.skeleton``)."""
        return self.joints.skeleton

    @property
    def guidance(self):
        """The Skeleton tab's guidance-map view (``window.joints.guidance``)."""
        return self.joints.guidance

    # ------------------------------------------------------------------ extension points
    def add_tab(self, name: str, widget) -> int:
        """Add a centre tab; returns its index."""
        widget.setObjectName(widget.objectName() or name.lower())
        return self.tabs.addTab(widget, name)

    def add_panel(self, name: str, widget, area=Qt.RightDockWidgetArea) -> QDockWidget:
        """Add a dock holding ``widget``; listed in the View menu, saved with the layout."""
        dock = QDockWidget(name, self)
        dock.setObjectName(f"dock_{name.lower().replace(' ', '_')}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable |
                         QDockWidget.DockWidgetClosable)
        self.addDockWidget(area, dock)
        if hasattr(self, "view_menu"):
            self.view_menu.addAction(dock.toggleViewAction())
        return dock

    # ------------------------------------------------------------------ actions and menus
    def _make_actions(self) -> None:
        quit_action = QAction("Quit", self)
        quit_action.setObjectName("quit")
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        quit_action.setShortcutContext(Qt.WindowShortcut)
        quit_action.setToolTip(f"Quit ({QKeySequence('Ctrl+Q').toString()})")
        quit_action.triggered.connect(self.close)
        self.actions_by_name = {**self.frame_actions.actions, "quit": quit_action}
        for a in self.actions_by_name.values():
            self.addAction(a)
        self.undo_action = self.session.undo_stack.createUndoAction(self, "Undo")
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.redo_action = self.session.undo_stack.createRedoAction(self, "Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for a in (self.undo_action, self.redo_action):
            a.setShortcutContext(Qt.WindowShortcut)
            self.addAction(a)

    def _make_menus(self) -> None:
        mb = self.menuBar()
        self.project_menu.populate(mb.addMenu("&File"), self.actions_by_name["quit"])
        edit = mb.addMenu("&Edit")
        edit.addAction(self.undo_action)
        edit.addAction(self.redo_action)
        frame = mb.addMenu("F&rame")
        for key in ("accept", "reject", "clear", "restore"):
            frame.addAction(self.actions_by_name[key])
        self.view_menu = mb.addMenu("&View")
        for dock in self.findChildren(QDockWidget):
            self.view_menu.addAction(dock.toggleViewAction())

    @Slot(str)
    def show_error(self, message: str, dialog: bool = True) -> None:
        """A dialog (non-blocking), a status line and stderr: errors never crash the studio.
        ``dialog`` False when the window already shows the message in its middle."""
        print(f"handpose-studio: {message}", file=sys.stderr)
        self.statusBar().showMessage(message.splitlines()[0], 10000)
        if not dialog:
            return
        box = QMessageBox(QMessageBox.Warning, "handpose-studio", message, QMessageBox.Ok, self)
        box.setObjectName("error_dialog")
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.setWindowModality(Qt.NonModal)  # the studio stays usable behind it
        box.show()

    # ------------------------------------------------------------------ session slots
    @Slot(object)
    def _on_session_project_opened(self, project) -> None:
        for dock in self.docks:
            dock.widget().setEnabled(project is not None)
        if project is None:
            self.setWindowTitle("handpose-studio")
            self.stack.setCurrentWidget(self.welcome)
            self.project_state.setText("no project")
            return
        self.stack.setCurrentWidget(self.tabs)
        self.setWindowTitle(f"handpose-studio — {project.root}")
        n = self.browser.model.rowCount()
        self.project_state.setText(f"{project.kind} project · {n:,} frames · {project.root}")
        self.project_menu.remember(project.root)

    @Slot(str)
    def _on_session_message_posted(self, text: str) -> None:
        self.statusBar().showMessage(text, 6000)

    @Slot(str)
    def _on_panel_status_message(self, text: str) -> None:
        self.statusBar().showMessage(text)

    # ------------------------------------------------------------------ layout persistence
    def restore_layout(self) -> None:
        """Window geometry and dock layout from the settings; a value that does not restore
        (a damaged or hand-edited settings file) is skipped and named on the status bar
        with the file, and the default layout stays."""
        bad = []
        for key, restore in (("window/geometry", self.restoreGeometry),
                             ("window/state", lambda v: self.restoreState(v, LAYOUT_VERSION))):
            v = self.settings.value(key)
            if v is None:
                continue
            if not (isinstance(v, (QByteArray, bytes, bytearray)) and restore(v)):
                bad.append(key)
        if bad:
            self.statusBar().showMessage(
                f"{self.settings.fileName()}: {' and '.join(bad)} did not read; the default "
                "layout is used")

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def closeEvent(self, event) -> None:
        self.save_layout()
        self.session.shutdown()
        super().closeEvent(event)
