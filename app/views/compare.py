"""Compare view (centre): depth crop, raw f_s, restored, fine-tuned and ground-truth labels.

Five linked pyqtgraph panels share zoom and pan. Label maps are drawn in the part colours
over the depth crop with an adjustable opacity; the raw and restored panels also show the
part barycenters (crosses) joined to the ground-truth joints (circles). Hovering reports
u, v, depth and each panel's part under the cursor through :attr:`CompareView.status_message`.
The "Restored" selector shows any restoration method stored for the frame (joint-prior,
the restore stage's default and what fine-tuning trains on, or the paper's integration or
a CRF run with ``train restore --method``) in the restored panel.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from handpose_core.parts import PART_NAMES, SCORED_JOINTS_14, lookup_table
from handpose_core.project import ChangeKind
from handpose_core.skeleton import FINGER_COLOURS, JOINT_FINGER_14

from ..workers.frame_data import stored_quality
from .legend import LegendWidget
from .stable_label import StableLabel

# what changes what the panels draw
_REDRAW = frozenset({ChangeKind.RESTORATION, ChangeKind.LABELS, ChangeKind.MODELS, ChangeKind.META})

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)  # curves opt in

DEFAULT_METHOD = "joint-prior"  # the restore stage's default method (the store's primary slot)
PANELS = (("depth", "Depth crop"), ("raw", "Raw f_s"), ("restored", "Restored"),
          ("finetuned", "Fine-tuned f_s"), ("gt", "Ground truth"))
TITLES = dict(PANELS)
# made once: the scatter items cache a rendered symbol per pen and brush object
_PENS = [pg.mkPen(FINGER_COLOURS[f], width=2) for f in JOINT_FINGER_14]
_BRUSHES = [pg.mkBrush(FINGER_COLOURS[f]) for f in JOINT_FINGER_14]
GRID = {"depth": (0, 0), "raw": (0, 1), "restored": (0, 2), "finetuned": (1, 0), "gt": (1, 1)}
PLACEHOLDERS = {  # short: they go in the panel titles, which share the row's width
    "raw": "loading f_s …",
    "restored": "not yet",
    "finetuned": "none yet",
    "gt": "not labelled",
}


def _label_lut() -> np.ndarray:
    lut = np.zeros((256, 4), np.uint8)
    lut[:, :3] = lookup_table()
    lut[:, 3] = 255
    lut[0, 3] = 0  # background stays transparent over the depth
    return lut


def _grey_rgba(values: np.ndarray, valid: np.ndarray, black: float, white: float) -> np.ndarray:
    """``(H, W, 4)`` uint8 RGBA: ``values`` mapped linearly from ``black`` (0) to ``white``
    (255), clipped; transparent where ``valid`` is False. One image the panels draw as it
    is, instead of each panel mapping the float array again."""
    scale = 255.0 / (white - black) if white != black else 0.0
    g = np.clip((values - black) * scale, 0, 255).astype(np.uint8)
    out = np.empty(values.shape + (4,), np.uint8)
    out[..., 0] = out[..., 1] = out[..., 2] = g
    out[..., 3] = np.where(valid, 255, 0)
    return out


def _depth_rgba(depth: np.ndarray) -> np.ndarray:
    """The depth crop (float32 in [-1, 1], +1 = no surface) in grey, near hand white."""
    hand = depth < 1.0
    lo, hi = (float(depth[hand].min()), float(depth[hand].max())) if hand.any() else (-1.0, 1.0)
    return _grey_rgba(depth, hand, hi + 0.05, lo - 0.05)


def _source_word(source: str) -> str:
    """One word for where a raw map comes from (FrameData.raw_source)."""
    if source.startswith("restore stage"):
        return "stored"
    if source.startswith("f_s prediction"):
        return "predicted"
    return "being predicted" if source == "pending" else "none"


def _method_note(rec) -> str:
    """A short title note for a non-default restoration: method and its weight."""
    w = rec.details.get("crf_weight")
    return rec.method + ("" if w is None else f" (w {w:g})")


class _Panel:
    """One titled ViewBox with a depth image, a label overlay and a placeholder text."""

    def __init__(self, layout: pg.GraphicsLayout, row: int, col: int, key: str, title: str):
        self.key = key
        self.title = layout.addLabel(f"<b>{title}</b>", row=2 * row, col=col, size="10pt")
        self.vb = layout.addViewBox(row=2 * row + 1, col=col, lockAspect=True, invertY=True,
                                    enableMenu=False)
        self.vb.setBackgroundColor("#101418")
        self.depth = pg.ImageItem()
        self.labels = pg.ImageItem()
        self.labels.setLookupTable(_label_lut())
        self.labels.setLevels([0, 255])
        self.vb.addItem(self.depth)
        self.vb.addItem(self.labels)
        self.crop_box = pg.QtWidgets.QGraphicsRectItem()
        self.crop_box.setPen(pg.mkPen("#ffeb3b", width=2, cosmetic=True))
        self.crop_box.setVisible(False)
        self.vb.addItem(self.crop_box, ignoreBounds=True)
        self.label_map: np.ndarray | None = None
        self.overlays: list = []


class CompareView(QWidget):
    """The five linked segmentation panels of the current frame."""

    status_message = Signal(str)  # a status-bar line for the pixel under the cursor

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.data = None
        self.full_frame = True
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setObjectName("compare_canvas")
        self.glw.setBackground("#1b2027")
        self.glw.ci.setSpacing(6)
        self.panels = {k: _Panel(self.glw.ci, *GRID[k], k, t) for k, t in PANELS}
        self.full = _Panel(self.glw.ci, 1, 2, "full", "Full frame 640×480")
        self.full.crop_box.setVisible(True)
        lay = self.glw.ci.layout
        for c in range(3):
            lay.setColumnStretchFactor(c, 1)
        for r in (1, 3):
            lay.setRowStretchFactor(r, 1)
        self._user_zoomed = False
        first = self.panels["raw"].vb
        for p in self.panels.values():
            if p.vb is not first:
                p.vb.setXLink(first)
                p.vb.setYLink(first)
        for key in ("raw", "restored"):
            self._add_bary_items(self.panels[key])
        for p in (*self.panels.values(), self.full):
            p.vb.sigRangeChangedManually.connect(self._on_view_range_changed_manually)

        self.opacity = QSlider(Qt.Horizontal)
        self.opacity.setObjectName("opacity")
        self.opacity.setRange(0, 100)
        self.opacity.setValue(65)
        self.opacity.setFixedWidth(140)
        self.opacity.setToolTip("Opacity of the part colours over the depth")
        self.full_box = QCheckBox("Full frame")
        self.full_box.setObjectName("full_frame")
        self.full_box.setChecked(True)
        self.full_box.setToolTip("Show the whole 640×480 depth frame with the crop box")
        self.marks_box = QCheckBox("Barycenters and joints")
        self.marks_box.setChecked(True)
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Zoom to fit the crop (mouse wheel zooms, drag pans)")
        self.one_button = QPushButton("Pixel-exact 8×")
        self.one_button.setToolTip("Pixel-exact zoom: each crop pixel drawn as 8×8 screen pixels")
        self.method_combo = QComboBox()
        self.method_combo.setObjectName("restoration_method")
        self.method_combo.setToolTip("Restoration method shown in the Restored panel: those "
                                     "stored for this frame (train restore --method)")
        self.method_combo.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.method_combo.addItem(DEFAULT_METHOD)
        self.method = DEFAULT_METHOD  # the user's choice, kept across frames that have it
        self._method_rec = None  # the shown non-integration record, or None
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Label opacity"))
        controls.addWidget(self.opacity)
        controls.addSpacing(12)
        controls.addWidget(self.marks_box)
        controls.addWidget(self.full_box)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Restored"))
        controls.addWidget(self.method_combo)
        controls.addStretch(1)
        controls.addWidget(self.fit_button)
        controls.addWidget(self.one_button)
        self.legend = LegendWidget()
        self.info = StableLabel(word_wrap=True)  # changes every switch: no window re-layout
        self.info.setObjectName("frame_info")
        self.info.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.info)
        lay.addWidget(self.glw, 1)
        lay.addLayout(controls)
        lay.addWidget(self.legend)

        self.opacity.valueChanged.connect(self._on_opacity_changed)
        self.full_box.toggled.connect(self._on_full_box_toggled)
        self.marks_box.toggled.connect(self._on_marks_box_toggled)
        self.method_combo.activated.connect(self._on_method_activated)
        self.fit_button.clicked.connect(self.fit)
        self.one_button.clicked.connect(lambda: self.zoom_pixels(8))
        self.glw.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)
        session.frame_changed.connect(self._on_session_frame_changed)
        session.data_changed.connect(self._on_session_data_changed)
        session.project_opened.connect(self._on_session_project_opened)
        self._fitted = False

    # ------------------------------------------------------------------ drawing
    def _add_bary_items(self, panel: _Panel) -> None:
        panel.lines = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen("#ffffff", width=1.2),
                                        antialias=True)
        panel.gt_pts = pg.ScatterPlotItem(size=7, pen=pg.mkPen("#ffffff", width=1.5),
                                          brush=pg.mkBrush(0, 0, 0, 0), symbol="o")
        panel.bary_pts = pg.ScatterPlotItem(size=9, symbol="x", pen=None)
        for item in (panel.lines, panel.gt_pts, panel.bary_pts):
            panel.vb.addItem(item, ignoreBounds=True)
            panel.overlays.append(item)

    def refresh(self) -> None:
        """Redraw every panel from the session's current frame data."""
        if self.session.project is None or self.session.frame_id is None:
            return
        d = self.data = self.session.frame_data()
        grey = _depth_rgba(d.depth_crop)  # made once, shared by the five panels
        restored, rec = self._restored_choice(d)
        maps = {"depth": None, "raw": d.raw_labels, "restored": restored,
                "finetuned": d.finetuned_labels, "gt": d.gt_labels}
        for key, p in self.panels.items():
            p.depth.setImage(grey, autoLevels=False, levels=None)
            m = maps[key]
            p.label_map = m
            note = ""
            if m is None:
                p.labels.clear()
                p.labels.setVisible(False)
                note = "" if key == "depth" else self._placeholder(key)
            else:
                p.labels.setImage(m, autoLevels=False)
                p.labels.setVisible(True)
            if key == "raw" and m is not None:
                note = "stored" if d.restoration else "predicted"
            if key == "restored" and m is not None and rec is not None:
                note = _method_note(rec)
            # what a panel lacks goes in its title, never over the hand
            title = f"<b>{TITLES[key]}</b>" + (f" <span style='color:#90a4ae'>· {note}</span>"
                                               if note else "")
            if title != p.title.text:  # re-laying out a label costs more than comparing
                p.title.setText(title)
        if self.full_frame:
            self._draw_full(d)
        self._draw_barycenters()
        rec = d.restoration if rec is None else rec
        primary = rec is not None and (rec is d.restoration or rec.method == DEFAULT_METHOD)
        decision = ("accepted" if rec.accepted else "rejected") if primary else (
            "would be accepted" if rec is not None and rec.auto_accept else "would be rejected")
        score = ("" if rec is None else f" · {rec.method} score raw {rec.raw.mm:.1f} → "
                 f"restored {rec.restored.mm:.1f} mm · {decision}")
        # short enough for one line at the default size (a second line re-lays out the
        # panels); where the raw map comes from in full in the tooltip
        self.info.setText(f"<b>Frame {d.frame.id}</b> · {d.frame.split} {d.frame.kinect} "
                          f"#{d.frame.frame} · raw map {_source_word(d.raw_source)}{score}")
        self.info.setToolTip(f"raw f_s map: {d.raw_source or 'none (no f_s model)'}")
        if not self._fitted:
            self.fit()

    def _restored_choice(self, d):
        """The restored map to show and its record when it is not the default method's (None):
        the chosen method when this frame has it stored, else the default method's; fills the
        selector with the frame's methods."""
        project = self.session.project
        methods = project.restoration_methods(d.frame.id) if project is not None else []
        if not methods:
            methods = [DEFAULT_METHOD]
        shown = [self.method_combo.itemText(i) for i in range(self.method_combo.count())]
        use = self.method if self.method in methods else DEFAULT_METHOD
        if shown != methods:
            self.method_combo.blockSignals(True)
            self.method_combo.clear()
            self.method_combo.addItems(methods)
            self.method_combo.blockSignals(False)
        self.method_combo.setCurrentIndex(methods.index(use) if use in methods else 0)
        self.method_combo.setEnabled(len(methods) > 1)
        self._method_rec = None
        if use == DEFAULT_METHOD:
            return d.restored_labels, None
        rec = project.restoration(d.frame.id, use)
        try:
            labels = project.restored_maps(rec)[1]
        except (OSError, ValueError):  # maps deleted from disk
            return d.restored_labels, None
        self._method_rec = rec
        return labels, rec

    def _placeholder(self, key: str) -> str:
        p = self.session.predictor
        if key == "raw" and p is not None:
            return "predicting …" if self.data.raw_source == "pending" else "no f_s model"
        if key == "finetuned" and p is not None and p.has_model("fine"):
            return "predicting …"
        return PLACEHOLDERS[key]

    def _draw_full(self, d) -> None:
        full = d.full_depth[::2, ::2]  # half resolution: a quarter the work
        valid = (full > 0) & (full != 2001)
        v = full[valid]
        if len(v):  # near is white, the 98th percentile black; no surface transparent
            far, near = float(np.partition(v, int(0.98 * (len(v) - 1)))[int(0.98 * (len(v) - 1))]), \
                float(v.min())
        else:
            far, near = 1.0, 0.0
        self.full.depth.setImage(_grey_rgba(full.astype(np.float32), valid, far, near),
                                 autoLevels=False, levels=None)
        self.full.depth.setRect(QRectF(0, 0, 640, 480))
        tf = d.transform
        self.full.crop_box.setRect(QRectF(tf.u0, tf.v0, tf.u1 - tf.u0, tf.v1 - tf.v0))

    def _draw_barycenters(self) -> None:
        d = self.data
        gt = d.joints_crop()[:, :2] + 0.5  # pixel centres
        show = self.marks_box.isChecked()
        q_res = d.restored_quality if self._method_rec is None else \
            stored_quality(self._method_rec, "restored")
        for key, q in (("raw", d.raw_quality), ("restored", q_res)):
            p = self.panels[key]
            for item in p.overlays:
                item.setVisible(show and q is not None)
            if q is None:
                continue
            bary = d.transform.frame_to_crop(np.nan_to_num(q.barycenters_uvd))[:, :2] + 0.5
            ok = np.isfinite(q.barycenters_uvd[:, 0])
            p.gt_pts.setData(pos=gt[list(SCORED_JOINTS_14)])
            sel = np.flatnonzero(ok)
            p.bary_pts.setData(pos=bary[ok], brush=[_BRUSHES[j] for j in sel],
                               pen=[_PENS[j] for j in sel])
            pairs = np.stack([gt[ok], bary[ok]], axis=1).reshape(-1, 2)
            if len(pairs):
                p.lines.setData(pairs[:, 0], pairs[:, 1])
            else:
                p.lines.setData([], [])

    def fit(self) -> None:
        """Show the whole crop in every panel (and the whole frame in the full-frame one)."""
        self._user_zoomed = False
        if self.data is None:
            return
        s = self.data.size
        self.panels["raw"].vb.setRange(QRectF(0, 0, s, s), padding=0.02)
        self.full.vb.setRange(QRectF(0, 0, 640, 480), padding=0.02)
        self._fitted = True

    def zoom_pixels(self, factor: int) -> None:
        """Zoom so one crop pixel is ``factor`` x ``factor`` screen pixels (pixel-exact)."""
        vb = self.panels["raw"].vb
        w, h = vb.size().width(), vb.size().height()
        c = vb.viewRect().center()
        vb.setRange(QRectF(c.x() - w / factor / 2, c.y() - h / factor / 2, w / factor, h / factor),
                    padding=0)
        self._user_zoomed = True

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if not self._user_zoomed:  # linked, aspect-locked views settle after the layout
            QTimer.singleShot(0, self.fit)

    def _on_view_range_changed_manually(self, *_args) -> None:
        self._user_zoomed = True

    # ------------------------------------------------------------------ hover
    def pixel_at(self, scene_pos: QPointF):
        """``(panel key, x, y)`` of the crop pixel under a scene position, or None."""
        panels = {**self.panels, "full": self.full} if self.full_frame else self.panels
        for key, p in panels.items():
            if p.vb.sceneBoundingRect().contains(scene_pos):
                pt = p.vb.mapSceneToView(scene_pos)
                return key, int(np.floor(pt.x())), int(np.floor(pt.y()))
        return None

    def hover_text(self, key: str, x: int, y: int) -> str:
        d = self.data
        if d is None:
            return ""
        if key == "full":
            if not (0 <= x < 640 and 0 <= y < 480):
                return ""
            return f"u {x}, v {y} · depth {int(d.full_depth[y, x])} mm (full frame)"
        if not (0 <= x < d.size and 0 <= y < d.size):
            return ""
        u, v = d.crop_to_uv(x + 0.5, y + 0.5)
        z = d.depth_mm(x, y)
        parts = []
        for k, title in PANELS[1:]:
            m = self.panels[k].label_map
            if m is not None:
                parts.append(f"{title}: {PART_NAMES[int(m[y, x])]}")
        dz = "no surface" if np.isnan(z) else f"{z:.0f} mm"
        return f"crop ({x}, {y}) · u {u:.0f}, v {v:.0f} · depth {dz} · " + " · ".join(parts)

    def _on_scene_mouse_moved(self, pos) -> None:
        hit = self.pixel_at(pos)
        text = self.hover_text(*hit) if hit else ""
        if text:
            self.status_message.emit(text)

    # ------------------------------------------------------------------ slots
    @Slot(int)
    def _on_opacity_changed(self, value: int) -> None:
        for key, p in self.panels.items():
            if key != "depth":
                p.labels.setOpacity(value / 100)

    @Slot(bool)
    def _on_full_box_toggled(self, on: bool) -> None:
        self.full_frame = on
        self.full.vb.setVisible(on)
        self.full.title.setVisible(on)
        if on and self.data is not None:
            self._draw_full(self.data)

    @Slot(int)
    def _on_method_activated(self, index: int) -> None:
        self.method = self.method_combo.itemText(index) or DEFAULT_METHOD
        if self.data is not None:
            self.refresh()

    @Slot(bool)
    def _on_marks_box_toggled(self, _on: bool) -> None:
        if self.data is not None:
            self._draw_barycenters()

    @Slot(int)
    def _on_session_frame_changed(self, _frame_id: int) -> None:
        self.refresh()

    @Slot(str, object)
    def _on_session_data_changed(self, change) -> None:
        if change.kind in _REDRAW and change.touches(self.session.frame_id):
            self.refresh()

    @Slot(object)
    def _on_session_project_opened(self, project) -> None:
        self._fitted = False
        self.data = None
        if project is None:
            for p in self.panels.values():
                p.depth.clear()
                p.labels.clear()
