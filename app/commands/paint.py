"""The undoable paint action: one brush / eraser stroke, fill or "start from" on one frame.

A :class:`StrokeCommand` holds the stroke's :class:`~handpose_core.labelling.edit.Patch`
(its bounding box before and after), never the whole map. The stroke was painted and
saved before the command is pushed, so the first ``redo`` only records it; later redo /
undo write the box back and save the frame at once (PNG and store row), so what is on
disk always matches the undo stack's position.
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand


class StrokeCommand(QUndoCommand):
    """Undo step of one paint action on ``frame_id``.

    ``host`` is the labelling panel: it provides ``apply_patch(frame_id, patch, undo)``,
    which brings the frame into view and writes the box.
    """

    def __init__(self, host, frame_id: int, patch, text: str):
        super().__init__(text)
        self.host, self.frame_id, self.patch = host, int(frame_id), patch
        self._done = True  # painted and saved already when pushed

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        self.host.apply_patch(self.frame_id, self.patch, undo=False)

    def undo(self) -> None:
        self.host.apply_patch(self.frame_id, self.patch, undo=True)
