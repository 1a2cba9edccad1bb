"""The studio's main window: frame browser and quality docks around the compare tabs.

Other panels plug in without editing this module:

- ``window.add_tab(name, widget)`` adds a tab to the centre (``QTabWidget``), e.g. the
  labelling mode and the evaluation dashboard;
- ``window.add_panel(name, widget, area=Qt.RightDockWidgetArea)`` adds a dock (e.g. a
  training panel); it appears in the View menu and its place is saved with the layout.

Both take a widget built over ``window.session`` (:class:`~app.models.session.Session`).
Window geometry and dock layout persist in the studio settings (QSettings, INI file;
``HANDPOSE_STUDIO_SETTINGS`` names another file).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QStackedWidget, QTabWidget

from .models.session import Session
from .project_menu import ProjectMenu, WelcomePanel
from .views.browser import BrowserPanel
from .views.compare import CompareView
from .views.joints_panel import JointsPanel
from .views.quality import QualityPanel
from .views.training import TrainingPanel
from .workers.restore_frame import dictionary_missing, restore_frame_task

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
        self._make_actions()

        self.tabs = QTabWidget()
        self.tabs.setObjectName("tabs")
        self.tabs.setDocumentMode(True)
        self.compare = CompareView(self.session)
        self.joints = JointsPanel(self.session)  # skeleton + guidance maps of a chosen f_r
        self.skeleton, self.guidance = self.joints.skeleton, self.joints.guidance
        self.add_tab("Compare", self.compare)
        self.add_tab("Skeleton", self.joints)
        self.training = TrainingPanel(self.session)
        self.add_tab("Training", self.training)
        self.training.guard_close(self)  # closing during a run asks, cancels, then closes
        from .views.labelling_tabs import add_labelling_tabs

        add_labelling_tabs(self)  # Labelling and Evaluation tabs, "n / N labelled" status
        self.welcome = WelcomePanel()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.tabs)
        self.setCentralWidget(self.stack)

        self.browser = BrowserPanel(self.session)
        self.quality = QualityPanel(self.session, self.actions_by_name)
        docks = [self.add_panel("Frames", self.browser, Qt.LeftDockWidgetArea),
                 self.add_panel("Quality", self.quality, Qt.RightDockWidgetArea)]
        self.project_menu = ProjectMenu(self, self.settings)
        self._make_menus()
        self.project_state = QLabel()
        self.statusBar().addPermanentWidget(self.project_state)

        s = self.session
        s.project_opened.connect(self._on_session_project_opened)
        s.message_posted.connect(self._on_session_message_posted)
        s.error_raised.connect(self.show_error)
        self.compare.hovered.connect(self._on_compare_hovered)
        self.quality.restore_requested.connect(self.restore_current_frame)
        self.quality.cancel_requested.connect(self._on_quality_cancel_requested)
        self.welcome.open_requested.connect(self.project_menu.choose_project)
        self.welcome.new_requested.connect(self.project_menu.new_from_nyu)
        self.welcome.demo_requested.connect(self.project_menu.open_demo)
        self.resize(1560, 920)
        self.resizeDocks(docks, [480, 390], Qt.Horizontal)
        self.restore_layout()
        self._on_session_project_opened(self.session.project)

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
        def act(name, text, keys, slot, tip=""):
            a = QAction(text, self)
            a.setObjectName(name)
            if keys:
                a.setShortcut(QKeySequence(keys))
                a.setShortcutContext(Qt.WindowShortcut)
            a.setToolTip(f"{tip or text} ({QKeySequence(keys).toString()})" if keys else tip or text)
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        self.actions_by_name = {
            "accept": act("accept", "Accept", "A", lambda: self.decide(True),
                          "Accept the restored map"),
            "reject": act("reject", "Reject", "R", lambda: self.decide(False),
                          "Reject the restored map (keep the raw f_s map)"),
            "clear": act("clear", "Clear", "C", lambda: self.decide(None),
                         "Clear the human override (the automatic decision applies)"),
            "restore": act("restore", "Restore this frame", "Ctrl+R", self.restore_current_frame),
            "quit": act("quit", "Quit", "Ctrl+Q", self.close),
        }
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

    # ------------------------------------------------------------------ user actions
    def decide(self, accept: bool | None) -> None:
        """Accept / reject / clear the current frame's restoration; optionally move on."""
        fid = self.session.frame_id
        if self.session.project is None or fid is None:
            return
        nxt = self.browser.neighbour_id(fid, 1)
        if self.session.set_override(fid, accept):
            word = {True: "accepted", False: "rejected", None: "override cleared"}[accept]
            self.statusBar().showMessage(f"frame {fid}: {word} (Ctrl+Z undoes)", 4000)
            if self.quality.follow.isChecked() and nxt is not None:
                self.session.set_frame(nxt)

    @Slot()
    def restore_current_frame(self) -> None:
        s = self.session
        if s.project is None or s.frame_id is None or s.runner.busy("restore frame"):
            return
        missing = dictionary_missing(s.project)
        if missing:
            self.quality.restore_note.setText(missing.replace("\n", "<br>"))
            self.statusBar().showMessage(missing.splitlines()[0], 8000)
            return
        fid = s.frame_id
        self.quality.set_restoring(True, f"restoring frame {fid} …")
        w = s.runner.run(restore_frame_task(fid), name="restore frame",
                         project_root=s.project.root,
                         on_success=lambda rec: self._on_restore_succeeded(rec),
                         on_failure=self.show_error,
                         on_cancel=lambda: self.quality.set_restoring(False, "restore cancelled"),
                         on_progress=self.quality.show_progress)
        w.failed.connect(lambda _m: self.quality.set_restoring(False, "restore failed"))
        self._restore_worker = w

    def _on_restore_succeeded(self, rec) -> None:
        verdict = "accepted" if rec.auto_accept else "rejected"
        self.quality.set_restoring(False, f"frame {rec.frame_id} restored: {verdict} "
                                          f"({rec.raw.mm:.1f} → {rec.restored.mm:.1f} mm)")
        self.session.notify("restoration", rec.frame_id)

    @Slot()
    def _on_quality_cancel_requested(self) -> None:
        w = getattr(self, "_restore_worker", None)
        if w is not None:
            w.cancel()

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
        for panel in (self.browser, self.quality):
            panel.setEnabled(project is not None)
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
    def _on_compare_hovered(self, text: str) -> None:
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
