"""Plugs the labelling mode and the evaluation dashboard into the studio window: two
centre tabs and a permanent "37 / 100 labelled" in the status bar."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel


def add_labelling_tabs(window) -> None:
    """Add the Labelling and Evaluation tabs to a :class:`~app.main_window.MainWindow`.

    The window owns Ctrl+Z / Ctrl+Shift+Z (Edit menu), so the panel does not bind them."""
    from .dashboard import DashboardPanel
    from .labelling import LabellingPanel

    window.labelling = LabellingPanel(window.session, undo_shortcuts=False)
    window.add_tab("Labelling", window.labelling)
    window.dashboard = DashboardPanel(window.session)
    window.add_tab("Evaluation", window.dashboard)
    label = QLabel()
    label.setObjectName("labelled_count")
    label.setToolTip("Evaluation-set frames whose hand labels are marked done")
    window.statusBar().addPermanentWidget(label)
    window.labelled_count = label

    def show(done: int, total: int) -> None:
        label.setText(f"{done} / {total} labelled" if total else "no evaluation set")

    window.labelling.progress_changed.connect(show)
    window.labelling.update_progress()
