"""Closing the studio while a stage runs: ask, then cancel, then close when it stopped.

:class:`CloseGuard` filters the window's close events. While the training panel runs a
job, a close is refused and a (non-blocking) question asks whether to stop the stage;
"Stop and close" only sets the job's cancel event, and the window closes once the worker
has ended, so the stage saves its checkpoint (or finished frames) and records its run as
cancelled. No thread is ever terminated and the window never freezes while it waits.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from handpose_core.stages import get_stage


class CloseGuard(QObject):
    """Guards ``window``'s close for ``panel`` (a :class:`~app.views.training.TrainingPanel`)."""

    def __init__(self, panel, window: QWidget):
        super().__init__(panel)
        self.panel, self.window = panel, window
        self.dialog: QMessageBox | None = None
        window.installEventFilter(self)
        panel.job_ended.connect(self._on_panel_job_ended)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if obj is self.window and event.type() == QEvent.Close and self.panel.busy():
            event.ignore()
            if not self.panel.closing:
                self._ask()
            return True
        return super().eventFilter(obj, event)

    def _ask(self) -> None:
        title = get_stage(self.panel.job.stage).title
        box = QMessageBox(QMessageBox.Question, "Stop the running stage?",
                          f"{title} is running. Stop it and close? It keeps its last "
                          "checkpoint (or finished frames) and resumes from it next time.",
                          QMessageBox.Yes | QMessageBox.No, self.panel)
        box.setObjectName("close_dialog")
        box.button(QMessageBox.Yes).setText("Stop and close")
        box.button(QMessageBox.No).setText("Keep running")
        box.finished.connect(self._on_dialog_finished)
        self.dialog = box
        box.open()

    @Slot(int)
    def _on_dialog_finished(self, _result: int) -> None:
        box = self.dialog
        if box.clickedButton() is box.button(QMessageBox.Yes) and self.panel.busy():
            self.panel.closing = True
            self.panel.cancel()
            self.panel.log("closing once the stage has stopped")

    @Slot(str)
    def _on_panel_job_ended(self, _stage: str) -> None:
        if self.panel.closing:
            self.window.close()
