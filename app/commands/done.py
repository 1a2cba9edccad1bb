"""The undoable "labels done" mark of one frame (the labelling panel's Done box)."""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand


class DoneCommand(QUndoCommand):
    """Marks ``frame_id``'s hand labels done (redo: ``new``) or back (undo: ``old``).

    ``host`` is the labelling panel: it provides ``apply_done(frame_id, done)``, which
    brings the frame into view and saves the mark at once (one committed write), so the
    store always matches the undo stack's position."""

    def __init__(self, host, frame_id: int, old: bool, new: bool):
        super().__init__(f"mark frame {frame_id} {'done' if new else 'not done'}")
        self.host, self.frame_id, self.old, self.new = host, int(frame_id), bool(old), bool(new)

    def redo(self) -> None:
        self.host.apply_done(self.frame_id, self.new)

    def undo(self) -> None:
        self.host.apply_done(self.frame_id, self.old)
