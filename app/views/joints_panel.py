"""The Skeleton tab: a chosen regressor's joints (skeleton view) and guidance maps (guidance view).

Top: the regressor to show, one entry per finished ``train-reg`` run of the project
(``handpose_core.nets.regressor_runs``: an ablation's runs side by side), and a status
line. Below, in a splitter, the skeleton view and the guidance view of one joint. The two
share the joint: clicking a joint in the skeleton (or its error row) selects it in the
guidance view, choosing one in the guidance view rings it in the skeleton.

For the current frame the chosen run predicts in a worker (the model is loaded once and
kept): its joints go to the skeleton view (dashed) and, when the run was trained with a
HandMap guidance head, the head's 14 maps go to the guidance view (which switches to the
head's map kind); a run without a head says so in the guidance view's predicted panel.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from handpose_core.project import ChangeKind

from ..workers.predict_joints import FrameInput, predict_joints_task
from .guidance import GuidanceView
from .skeleton import SkeletonView

# what may add or move a regressor run
_NEW_RUNS = frozenset({ChangeKind.RUN, ChangeKind.META, ChangeKind.FILES})

NO_RUN = "none (ground truth only)"


class JointsPanel(QWidget):
    """Regressor choice over the skeleton and guidance views (see the module docstring)."""

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.runs = []  # RegressorRun, in the combo box's order after NO_RUN
        self._loaded = None  # RunPredictor of the chosen run, once loaded
        self._busy = False
        self._cache: dict[tuple[str, int], object] = {}  # (run, frame) -> JointsPrediction
        self._reported: set[str] = set()  # runs whose failure was shown in a dialog already

        self.skeleton = SkeletonView(session)
        self.guidance = GuidanceView(session)
        self.run_box = QComboBox()
        self.run_box.setObjectName("regressor")
        self.run_box.setToolTip("The trained f_r whose prediction the views show (one entry per "
                                "train-reg run folder under PROJECT/models)")
        # long run names and messages must not widen the window past the screen
        self.run_box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.run_box.setMinimumContentsLength(34)
        self.status = QLabel()
        self.status.setObjectName("regressor_status")
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        top = QHBoxLayout()
        top.setContentsMargins(6, 4, 6, 0)
        top.addWidget(QLabel("Regressor"))
        top.addWidget(self.run_box, 1)
        top.addSpacing(10)
        top.addWidget(self.status, 2)
        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.skeleton)
        self.splitter.addWidget(self.guidance)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.splitter, 1)

        self.skeleton.joint_selected.connect(self._on_skeleton_joint_selected)
        self.guidance.joint_selected.connect(self._on_guidance_joint_selected)
        self.run_box.currentIndexChanged.connect(self._on_run_box_changed)
        session.project_opened.connect(self._on_session_project_opened)
        session.frame_changed.connect(self._on_session_frame_changed)
        session.data_changed.connect(self._on_session_data_changed)
        self._on_session_project_opened(session.project)

    # ------------------------------------------------------------------ API
    @property
    def chosen(self):
        """The chosen ``RegressorRun``, or None."""
        i = self.run_box.currentIndex()
        return self.runs[i - 1] if 1 <= i <= len(self.runs) else None

    def choose_run(self, name: str) -> None:
        """Choose the run whose folder is ``name`` (``ValueError`` if there is none)."""
        for i, r in enumerate(self.runs):
            if r.name == name:
                self.run_box.setCurrentIndex(i + 1)
                return
        raise ValueError(f"no finished train-reg run named {name!r}; runs: "
                         f"{', '.join(r.name for r in self.runs) or 'none'}")

    def reload_runs(self) -> None:
        """Read the project's runs again, keeping the choice when it is still there; the
        first time, choose the project's current f_r (one with a guidance head first)."""
        # deferred: imported when first used, these cost start-up seconds (torch, numba, scipy)
        from handpose_core.nets.regressor_runs import regressor_runs

        keep = self.chosen.name if self.chosen is not None else None
        first = not self.runs and self.run_box.count() == 0
        problems: list = []  # runs whose eval.json does not read: told, the rest listed
        self.runs = regressor_runs(self.session.project, problems) \
            if self.session.project else []
        for e in problems:
            self.session.message_posted.emit(f"a run is not listed: {e}")
        self.run_box.blockSignals(True)
        self.run_box.clear()
        self.run_box.addItem(NO_RUN)
        for r in self.runs:
            mark = ", the project's f_r" if r.current else ""
            kind = "head without map loss" if r.guidance != "none" and r.guidance_weight == 0 \
                else r.guidance
            self.run_box.addItem(f"{r.name} ({r.variant}, {kind}{mark})")
            self.run_box.setItemData(self.run_box.count() - 1, r.title, Qt.ToolTipRole)
        names = [r.name for r in self.runs]
        if keep in names:
            self.run_box.setCurrentIndex(names.index(keep) + 1)
        elif first or keep is None:
            pick = sorted((r for r in self.runs if r.current),
                          key=lambda r: (r.guidance == "none", "dcba".index(r.variant)))
            self.run_box.setCurrentIndex(names.index(pick[0].name) + 1 if pick else 0)
        self.run_box.blockSignals(False)
        self._on_run_box_changed(self.run_box.currentIndex())

    # ------------------------------------------------------------------ prediction
    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.status.setToolTip(text)  # the label may be narrower than its text

    def _request(self) -> None:
        s = self.session
        run, fid = self.chosen, s.frame_id
        if s.project is None or fid is None:
            return
        if run is None:
            msg = ("No regressor chosen." if self.runs else
                   "No trained regressor in this project (train-reg) yet.")
            self._say(msg)
            self.skeleton.set_prediction(fid, None, msg if self.runs else "")
            self.guidance.set_predicted_maps(None)
            self.guidance.set_prediction_note("no regressor chosen" if self.runs else "")
            return
        hit = self._cache.get((run.name, fid))
        if hit is not None:
            self._show(run, hit)
            return
        self._say(f"{run.name}: predicting frame {fid} …")
        self.skeleton.set_prediction(fid, None, f"{run.name} is predicting this frame …")
        self.guidance.set_prediction_note(f"{run.name}: predicting …")
        if self._busy:
            return  # the running task's end asks again for whatever is current then
        self._busy = True
        loaded = self._loaded if self._loaded is not None and self._loaded.run == run else None
        s.runner.run(predict_joints_task(run, FrameInput.of(s.frame_data(fid)), loaded),
                     name="predict joints", project_root=s.project.root,
                     on_success=self._on_task_succeeded, on_failure=self._on_task_failed)

    def _show(self, run, p) -> None:
        note = f" by {run.name}"
        self.skeleton.set_prediction(p.frame_id, p.uvd, note)
        if p.maps is None or run.guidance_weight == 0:
            self.guidance.set_predicted_maps(None)
            self.guidance.set_prediction_note(
                f"<b>this model has no guidance head</b><br>{run.name} was trained "
                "without guidance maps" if p.maps is None else
                f"<b>no guidance maps</b><br>{run.name}'s head was trained without a map "
                "loss: its outputs are features, not maps")
            self._say("joints shown; this model has no guidance head" if p.maps is None
                      else "joints shown; its head learnt no guidance maps")
        else:
            self.guidance.set_kind(run.guidance)
            self.guidance.set_prediction_note("")
            self.guidance.set_predicted_maps(p.maps, run.guidance, p.uvd, source=run.name)
            self._say(f"joints and {run.guidance} guidance maps shown")

    @Slot(object)
    def _on_task_succeeded(self, p) -> None:
        self._busy = False
        self._loaded = p.predictor
        run = p.predictor.run
        self._cache[(run.name, p.frame_id)] = p
        if len(self._cache) > 256:
            self._cache.pop(next(iter(self._cache)))
        if run == self.chosen and p.frame_id == self.session.frame_id:
            self._show(run, p)
        else:
            self._request()  # the user moved on meanwhile

    @Slot(str)
    def _on_task_failed(self, message: str) -> None:
        self._busy = False
        run = self.chosen
        first = message.strip().splitlines()[-1] if message.strip() else "failed"
        self._say(f"{run.name if run else 'regressor'}: prediction failed: {first}")
        self.skeleton.set_prediction(self.session.frame_id, None, "The prediction failed.")
        name = run.name if run else ""
        if name in self._reported:
            return  # one dialog per run: the status line tells of the next failures
        self._reported.add(name)
        self.session.error_raised.emit(f"Predicting with {run.name if run else 'the regressor'} "
                                       f"failed.\n\n{message}")

    # ------------------------------------------------------------------ slots
    @Slot(int)
    def _on_skeleton_joint_selected(self, j: int) -> None:
        self.guidance.select_joint(j)

    @Slot(int)
    def _on_guidance_joint_selected(self, j: int) -> None:
        self.skeleton.select_joint(j)

    @Slot(int)
    def _on_run_box_changed(self, _i: int) -> None:
        if self._loaded is not None and self._loaded.run != self.chosen:
            self._loaded = None  # free the previous model
        self._request()

    @Slot(object)
    def _on_session_project_opened(self, project) -> None:
        self.runs, self._loaded, self._cache, self._reported = [], None, {}, set()
        self.run_box.blockSignals(True)
        self.run_box.clear()
        self.run_box.blockSignals(False)
        if project is not None:
            self.reload_runs()

    def showEvent(self, event) -> None:  # predict the frame chosen while the tab was hidden
        super().showEvent(event)
        self._request()

    @Slot(int)
    def _on_session_frame_changed(self, _fid: int) -> None:
        if self.isVisible():  # hidden: no prediction per switch while browsing elsewhere
            self._request()

    @Slot(str, object)
    def _on_session_data_changed(self, change) -> None:
        if change.kind in _NEW_RUNS and self.session.project is not None:
            # deferred: imported when first used, these cost start-up seconds (torch, numba, scipy)
            from handpose_core.nets.regressor_runs import regressor_runs

            if regressor_runs(self.session.project, []) != self.runs:  # a run finished or moved
                self._cache = {}
                self.reload_runs()
