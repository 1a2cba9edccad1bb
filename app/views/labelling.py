"""Labelling mode: paint the hand parts of the evaluation frames, stroke by stroke.

The panel drives a :class:`~handpose_core.labelling.editor.LabelEditor` for the
session's current frame: the canvas reports mouse actions in frame pixels, the editor
paints and saves (PNG + store row) when a stroke ends, and each finished action becomes a
:class:`~app.commands.paint.StrokeCommand` on the session's undo stack. Keys (while the
panel has focus): B brush, E eraser, F fill, I picker, D depth-edges limit, [ / ] brush
size, 0-9 part (two digits quickly for 10-20), Ctrl+Z / Ctrl+Shift+Z undo / redo,
Ctrl+Return mark done and go to the next evaluation frame, N / Shift+N next / previous
evaluation frame, Escape drops the stroke in progress.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from handpose_core.labelling.aids import depth_display
from handpose_core.labelling.edit import pick
from handpose_core.labelling.editor import BRUSH, ERASER, LabelEditor, apply_patch, load_hand_labels
from handpose_core.labelling.evalset import get_eval_set, labelling_progress
from handpose_core.parts import PARTS
from handpose_core.project import ChangeKind

from ..commands.done import DoneCommand
from ..commands.paint import StrokeCommand
from .label_canvas import LabelCanvasView
from .labelling_actions import START_FROM, LabellingActions
from .labelling_toolbar import FILL, PICKER, TOOLS, LabellingToolBar
from .part_legend import PartLegendView

DIGIT_MS = 700  # a second digit within this time makes a two-digit part id


class LabellingPanel(QWidget):
    """Labelling mode over a :class:`~app.models.session.Session` (see module docstring)."""

    labels_saved = Signal(int)  # frame id, after every save
    progress_changed = Signal(int, int)  # done, total of the evaluation set

    def __init__(self, session, parent=None, *, undo_shortcuts: bool = True):
        super().__init__(parent)
        self.session = session
        self.editor: LabelEditor | None = None
        self.tool, self.part = BRUSH, 1
        self.eval_ids: list[int] = []
        self._digit: int | None = None
        self._own_saves: dict[int, int] = {}  # saves whose store event is still to come
        self._digit_timer = QTimer(self, singleShot=True, interval=DIGIT_MS)
        self._digit_timer.timeout.connect(self._on_digit_timer_timeout)
        self._build(undo_shortcuts)
        self.actions_ = LabellingActions(self)
        session.project_opened.connect(self._on_session_project_opened)
        session.frame_changed.connect(self._on_session_frame_changed)
        session.data_changed.connect(self._on_session_data_changed)
        if session.project is not None:
            self._on_session_project_opened(session.project)

    # ------------------------------------------------------------------ layout
    def _build(self, undo_shortcuts: bool) -> None:
        self.progress_label = QLabel("No evaluation set yet")
        self.progress_label.setObjectName("labelling_progress")
        f = self.progress_label.font()
        f.setPointSizeF(f.pointSizeF() * 1.3)
        f.setBold(True)
        self.progress_label.setFont(f)
        self.frame_label = QLabel("no frame")
        # long frame details must never widen the window: they wrap to a second line
        self.frame_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.frame_label.setWordWrap(True)
        self.done_box = QCheckBox("Done (Ctrl+Return: done, next)")
        self.done_box.setToolTip("The frame's labels are complete: it counts in the evaluation")
        self.done_box.toggled.connect(self._on_done_box_toggled)
        head = QHBoxLayout()
        head.addWidget(self.progress_label)
        head.addSpacing(16)
        head.addWidget(self.frame_label, 1)
        head.addWidget(self.done_box)

        self.toolbar = LabellingToolBar(self)
        tb = self.toolbar
        self.tool_group, self.tool_buttons = tb.tool_group, tb.tool_buttons
        self.size_spin, self.opacity_slider, self.depth_box = tb.size_spin, tb.opacity_slider, tb.depth_box
        for name, b in self.tool_buttons.items():
            b.clicked.connect(lambda _=False, n=name: self.set_tool(n))
        self.size_spin.valueChanged.connect(self._on_size_spin_value_changed)
        self.opacity_slider.valueChanged.connect(self._on_opacity_slider_value_changed)
        self.depth_box.toggled.connect(self._on_depth_box_toggled)

        self.canvas = LabelCanvasView(self)
        self.canvas.pressed.connect(self._on_canvas_pressed)
        self.canvas.moved.connect(self._on_canvas_moved)
        self.canvas.released.connect(self._on_canvas_released)
        self.canvas.hovered.connect(self._on_canvas_hovered)
        self.canvas.set_opacity(0.6)
        self.legend = PartLegendView(self)
        self.legend.part_chosen.connect(self.set_part)
        self.legend.set_part(self.part)
        body = QHBoxLayout()
        body.addWidget(self.canvas, 1)
        body.addWidget(self.legend)

        self.start_combo = QComboBox()
        for key, text in START_FROM:
            self.start_combo.addItem(text, key)
        self.start_combo.setToolTip("Replace the labels in view with this map, so labelling "
                                    "means correcting (undoable)")
        self.start_button = QPushButton("Start from it")
        self.start_button.setToolTip("Replace the labels in view with this prediction (undoable)")
        self.start_button.clicked.connect(
            lambda: self.start_from(self.start_combo.currentData()))
        self.status_label = QLabel(" ")  # hover read-out and messages, a line of its own
        self.status_label.setObjectName("labelling_status")
        self.status_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.bottom = QHBoxLayout()
        self.bottom.addStretch(1)
        self.bottom.addWidget(self.start_combo)
        self.bottom.addWidget(self.start_button)
        self.bottom.addSpacing(12)

        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addWidget(self.toolbar)
        lay.addLayout(body, 1)
        lay.addWidget(self.status_label)
        lay.addLayout(self.bottom)
        self._shortcuts(undo_shortcuts)

    def _shortcuts(self, undo_shortcuts: bool) -> None:
        def add(keys, slot):
            a = QAction(self)
            a.setShortcuts([QKeySequence(k) for k in keys])
            a.setShortcutContext(Qt.WidgetWithChildrenShortcut)
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        for name, _, key in TOOLS:
            add([key], lambda _=False, n=name: self.set_tool(n))
        add(["D"], lambda: self.depth_box.toggle())
        add(["["], lambda: self.size_spin.setValue(self.size_spin.value() - 1))
        add(["]"], lambda: self.size_spin.setValue(self.size_spin.value() + 1))
        for d in range(10):
            add([str(d)], lambda _=False, d=d: self._on_digit(d))
        add(["Escape"], self._on_escape)
        add(["Ctrl+Return", "Ctrl+Enter"], self.mark_done_and_next)
        add(["N"], lambda: self.step_eval(+1))
        add(["Shift+N"], lambda: self.step_eval(-1))
        if undo_shortcuts:
            add([QKeySequence.Undo], self.session.undo_stack.undo)
            add([QKeySequence.Redo, "Ctrl+Shift+Z"], self.session.undo_stack.redo)

    # ------------------------------------------------------------------ tools and parts
    def set_tool(self, name: str) -> None:
        self.tool = name
        self.tool_buttons[name].setChecked(True)
        self.canvas.setCursor(Qt.PointingHandCursor if name == PICKER else Qt.CrossCursor)

    def set_part(self, part_id: int) -> None:
        self.part = int(part_id)
        self.legend.set_part(self.part)
        if self.tool in (ERASER, PICKER):
            self.set_tool(BRUSH)
        self._status(f"part {self.part}: {PARTS[self.part].name}")

    def _on_digit(self, d: int) -> None:
        if self._digit is not None and self._digit * 10 + d <= 20:
            self._digit_timer.stop()
            first, self._digit = self._digit, None
            self.set_part(first * 10 + d)
            return
        self.set_part(d)
        self._digit = d if d in (1, 2) else None
        if self._digit is not None:
            self._digit_timer.start()

    def _on_digit_timer_timeout(self) -> None:
        self._digit = None

    def _on_size_spin_value_changed(self, v: int) -> None:
        self.canvas.brush_size = int(v)

    def _on_opacity_slider_value_changed(self, v: int) -> None:
        self.canvas.set_opacity(v / 100.0)

    def _on_depth_box_toggled(self, on: bool) -> None:
        if self.editor is not None:
            self.editor.limit_to_depth = bool(on)
            self._status(f"depth edges {'on' if on else 'off'}: hand range "
                         f"{self.editor.near:.0f}-{self.editor.far:.0f} mm")

    # ------------------------------------------------------------------ painting
    def _on_canvas_pressed(self, x: float, y: float, _mods: int) -> None:
        ed = self.editor
        if ed is None:
            return
        if self.tool == PICKER:
            p = pick(ed.labels, x, y)
            if p is not None:
                self.set_part(p)
            return
        if self.tool == FILL:
            self._push(ed.fill(x, y, self.part, save=False), f"fill {PARTS[self.part].name}")
            return
        if ed.stroke_active:  # a release we never saw (focus change): finish that one first
            self._push(ed.end_stroke(save=False), "stroke")
        box = ed.begin_stroke(x, y, tool=self.tool, value=self.part, size=self.size_spin.value())
        self.canvas.refresh(box)

    def _on_canvas_moved(self, x: float, y: float) -> None:
        if self.editor is not None and self.editor.stroke_active:
            self.canvas.refresh(self.editor.continue_stroke(x, y))

    def _on_canvas_released(self, x: float, y: float) -> None:
        ed = self.editor
        if ed is None or not ed.stroke_active:
            return
        self.canvas.refresh(ed.continue_stroke(x, y))
        what = "erase" if self.tool == ERASER else f"paint {PARTS[self.part].name}"
        self._push(ed.end_stroke(save=False), what)

    def _on_escape(self) -> None:
        if self.editor is not None and self.editor.stroke_active:
            self.editor.cancel_stroke()
            self.canvas.refresh()
            self._status("stroke dropped")

    def _push(self, patch, text: str) -> None:
        """A finished action painted into the open map (made with ``save=False``): onto the
        undo stack, whose first redo saves it (:meth:`save_painted`)."""
        if patch is None:
            return
        self.canvas.refresh(patch.bbox)
        fid = self.editor.frame.id
        self.session.undo_stack.push(StrokeCommand(self, fid, patch, f"{text} (frame {fid})"))

    def save_painted(self, frame_id: int) -> None:
        """The first redo of a :class:`StrokeCommand`: save the action just painted into
        the open map of ``frame_id`` (PNG and store row) and tell the studio."""
        if self.editor is None or self.editor.frame.id != frame_id:
            raise RuntimeError(f"frame {frame_id} is not the one being labelled")
        self.editor.commit()
        self._after_save(frame_id)

    def apply_patch(self, frame_id: int, patch, undo: bool) -> None:
        """Undo / redo of a :class:`StrokeCommand`: show the frame, write the box, save."""
        if self.session.frame_id != frame_id:
            self.session.set_frame(frame_id)
        if self.isVisible() and (self.editor is None or self.editor.frame.id != frame_id):
            self.load_frame(frame_id)
        ed = self.editor if self.editor is not None and self.editor.frame.id == frame_id else None
        if ed is not None and ed.stroke_active:
            ed.cancel_stroke()
        apply_patch(self.session.project, frame_id, patch, undo=undo, editor=ed)
        if ed is not None:
            self.canvas.refresh(patch.bbox)
        self._after_save(frame_id)

    def _after_save(self, frame_id: int) -> None:
        # the store tells the session (Project.subscribe), which tells the other views and,
        # queued, this panel: that echo of our own save needs no reload
        self._own_saves[frame_id] = self._own_saves.get(frame_id, 0) + 1
        self.labels_saved.emit(frame_id)
        self._update_frame_label()
        self.update_progress()

    def _on_canvas_hovered(self, x: float, y: float) -> None:
        ed = self.editor
        if ed is None:
            return
        u, v = int(x), int(y)
        if not (0 <= v < ed.depth.shape[0] and 0 <= u < ed.depth.shape[1]):
            return
        d = int(ed.depth[v, u])
        depth = "no depth" if d in (0, 2001) else f"{d} mm"
        rng = "in the hand's range" if ed.in_range[v, u] else "outside the hand's range"
        part = PARTS[int(ed.labels[v, u])].name
        self._status(f"u {u}  v {v}  ·  {depth}, {rng}  ·  {part}")

    # ------------------------------------------------------------------ frames
    def _on_session_project_opened(self, project) -> None:
        self.editor = None
        self._own_saves.clear()
        self.canvas.clear_frame()
        self.eval_ids = get_eval_set(project) if project is not None else []
        self.update_progress()
        if project is not None and self.session.frame_id is not None and self.isVisible():
            self.load_frame(self.session.frame_id)

    def _on_session_frame_changed(self, frame_id: int) -> None:
        if self.isVisible():  # a hidden tab opens the frame when shown: browsing stays fast
            self.load_frame(frame_id)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        fid = self.session.frame_id
        if fid is not None and (self.editor is None or self.editor.frame.id != fid):
            self.load_frame(fid)
        self.canvas.setFocus()  # the tool and part keys work at once, not after a click

    def load_frame(self, frame_id: int) -> None:
        """Open ``frame_id`` for labelling (finishing and saving a stroke in progress)."""
        if self.editor is not None and self.editor.stroke_active:
            self._push(self.editor.end_stroke(save=False), "stroke")
        project = self.session.project
        try:
            self.editor = LabelEditor(project, frame_id)
        except (ValueError, OSError) as e:
            self.editor = None
            self.canvas.clear_frame()
            self._status(f"frame {frame_id} cannot be labelled: {e}")
            return
        self.editor.limit_to_depth = self.depth_box.isChecked()
        self._show_editor(reset_view=True)
        self._status("left: paint · wheel: zoom · right-drag: pan · B E F I: tools · "
                     "0-9: part · [ ]: size · D: depth edges · Ctrl+Z: undo")

    def _show_editor(self, *, reset_view: bool) -> None:
        ed = self.editor
        y0, x0, y1, x1 = ed.region
        grey = depth_display(ed.depth[y0:y1, x0:x1], ed.near, ed.far)
        self.canvas.set_frame(grey, ed.labels, ed.region, reset_view=reset_view)
        self.done_box.blockSignals(True)
        self.done_box.setChecked(ed.complete)
        self.done_box.blockSignals(False)
        self._update_frame_label()
        self._update_start_from()

    def _on_session_data_changed(self, change) -> None:
        kind = change.kind
        if kind is ChangeKind.EVAL_SET:
            self.eval_ids = get_eval_set(self.session.project)
            self.update_progress()
        elif kind is ChangeKind.LABELS:
            ids = change.frame_ids or ()
            if ids and all(self._own_saves.get(i, 0) > 0 for i in ids):
                for i in ids:  # progress was updated at the save
                    self._own_saves[i] -= 1
                return
            self.update_progress()
            ed = self.editor
            if ed is not None and change.touches(ed.frame.id) and not ed.stroke_active:
                self._reload_if_changed()  # changed elsewhere (an import)
        elif kind is ChangeKind.RESTORATION or kind is ChangeKind.MODELS:
            self._update_start_from()

    def _reload_if_changed(self) -> None:
        """The frame's labels changed on disk (an import): show what is there now."""
        disk = load_hand_labels(self.session.project, self.editor.frame)
        if disk is not None and not (disk == self.editor.labels).all():
            self.editor = LabelEditor(self.session.project, self.editor.frame.id)
            self.editor.limit_to_depth = self.depth_box.isChecked()
            self._show_editor(reset_view=False)

    def _on_done_box_toggled(self, on: bool) -> None:
        if self.editor is not None and self.editor.complete != on:
            ed = self.editor
            self.session.undo_stack.push(DoneCommand(self, ed.frame.id, ed.complete, on))

    def apply_done(self, frame_id: int, done: bool) -> None:
        """Redo / undo of a :class:`DoneCommand`: show the frame, save the mark."""
        if self.session.frame_id != frame_id:
            self.session.set_frame(frame_id)
        if self.isVisible() and (self.editor is None or self.editor.frame.id != frame_id):
            self.load_frame(frame_id)
        ed = self.editor if self.editor is not None and self.editor.frame.id == frame_id \
            else LabelEditor(self.session.project, frame_id)
        if ed.complete != done:
            ed.set_complete(done)
            self._after_save(frame_id)
        if ed is self.editor and self.done_box.isChecked() != done:
            self.done_box.blockSignals(True)
            self.done_box.setChecked(done)
            self.done_box.blockSignals(False)

    def mark_done_and_next(self) -> None:
        if self.editor is None:
            return
        self.done_box.setChecked(True)
        self.step_eval(+1)

    def step_eval(self, step: int) -> None:
        """Go to the next (``+1``) or previous evaluation frame."""
        if not self.eval_ids:
            self._status("no evaluation set: choose one (Evaluation set… below)")
            return
        cur = self.session.frame_id
        i = self.eval_ids.index(cur) + step if cur in self.eval_ids else (0 if step > 0 else -1)
        self.session.set_frame(self.eval_ids[i % len(self.eval_ids)])

    # ------------------------------------------------------------------ read-outs
    def status_widgets(self) -> list:
        """A permanent "37 / 100 labelled" for the window's status bar (app/panels.py)."""
        label = QLabel()
        label.setObjectName("labelled_count")
        label.setToolTip("Evaluation-set frames whose hand labels are marked done")

        def show(done: int, total: int) -> None:
            label.setText(f"{done} / {total} labelled" if total else "no evaluation set")

        self.progress_changed.connect(show)
        self.labelled_count = label
        self.update_progress()
        return [label]

    def update_progress(self) -> None:
        project = self.session.project
        if project is None or not self.eval_ids:
            self.progress_label.setText("No evaluation set")
            self.progress_label.setToolTip("Evaluation set… (bottom right) chooses the frames")
            self.progress_changed.emit(0, 0)
            return
        done, total = labelling_progress(project, self.eval_ids)
        self.progress_label.setText(f"{done} / {total} labelled")
        self.progress_changed.emit(done, total)

    def _update_frame_label(self) -> None:
        ed = self.editor
        if ed is None:
            self.frame_label.setText("no frame")
            return
        where = (f"evaluation frame {self.eval_ids.index(ed.frame.id) + 1} of "
                 f"{len(self.eval_ids)}" if ed.frame.id in self.eval_ids
                 else "not in the evaluation set")
        mins, secs = divmod(int(round(ed.seconds)), 60)
        state = "saved" if ed.saved else "not labelled yet"
        self.frame_label.setText(f"{ed.frame.split} frame {ed.frame.frame} · {where} · "
                                 f"{ed.strokes} strokes · {mins} min {secs:02d} s · {state}")

    def _update_start_from(self) -> None:
        self.actions_.update_start_from()

    def start_from(self, key: str) -> bool:
        """Replace the labels in view with a prediction (``key`` in START_FROM); undoable."""
        return self.actions_.start_from(key)

    def _status(self, text: str) -> None:
        self.status_label.setText(text)
