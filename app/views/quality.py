"""Quality inspector dock: per-joint barycenter distances, the decision and why, overrides.

For each scored evaluation joint: the 3D distance (mm) of its part barycenter to the
ground-truth joint on the raw and on the restored map, and which is better; totals in 3D
and 2D; the automatic decision with its reason, and the human override. Accept (A),
Reject (R), Clear (C) and "Restore this frame" are the window's shared
:class:`~app.views.frame_actions.FrameActions`; this panel shows their buttons, the
"next frame after deciding" checkbox and the restore's progress.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from handpose_core.project import ChangeKind
from handpose_core.project.records import N_SCORED
from handpose_core.skeleton import EVAL_NAMES

from .stable_label import StableLabel

# what the quality table shows
_REFRESH = frozenset({ChangeKind.OVERRIDE, ChangeKind.RESTORATION, ChangeKind.LABELS, ChangeKind.MODELS})

GOOD, BAD = QColor("#2e7d32"), QColor("#c62828")


def _set(table: QTableWidget, row: int, col: int, text: str,
         align=Qt.AlignRight | Qt.AlignVCenter, colour: QColor | None = None) -> None:
    """Set a cell's text, creating its item once (re-creating items costs a frame switch)."""
    it = table.item(row, col)
    if it is None:
        it = QTableWidgetItem()
        it.setFlags(Qt.ItemIsEnabled)
        it.setTextAlignment(Qt.Alignment(align) if isinstance(align, int) else align)
        table.setItem(row, col, it)
    if it.text() != text:
        it.setText(text)
    fg = colour if colour is not None else table.palette().text().color()
    if it.foreground().color() != fg:  # every set repaints the table: only on a change
        it.setForeground(QBrush(fg))


class QualityPanel(QWidget):
    """Scores of the current frame and the decision buttons."""

    def __init__(self, session, frame_actions, parent=None):
        super().__init__(parent)
        self.session = session
        # both change on every frame switch: StableLabel re-lays out the window only when
        # the text needs another height
        self.decision = StableLabel(word_wrap=True, min_lines=4)
        self.decision.setObjectName("decision")
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("joint_scores")
        self.table.setHorizontalHeaderLabels(["joint", "raw", "restored", "better"])
        for c, tip in ((1, "Raw f_s map: 3D distance (mm) from the barycenter of the joint's "
                        "parts to the annotated joint"),
                       (2, "Restored map: 3D distance (mm) from the barycenter of the joint's "
                        "parts to the annotated joint"),
                       (3, "Which map places the joint's parts closer (0.5 mm or more)")):
            self.table.horizontalHeaderItem(c).setToolTip(tip)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.setSelectionMode(QTableWidget.NoSelection)
        self.table.setFocusPolicy(Qt.NoFocus)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.Stretch)
        # fixed: sizing to contents costs every switch; narrow enough that the joint's
        # name ("palm centre", "middle PIP") reads in full in the dock's default width
        for c, w in ((1, 54), (2, 66), (3, 62)):
            hh.setSectionResizeMode(c, QHeaderView.Fixed)
            self.table.setColumnWidth(c, w)
        self.totals = StableLabel(sample=_totals_html("0.0 mm", "0.0 mm", "0.0 px", "0.0 px"))
        self.totals.setObjectName("totals")

        buttons = QHBoxLayout()
        for key in ("accept", "reject", "clear"):
            b = QToolButton()
            b.setDefaultAction(frame_actions.actions[key])
            b.setToolButtonStyle(Qt.ToolButtonTextOnly)
            b.setMinimumWidth(84)
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.follow = QCheckBox("Next frame after deciding")
        self.follow.setObjectName("follow")
        self.follow.setChecked(True)
        self.follow.setToolTip("After A / R / C move to the next frame of the list, so a "
                               "filtered list can be audited with the keyboard alone")

        self.restore_button = QPushButton("Restore this frame")
        self.restore_button.setObjectName("restore_frame")
        self.restore_button.setToolTip("Run f_s and the dictionary on this frame in the "
                                       "background and store the result")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress.setTextVisible(True)
        self.restore_note = QLabel()
        self.restore_note.setObjectName("restore_note")
        self.restore_note.setWordWrap(True)
        rrow = QGridLayout()
        rrow.addWidget(self.restore_button, 0, 0)
        rrow.addWidget(self.cancel_button, 0, 1)
        rrow.addWidget(self.progress, 1, 0, 1, 2)
        rrow.addWidget(self.restore_note, 2, 0, 1, 2)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.decision)
        lay.addLayout(buttons)
        lay.addWidget(self.follow)
        # as tall as the scored joints' rows: the totals and Restore follow them directly
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height() +
                                  20 * N_SCORED + 2 * self.table.frameWidth() + 2)
        lay.addWidget(self.table)
        lay.addWidget(self.totals)
        lay.addLayout(rrow)
        lay.addStretch(1)

        self.follow.toggled.connect(frame_actions.set_follow)
        frame_actions.set_follow(self.follow.isChecked())
        self.restore_button.clicked.connect(frame_actions.restore_current_frame)
        self.cancel_button.clicked.connect(frame_actions.cancel_restore)
        frame_actions.restore_state.connect(self.set_restoring)
        frame_actions.restore_progress.connect(self.show_progress)
        frame_actions.restore_hint.connect(self.restore_note.setText)
        session.frame_changed.connect(self._on_session_frame_changed)
        session.data_changed.connect(self._on_session_data_changed)

    # ------------------------------------------------------------------ drawing
    def refresh(self) -> None:
        if self.session.project is None or self.session.frame_id is None:
            self.decision.setText("No frame selected.")
            self.table.setRowCount(0)
            return
        d = self.session.frame_data()
        q_raw, q_res = d.raw_quality, d.restored_quality
        self.table.setUpdatesEnabled(False)
        try:
            self._fill_table(q_raw, q_res)
        finally:
            self.table.setUpdatesEnabled(True)
        if q_raw is not None or q_res is not None:
            def tot(q, attr, unit):  # the store's vocabulary: mean over the scored joints
                return "—" if q is None else f"{getattr(q, attr) / N_SCORED:.1f} {unit}"
            self.totals.setText(_totals_html(tot(q_raw, 'total_mm', 'mm'), tot(q_res, 'total_mm', 'mm'),
                                             tot(q_raw, 'total_px', 'px'), tot(q_res, 'total_px', 'px')))
        else:
            self.totals.setText("")
        self.decision.setText(self._decision_text(d))

    def _fill_table(self, q_raw, q_res) -> None:
        rows = [j for j in range(len(EVAL_NAMES))
                if (q_raw is not None and np.isfinite(q_raw.per_joint_mm[j]))
                or (q_res is not None and np.isfinite(q_res.per_joint_mm[j]))]
        if self.table.rowCount() != len(rows):
            self.table.setRowCount(len(rows))
        for r, j in enumerate(rows):
            a = q_raw.per_joint_mm[j] if q_raw is not None else np.nan
            b = q_res.per_joint_mm[j] if q_res is not None else np.nan
            miss_a = q_raw is not None and q_raw.missing[j]
            miss_b = q_res is not None and q_res.missing[j]
            capped = miss_b and q_res.capped is not None and bool(q_res.capped[j])
            t = self.table
            _set(t, r, 0, EVAL_NAMES[j], Qt.AlignLeft | Qt.AlignVCenter)
            _set(t, r, 1, "missing" if miss_a else _mm(a), colour=BAD if miss_a else None)
            # a misplaced part the restoration removed scores its raw distance (the check's
            # rule), not the penalty: neither better nor worse
            _set(t, r, 2, "removed" if capped else "missing" if miss_b else _mm(b),
                 colour=None if capped else BAD if miss_b else None)
            t.item(r, 2).setToolTip(
                f"The raw part lay {a:.0f} mm from the joint and the restoration removed it: "
                "scored with the raw distance, not the penalty" if capped else "")
            if np.isfinite(a) and np.isfinite(b) and abs(a - b) >= 0.5:
                better, col = ("restored", GOOD) if b < a else ("raw", BAD)
            else:
                better, col = ("same" if np.isfinite(a) and np.isfinite(b) else "—"), None
            _set(t, r, 3, better, Qt.AlignCenter, col)

    def _decision_text(self, d) -> str:
        rec = d.restoration
        if rec is None:
            if d.raw_quality is None:
                what = "predicting this frame" if d.raw_source == "pending" else "loading"
                return f"<b>Not restored yet.</b> f_s is {what} …"
            return ("<b>Not restored yet.</b> The raw f_s map is scored below; press "
                    "<i>Restore this frame</i> or run <code>handpose-studio train restore</code>.")
        auto = "accept" if rec.auto_accept else "reject"
        if rec.details.get("no_hand"):
            why = "the raw map has no hand pixels, so nothing could be restored"
        elif rec.auto_accept:
            why = (f"the restored map scores lower in 3D ({rec.restored.mm:.1f} mm "
                   f"&lt; {rec.raw.mm:.1f} mm)")
        else:
            why = (f"the restored map does not score lower in 3D ({rec.restored.mm:.1f} mm "
                   f"≥ {rec.raw.mm:.1f} mm)")
        colour = "#2e7d32" if rec.accepted else "#c62828"
        text = (f"<b>Automatic: {auto}</b> — {why}.<br>")
        q = d.restored_quality
        notes = []
        if q is not None and q.n_capped:
            notes.append(f"{q.n_capped} misplaced part{'s' if q.n_capped > 1 else ''} removed, "
                         "scored at the raw distance")
        if q is not None and q.unscored_pixels:
            notes.append(f"{q.unscored_pixels} pixels added outside f_s's hand not scored")
        if notes:
            text += "Scored: " + "; ".join(notes) + ".<br>"
        if rec.override is None:
            text += "Human override: none."
        else:
            text += (f"Human override: <b>{'accept' if rec.override else 'reject'}</b> "
                     f"({rec.override_time}).")
        text += (f"<br>In force: <b style='color:{colour}'>"
                 f"{'accepted' if rec.accepted else 'rejected'}</b>")
        return text

    # ------------------------------------------------------------------ restore progress
    def set_restoring(self, running: bool, note: str = "") -> None:
        self.restore_button.setEnabled(not running)
        self.cancel_button.setVisible(running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)
        self.restore_note.setText(note)

    @Slot(int, int, str)
    def show_progress(self, done: int, total: int, message: str) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        self.progress.setFormat(message or "%p%")

    # ------------------------------------------------------------------ slots
    @Slot(int)
    def _on_session_frame_changed(self, _frame_id: int) -> None:
        self.refresh()

    @Slot(str, object)
    def _on_session_data_changed(self, change) -> None:
        if change.kind in _REFRESH and change.touches(self.session.frame_id):
            self.refresh()


def _totals_html(raw_mm: str, res_mm: str, raw_px: str, res_px: str) -> str:
    return ("<table cellspacing=4><tr><td></td><td><b>raw</b></td><td><b>restored</b></td></tr>"
            f"<tr><td>3D score</td><td align=right>{raw_mm}</td><td align=right>{res_mm}</td></tr>"
            f"<tr><td>2D score</td><td align=right>{raw_px}</td><td align=right>{res_px}</td></tr>"
            "</table>")


def _mm(x: float) -> str:
    return "—" if not np.isfinite(x) else f"{x:.1f}"
