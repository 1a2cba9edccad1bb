"""The guidance-map view: one joint's dense guidance map (HandMap) over the depth crop.

Left, the ground-truth map of the chosen joint, computed from the frame's depth crop, its
hand mask (the best segmentation the frame has: hand-painted / dataset labels, else the
restored, fine-tuned or raw f_s map, else the depth alone) and its ground-truth joints;
right, the map a regressor's GMS head predicted, when one is given
(:meth:`GuidanceView.set_predicted_maps`; otherwise :meth:`GuidanceView.set_prediction_note`
says why there is none, e.g. "this model has no guidance head"). A colour bar gives the scale (1 at the joint,
0 at the farthest hand pixel). The joints are dots over the crop: clicking one selects it,
as do the joint list and :meth:`GuidanceView.select_joint`.

Wiring in the main window: ``GuidanceView(session)`` follows ``session.frame_changed`` and
``data_changed``; connect the skeleton view's joint click to :meth:`select_joint`, and
:attr:`joint_selected` back to the skeleton view to keep both on one joint.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from handpose_core.guidance import DEFAULT_SIGMA_PX, Fallback, guidance_maps, hand_mask
from handpose_core.project import ChangeKind
from handpose_core.skeleton import EVAL_NAMES, FINGER_COLOURS, JOINT_FINGER_14

# what changes the current frame's maps
_REDRAW = frozenset({ChangeKind.LABELS, ChangeKind.RESTORATION, ChangeKind.MODELS})

KIND_TITLES = {"geodesic": "geodesic distance", "euclidean": "Euclidean distance",
               "heatmap": "heatmap (sparse baseline)"}
_LUT = pg.colormap.get("viridis").getLookupTable(0.0, 1.0, 256)  # (256, 3) uint8
_MASK_SOURCES = (("gt_labels", "ground-truth labels"), ("restored_labels", "restored f_s map"),
                 ("finetuned_labels", "fine-tuned f_s map"), ("raw_labels", "raw f_s map"))


def compose_rgb(depth: np.ndarray, values: np.ndarray | None, alpha: np.ndarray) -> np.ndarray:
    """``(S, S, 3)`` uint8: the depth crop in grey (near = light, background dark) with
    ``values`` in [0, 1] drawn in viridis over it with opacity ``alpha`` (S, S) in [0, 1]."""
    hand = depth < 1.0
    grey = np.where(hand, 0.30 + 0.45 * (1.0 - np.clip(depth, -1, 1)) / 2.0, 0.10)
    rgb = np.repeat(grey[..., None] * 255.0, 3, axis=2)
    if values is not None:
        colour = _LUT[np.clip(np.rint(values * 255), 0, 255).astype(np.int64)].astype(np.float64)
        rgb = rgb * (1 - alpha[..., None]) + colour * alpha[..., None]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


class _Panel:
    """One image panel (ViewBox + RGB image + joint dots + title) in a layout."""

    def __init__(self, layout: pg.GraphicsLayout, row: int, col: int, title: str):
        self.title = layout.addLabel(title, row=row, col=col, size="10pt")
        self.box = layout.addViewBox(row=row + 1, col=col, lockAspect=True, invertY=True,
                                     enableMouse=False)
        self.box.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.box.addItem(self.image)
        self.dots = pg.ScatterPlotItem(size=7, pen=pg.mkPen("#202020", width=1), hoverable=True,
                                       hoverSize=11, tip=None)
        self.box.addItem(self.dots)
        self.ring = pg.ScatterPlotItem(size=15, brush=None, pen=pg.mkPen("w", width=2.2))
        self.box.addItem(self.ring)
        self.note = pg.TextItem("", color="#e0e0e0", anchor=(0.5, 0.5), fill=pg.mkBrush(25, 25, 28, 220))
        self.note.textItem.setTextWidth(190)  # lines centred in a box of this width (px)
        self.box.addItem(self.note)


class GuidanceView(QWidget):
    """Guidance map of a chosen joint: ground truth and, when given, predicted."""

    joint_selected = Signal(int)  # the chosen joint (0..13, evaluation order) changed

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.joint = 0
        self._data = None
        self._maps = None  # GuidanceMaps of the ground truth
        self._mask = None
        self._predicted: np.ndarray | None = None
        self._predicted_kind = ""
        self._predicted_uvd: np.ndarray | None = None
        self._note = ""  # why there is no prediction (set by the joints panel)

        self.joint_box = QComboBox()
        self.joint_box.addItems([f"{j + 1:2d}  {n}" for j, n in enumerate(EVAL_NAMES)])
        self.kind_box = QComboBox()
        for kind, title in KIND_TITLES.items():
            self.kind_box.addItem(title, kind)
        self.name_label = QLabel()
        self.name_label.setObjectName("joint_name")
        self.name_label.setTextFormat(Qt.RichText)
        self.caption = QLabel()
        self.caption.setObjectName("caption")
        self.caption.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(self.name_label, 1)
        bar.addWidget(QLabel("Joint"))
        bar.addWidget(self.joint_box)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Map"))
        bar.addWidget(self.kind_box)

        self.plot = pg.GraphicsLayoutWidget()
        self.plot.setBackground("#19191c")
        self.plot.setMinimumSize(420, 240)
        lay = self.plot.ci
        self.gt = _Panel(lay, 0, 0, "ground truth")
        self.pred = _Panel(lay, 0, 1, "predicted (GMS head)")
        self.colour_bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=pg.colormap.get("viridis"),
                                          interactive=False, width=14, colorMapMenu=False,
                                          label="map value")
        lay.addItem(self.colour_bar, row=1, col=2)
        self.pred.box.setXLink(self.gt.box)
        self.pred.box.setYLink(self.gt.box)

        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        root.addLayout(bar)
        root.addWidget(self.plot, 1)
        root.addWidget(self.caption)

        self.joint_box.currentIndexChanged.connect(self._on_joint_box_changed)
        self.kind_box.currentIndexChanged.connect(self._on_kind_box_changed)
        for panel in (self.gt, self.pred):
            panel.dots.sigClicked.connect(self._on_dots_clicked)
        session.frame_changed.connect(self._on_session_frame_changed)
        session.data_changed.connect(self._on_session_data_changed)
        self._render()

    # ------------------------------------------------------------------ API
    @property
    def kind(self) -> str:
        return self.kind_box.currentData()

    def select_joint(self, j: int) -> None:
        """Show joint ``j`` (0..13, evaluation order; names in ``skeleton.EVAL_NAMES``)."""
        j = int(j)
        if not 0 <= j < len(EVAL_NAMES):
            raise ValueError(f"joint index must be in 0..{len(EVAL_NAMES) - 1}, got {j}")
        if j != self.joint_box.currentIndex():
            self.joint_box.setCurrentIndex(j)  # -> _on_joint_box_changed
        elif j != self.joint:
            self._set_joint(j)

    def set_kind(self, kind: str) -> None:
        """Show maps of ``kind`` ("geodesic", "euclidean" or "heatmap")."""
        i = self.kind_box.findData(kind)
        if i < 0:
            raise ValueError(f"unknown guidance kind {kind!r}; expected one of {tuple(KIND_TITLES)}")
        self.kind_box.setCurrentIndex(i)

    def set_predicted_maps(self, maps: np.ndarray | None, kind: str = "geodesic",
                           joints_uvd: np.ndarray | None = None, source: str = "") -> None:
        """The current frame's maps as a GMS head trained on ``kind`` maps predicted them,
        ``(14, S, S)`` in [0, 1], or None to clear; ``joints_uvd`` (14, 3) the regressor's
        joints (drawn as the predicted panel's dots); ``source`` names the model in the
        panel's title. Shown while the view shows that kind; cleared when the frame changes."""
        if kind not in KIND_TITLES:
            raise ValueError(f"unknown guidance kind {kind!r}; expected one of {tuple(KIND_TITLES)}")
        if maps is not None:
            maps = np.asarray(maps, dtype=np.float32)
            size = None if self._data is None else self._data.size
            if maps.ndim != 3 or maps.shape[0] != len(EVAL_NAMES) or (
                    size is not None and maps.shape[1:] != (size, size)):
                raise ValueError(f"predicted maps must be (14, S, S) for this frame's S = {size}, "
                                 f"got {maps.shape}")
        self._predicted = maps
        self._predicted_kind = kind
        self._predicted_uvd = None if joints_uvd is None else np.asarray(joints_uvd, np.float64)
        self.pred.title.setText(f"predicted ({source})" if source and maps is not None
                                else "predicted (GMS head)")
        self._render()

    def set_prediction_note(self, text: str) -> None:
        """What the predicted panel says while it has no maps (e.g. "this model has no
        guidance head"; rich text); empty for the default hint."""
        self._note = text
        self._render()

    # ------------------------------------------------------------------ slots
    def showEvent(self, event) -> None:  # catch up with a frame chosen while hidden
        super().showEvent(event)
        fid = self.session.frame_id
        if fid is not None and (self._data is None or self._data.frame.id != fid):
            self._on_session_frame_changed(fid)

    @Slot(int)
    def _on_session_frame_changed(self, frame_id: int) -> None:
        if not self.isVisible():
            return  # hidden (another tab): no maps to compute while browsing; showEvent catches up
        self._data = self.session.frame_data(frame_id)
        self._predicted = self._predicted_uvd = None
        self.pred.title.setText("predicted (GMS head)")
        self._recompute()

    @Slot(str, object)
    def _on_session_data_changed(self, change) -> None:
        fid = self.session.frame_id
        if fid is not None and self._data is not None and change.touches(fid) \
                and change.kind in _REDRAW:
            self._data = self.session.frame_data(fid)
            self._recompute()

    @Slot(int)
    def _on_joint_box_changed(self, j: int) -> None:
        self._set_joint(j)

    @Slot(int)
    def _on_kind_box_changed(self, _i: int) -> None:
        self._recompute()

    def _on_dots_clicked(self, _item, points, _ev=None) -> None:
        if len(points):
            self.select_joint(int(points[0].data()))

    # ------------------------------------------------------------------ drawing
    def _set_joint(self, j: int) -> None:
        self.joint = j
        self._render()
        self.joint_selected.emit(j)

    def _mask_source(self):
        for attr, title in _MASK_SOURCES:
            labels = getattr(self._data, attr, None)
            if labels is not None:
                return labels, title
        return None, "depth only (no segmentation)"

    def _recompute(self) -> None:
        if self._data is None:
            self._maps = None
        else:
            labels, self._mask_title = self._mask_source()
            joints = self._data.joints_crop()[:, :2]
            self._mask = hand_mask(self._data.depth_crop, labels)
            self._maps = guidance_maps(self._data.depth_crop, joints, mask=self._mask, kind=self.kind)
        self._render()

    def _alpha(self, values: np.ndarray) -> np.ndarray:
        if self.kind == "heatmap":
            return np.clip(values * 2.0, 0.0, 0.95)
        return np.where(self._mask, 0.85, 0.0)

    def _render(self) -> None:
        j = self.joint
        finger = FINGER_COLOURS[JOINT_FINGER_14[j]]
        self.name_label.setText(f"<span style='font-size:13pt; font-weight:600; color:{finger}'>"
                                f"{EVAL_NAMES[j]}</span>&nbsp;&nbsp;<span style='color:#888'>"
                                f"joint {j + 1} of {len(EVAL_NAMES)}</span>")
        if self._data is None or self._maps is None:
            for panel in (self.gt, self.pred):
                panel.image.clear()
                panel.dots.clear()
                panel.ring.clear()
            self.caption.setText("No frame selected.")
            return
        depth = self._data.depth_crop
        s = self._data.size
        gt_map = self._maps.maps[j]
        self.gt.image.setImage(compose_rgb(depth, gt_map, self._alpha(gt_map)), autoLevels=False,
                               levels=(0, 255))
        joints = self._data.joints_crop()[:, :2]
        self._draw_dots(self.gt, joints)
        if self._predicted is not None and self._predicted_kind == self.kind:
            pm = self._predicted[j]
            self.pred.image.setImage(compose_rgb(depth, pm, self._alpha(pm)), autoLevels=False,
                                     levels=(0, 255))
            uvd = self._predicted_uvd if self._predicted_uvd is not None else \
                self._data.predicted_uvd
            pj = joints if uvd is None else self._data.joints_crop(uvd)[:, :2]
            self._draw_dots(self.pred, pj)
            self.pred.note.setText("")
            self.pred.note.setVisible(False)
        else:
            self.pred.image.setImage(compose_rgb(depth, None, np.zeros_like(depth)), autoLevels=False,
                                     levels=(0, 255))
            self.pred.dots.clear()
            self.pred.ring.clear()
            self.pred.note.setHtml(self._no_prediction_html())
            self.pred.note.setVisible(True)
            self.pred.note.setPos(s / 2, s / 2)
        x0, x1, y0, y1 = self._zoom(joints)
        for panel in (self.gt, self.pred):
            panel.box.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.0)
        self.caption.setText(self._caption())

    def _zoom(self, joints: np.ndarray, margin: float = 4.0, least: float = 20.0):
        """``(x0, x1, y0, y1)``: a square around the hand mask and the joints with
        ``margin`` px, at least ``least`` px wide, inside the crop (the hand fills a third
        of a crop that also holds the arm; the maps are read at the hand)."""
        s = self._data.size
        ys, xs = np.nonzero(self._mask)
        px = np.concatenate([xs + 0.5, joints[:, 0] + 0.5])
        py = np.concatenate([ys + 0.5, joints[:, 1] + 0.5])
        px, py = np.clip(px, 0, s), np.clip(py, 0, s)
        cx, cy = (px.min() + px.max()) / 2, (py.min() + py.max()) / 2
        half = min(s, max(least, px.max() - px.min() + 2 * margin,
                          py.max() - py.min() + 2 * margin)) / 2
        cx, cy = float(np.clip(cx, half, s - half)), float(np.clip(cy, half, s - half))
        return cx - half, cx + half, cy - half, cy + half

    def _draw_dots(self, panel: _Panel, joints: np.ndarray) -> None:
        colours = [FINGER_COLOURS[f] for f in JOINT_FINGER_14]
        pos = joints + 0.5  # crop pixel centres are at integer + 0.5 in image coordinates
        panel.dots.setData(pos=pos, brush=[pg.mkBrush(c) for c in colours],
                           data=np.arange(len(joints)))
        panel.ring.setData(pos=pos[[self.joint]])

    def _no_prediction_html(self) -> str:
        if self._predicted is not None:
            text = (f"the predicted maps are {KIND_TITLES[self._predicted_kind]} maps: "
                    "choose that map kind")
        elif self._note:
            text = self._note
        else:
            text = "no prediction for this frame: train a regressor with guidance maps"
        return f"<div align='center' style='color:#e0e0e0;'>{text}</div>"

    def _caption(self) -> str:
        j = self.joint
        code = Fallback(int(self._maps.fallback[j]))
        where = {Fallback.ON_MASK: "The joint lies on the hand.",
                 Fallback.SNAPPED: "The joint lies off the mask: the geodesic front starts at "
                                   f"the nearest hand pixel ({self._maps.seeds[j][0]}, "
                                   f"{self._maps.seeds[j][1]}).",
                 Fallback.EUCLIDEAN: "The joint lies far off the mask: the geodesic map falls "
                                     "back to the Euclidean one.",
                 Fallback.EMPTY: "The crop has no hand pixel."}[code]
        scale = (f"a Gaussian of {DEFAULT_SIGMA_PX:g} px around the joint" if self.kind == "heatmap"
                 else "1 at the joint, 0 at the farthest hand pixel")
        return (f"Frame {self._data.frame.id}: {KIND_TITLES[self.kind]} map of the "
                f"{EVAL_NAMES[j]}, {scale}. Hand mask: {self._mask_title} "
                f"({int(self._mask.sum())} px). {where} Click a dot to choose a joint.")

    def joint_scene_pos(self, j: int, panel: str = "gt") -> QPointF:
        """Scene position of joint ``j``'s dot (for tests and tooltips)."""
        p = self.gt if panel == "gt" else self.pred
        x, y = self._data.joints_crop()[j, :2] + 0.5
        return p.box.mapViewToScene(QPointF(float(x), float(y)))
