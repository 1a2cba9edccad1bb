"""Opening and creating projects: the File menu, recent projects and the welcome panel.

Opening reads the store and the dataset's joint files, and creating the demo renders a
dataset, so both run in a worker; the window stays responsive and shows progress. A
folder that is missing, empty or not a project gets a message on the welcome panel, in a
dialog and on stderr, and the studio stays usable to pick another one.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressDialog,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from handpose_core.project import Project, create_demo_project
from handpose_core.project import default_demo_dir as core_default_demo_dir

MAX_RECENT = 8
DEMO_KWARGS: dict = {}
"""Extra arguments for ``create_demo_project`` (tests make a tiny demo with them)."""


def _open_task(root):
    def run(ctx):
        ctx.progress(0, 1, f"opening {root}")
        p = Project.open(root)
        try:
            for split in p.dataset.splits:  # the joint files are read once, here, not on a click
                p.dataset.joints(split)
        except Exception:
            p.close()
            raise
        return p
    return run


def _create_demo_task(root):
    def run(ctx):
        p = create_demo_project(root, progress=ctx.progress, cancel=ctx.cancel, **DEMO_KWARGS)
        p.close()
        return Project.open(root)
    return run


def _create_nyu_task(root, nyu_root):
    def run(ctx):
        ctx.progress(0, 1, f"reading {nyu_root}")
        Project.create(root, nyu_root, kind="nyu").close()
        return _open_task(root)(ctx)
    return run


def default_demo_dir() -> Path:
    return Path(core_default_demo_dir())


class WelcomePanel(QWidget):
    """Shown while no project is open: what went wrong, and ways to open one."""

    open_requested = Signal()
    new_requested = Signal()
    demo_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.message = QLabel("<h2>handpose-studio</h2><p>No project is open.</p>")
        self.message.setObjectName("welcome_message")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.message.setMaximumWidth(720)
        row = QHBoxLayout()
        for text, sig, name in (("Open project…", self.open_requested, "open"),
                                ("New project from an NYU root…", self.new_requested, "new"),
                                ("Open the demo project", self.demo_requested, "demo")):
            b = QPushButton(text)
            b.setObjectName(f"welcome_{name}")
            b.clicked.connect(sig)
            row.addWidget(b)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(32, 32, 32, 32)
        lay.addWidget(self.message)
        lay.addLayout(row)
        lay.addStretch(1)

    def set_message(self, html: str) -> None:
        self.message.setText(html)


class ProjectMenu:
    """File-menu logic of a :class:`~app.main_window.MainWindow`."""

    def __init__(self, window, settings):
        self.window = window
        self.settings = settings
        self.recent_menu = None
        self.progress_dialog = None

    def populate(self, menu, quit_action) -> None:
        menu.addAction("&Open project…", "Ctrl+O", self.choose_project)
        menu.addAction("&New project from an NYU root…", self.new_from_nyu)
        menu.addAction("Open the &demo project", self.open_demo)
        self.recent_menu = menu.addMenu("&Recent projects")
        self._fill_recent()
        menu.addSeparator()
        menu.addAction(quit_action)

    # ------------------------------------------------------------------ recent
    def recent(self) -> list[str]:
        v = self.settings.value("recent", [])
        v = [v] if isinstance(v, str) else list(v or [])
        return [p for p in v if p]

    def remember(self, root) -> None:
        root = str(Path(root).resolve())
        items = [root] + [p for p in self.recent() if p != root]
        self.settings.setValue("recent", items[:MAX_RECENT])
        self._fill_recent()

    def _fill_recent(self) -> None:
        if self.recent_menu is None:
            return
        self.recent_menu.clear()
        for p in self.recent():
            self.recent_menu.addAction(p, lambda p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.recent()))

    # ------------------------------------------------------------------ actions
    @Slot()
    def choose_project(self) -> None:
        d = QFileDialog.getExistingDirectory(self.window, "Open a handpose-studio project")
        if d:
            self.open_path(d)

    @Slot()
    def new_from_nyu(self) -> None:
        nyu = QFileDialog.getExistingDirectory(self.window, "NYU Hand Pose root (train/, test/)")
        if not nyu:
            return
        root = QFileDialog.getExistingDirectory(self.window, "Folder for the new project")
        if root:
            self._run(_create_nyu_task(root, nyu), "cannot create the project", root,
                      status=f"creating a project over {nyu}")

    @Slot()
    def open_demo(self) -> None:
        root = default_demo_dir()
        if (root / "project.sqlite").exists():
            self.open_path(root)
        else:
            self._run(_create_demo_task(root), "creating the demo project (first launch)", root,
                      dialog=True)

    def open_path(self, root) -> None:
        """Open the project at ``root`` in a worker; errors leave the studio usable."""
        self._run(_open_task(root), "cannot open the project", root, status=f"opening {root}")

    # ------------------------------------------------------------------ worker plumbing
    def _run(self, fn, what: str, root, *, dialog: bool = False, status: str | None = None):
        """Run ``fn`` in a worker; ``what`` names it in progress and as the prefix of an error."""
        w = self.window
        w.statusBar().showMessage((status or what) + " …")
        if dialog:
            pd = QProgressDialog(what, "Cancel", 0, 0, w)
            pd.setObjectName("create_progress")
            pd.setWindowTitle("handpose-studio")
            pd.setMinimumDuration(0)
            pd.setWindowModality(Qt.WindowModal)
            pd.setMinimumWidth(460)
            self.progress_dialog = pd
        worker = w.session.runner.run(fn, name=what, on_success=self._on_opened,
                                      on_failure=lambda m, r=root: self._on_failed(r, m),
                                      on_cancel=self._on_cancelled)
        if dialog:
            worker.progress.connect(self._on_progress)
            pd.canceled.connect(worker.cancel)
            pd.show()
        return worker

    def _on_progress(self, done: int, total: int, message: str) -> None:
        pd = self.progress_dialog
        if pd is not None:
            pd.setMaximum(max(total, 1))
            pd.setValue(min(done, total))
            pd.setLabelText(message or pd.labelText())

    def _close_dialog(self) -> None:
        if self.progress_dialog is not None:
            self.progress_dialog.reset()
            self.progress_dialog.close()
            self.progress_dialog = None

    def _on_opened(self, project) -> None:
        self._close_dialog()
        self.window.session.open_project(project)
        self.window.statusBar().showMessage(f"opened {project.root}", 5000)

    def _on_failed(self, root, message: str) -> None:
        self._close_dialog()
        w = self.window
        if w.session.project is None:  # the welcome page says it: no dialog on top of it
            why = message.removeprefix("cannot open the project: ")
            w.welcome.set_message(
                "<h2>handpose-studio</h2><p><b>Could not open a project.</b></p>"
                f"<p style='color:#c62828'>{_html(why)}</p>"
                "<p>Pick another project, create one over an NYU root, or open the demo.</p>")
        w.show_error(message, dialog=w.session.project is not None)

    def _on_cancelled(self) -> None:
        self._close_dialog()
        self.window.statusBar().showMessage("cancelled", 5000)
        print("handpose-studio: cancelled", file=sys.stderr)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>")
