"""The undoable override: accept / reject / clear the human decision on a restoration."""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand

_WORDS = {True: "accept", False: "reject", None: "clear override"}


class OverrideCommand(QUndoCommand):
    """Sets a frame's override to ``new`` (redo) and back to ``old`` (undo).

    Each redo / undo is written to the store at once (one committed transaction), so the
    decision on disk always matches the undo stack's position."""

    def __init__(self, session, frame_id: int, old: bool | None, new: bool | None):
        super().__init__(f"{_WORDS[new]} frame {frame_id}")
        self.session, self.frame_id, self.old, self.new = session, int(frame_id), old, new

    def redo(self) -> None:
        self.session.write_override(self.frame_id, self.new)

    def undo(self) -> None:
        self.session.write_override(self.frame_id, self.old)
