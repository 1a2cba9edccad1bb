"""The undoable paint action: one brush / eraser stroke, fill or "start from" on one frame.

A :class:`StrokeCommand` holds the stroke's :class:`~handpose_core.labelling.edit.Patch`
(its bounding box before and after), never the whole map. The stroke was painted into
the open label map while the mouse moved; the command's first ``redo`` (run by
``QUndoStack.push``) saves it, and later redo / undo write the box back and save the
frame at once (PNG and store row): every labelling write goes through the undo stack,
and what is on disk always matches the stack's position.
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand


class StrokeCommand(QUndoCommand):
    """Undo step of one paint action on ``frame_id``.

    ``host`` is the labelling panel: it provides ``save_painted(frame_id)``, which saves
    the action just painted into its open map, and ``apply_patch(frame_id, patch, undo)``,
    which brings the frame into view and writes the box.
    """

    def __init__(self, host, frame_id: int, patch, text: str):
        super().__init__(text)
        self.host, self.frame_id, self.patch = host, int(frame_id), patch
        self._painted = True  # in the open map already, not yet saved

    def redo(self) -> None:
        if self._painted:
            self._painted = False
            self.host.save_painted(self.frame_id)
            return
        self.host.apply_patch(self.frame_id, self.patch, undo=False)

    def undo(self) -> None:
        self.host.apply_patch(self.frame_id, self.patch, undo=True)
