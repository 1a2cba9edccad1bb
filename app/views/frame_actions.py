"""The actions on the current frame that span panels: accept / reject / clear the
restoration (undoable), move on to the next frame of the list, restore this frame.

One :class:`FrameActions` per window, shared by the panels: it owns the ``QAction`` s
(the window puts them in its menus and binds their keys, the quality panel shows their
buttons), reads the frame order from whichever panel lists frames
(:meth:`set_frame_order`: the browser), and says what it does through signals that the
panels show (:attr:`restore_state`, :attr:`restore_progress`) and the window puts in
its status bar (:attr:`message`). No panel reaches into another.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence

from ..commands.override import OverrideCommand
from ..workers.restore_frame import dictionary_missing, restore_frame_task

_WORDS = {True: "accepted", False: "rejected", None: "override cleared"}


class FrameActions(QObject):
    """Accept / reject / clear and "restore this frame" over a session (see the module
    docstring). ``actions``: name -> QAction (accept, reject, clear, restore)."""

    message = Signal(str, int)  # a status-bar line and how long to show it (ms; 0: until replaced)
    restore_state = Signal(bool, str)  # running, note
    restore_progress = Signal(int, int, str)
    restore_hint = Signal(str)  # why this frame cannot be restored (rich text)
    failed = Signal(str)  # an error the user must see

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.follow = True  # after a decision, move to the next frame of the list
        self._frame_order: Callable[[int, int], int | None] = lambda fid, step: None
        self._restore_worker = None
        self.actions = {
            "accept": self._action("accept", "Accept", "A", lambda: self.decide(True),
                                   "Accept the restored map"),
            "reject": self._action("reject", "Reject", "R", lambda: self.decide(False),
                                   "Reject the restored map (keep the raw f_s map)"),
            "clear": self._action("clear", "Clear", "C", lambda: self.decide(None),
                                  "Clear the human override (the automatic decision applies)"),
            "restore": self._action("restore", "Restore this frame", "Ctrl+R",
                                    self.restore_current_frame),
        }

    def _action(self, name, text, keys, slot, tip="") -> QAction:
        a = QAction(text, self)
        a.setObjectName(name)
        a.setShortcut(QKeySequence(keys))
        a.setShortcutContext(Qt.WindowShortcut)
        a.setToolTip(f"{tip or text} ({QKeySequence(keys).toString()})")
        a.triggered.connect(slot)
        return a

    def set_frame_order(self, neighbour: Callable[[int, int], int | None]) -> None:
        """``neighbour(frame_id, step)``: the frame ``step`` rows on in the list the user
        sees (None past its end)."""
        self._frame_order = neighbour

    @Slot(bool)
    def set_follow(self, on: bool) -> None:
        self.follow = bool(on)

    # ------------------------------------------------------------------ decisions
    def decide(self, accept: bool | None) -> bool:
        """Accept / reject / clear the current frame's restoration as an undoable command;
        then, when following, move to the next frame of the list. False (and a message)
        when the frame has no restoration."""
        s = self.session
        fid = s.frame_id
        if s.project is None or fid is None:
            return False
        nxt = self._frame_order(fid, 1)
        rec = s.project.restoration(fid)
        if rec is None:
            s.message_posted.emit(f"frame {fid} has no restoration to accept or reject "
                                  "(run the restore stage or 'Restore this frame')")
            return False
        if rec.override != accept:
            s.undo_stack.push(OverrideCommand(s, fid, rec.override, accept))
        self.message.emit(f"frame {fid}: {_WORDS[accept]} (Ctrl+Z undoes)", 4000)
        if self.follow and nxt is not None:
            s.set_frame(nxt)
        return True

    # ------------------------------------------------------------------ restore this frame
    @Slot()
    def restore_current_frame(self) -> None:
        """Restore the current frame in a worker; the result reaches the views through
        the session's change feed."""
        s = self.session
        if s.project is None or s.frame_id is None or s.runner.busy("restore frame"):
            return
        missing = dictionary_missing(s.project)
        if missing:
            self.restore_hint.emit(missing.replace("\n", "<br>"))
            self.message.emit(missing.splitlines()[0], 8000)
            return
        fid = s.frame_id
        self.restore_state.emit(True, f"restoring frame {fid} …")
        w = s.runner.run(restore_frame_task(fid), name="restore frame",
                         project_root=s.project.root,
                         on_success=self._on_restore_succeeded, on_failure=self.failed.emit,
                         on_cancel=lambda: self.restore_state.emit(False, "restore cancelled"),
                         on_progress=self.restore_progress.emit)
        w.failed.connect(lambda _m: self.restore_state.emit(False, "restore failed"))
        self._restore_worker = w

    @Slot()
    def cancel_restore(self) -> None:
        if self._restore_worker is not None:
            self._restore_worker.cancel()

    def _on_restore_succeeded(self, rec) -> None:
        verdict = "accepted" if rec.auto_accept else "rejected"
        self.restore_state.emit(False, f"frame {rec.frame_id} restored: {verdict} "
                                       f"({rec.raw.mm:.1f} → {rec.restored.mm:.1f} mm)")
