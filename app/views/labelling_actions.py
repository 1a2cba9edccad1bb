"""The labelling panel's project-level actions: choose or load the evaluation set, export
and import hand labels. Each has a method the dialogs call (and tests call directly).

What they write (the evaluation set, imported labels) is written by a worker on its own
connection, never by this view on the GUI thread; the panel learns of it from the
session's change feed like every other view, and the method's ``then`` runs once the
write is committed."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu, QMessageBox, QToolButton

from handpose_core.labelling.evalset import (
    DEFAULT_SIZE,
    choose_eval_set,
    get_eval_set,
    parse_frame_list,
    store_eval_set,
)
from handpose_core.labelling.files import LabelFileError, check_import, export_labels, import_labels

log = logging.getLogger(__name__)

START_FROM = (("restored", "restored map"), ("finetuned", "fine-tuned f_s"),
              ("raw", "raw f_s"), ("dataset", "dataset labels"))
"""The maps a frame's labels can start from: key, what the user reads."""


class LabellingActions:
    """Buttons in the panel's bottom row and what they do."""

    def __init__(self, panel):
        self.panel = panel
        ev = QToolButton(text="Evaluation set…", popupMode=QToolButton.InstantPopup)
        menu = QMenu(ev)
        menu.addAction(f"Choose {DEFAULT_SIZE} test frames spread over the sequence",
                       self._on_choose_triggered)
        menu.addAction("Load a frame list…", self._on_load_list_triggered)
        menu.addSeparator()
        menu.addAction("First evaluation frame", lambda: self.go_first())
        ev.setMenu(menu)
        exp = QToolButton(text="Export…")
        exp.setToolTip("Write the hand labels of the evaluation set as palette PNGs with the "
                       "part table (parts.json)")
        exp.clicked.connect(self._on_export_clicked)
        imp = QToolButton(text="Import…")
        imp.setToolTip("Read palette PNGs named like test_1_0000123.png; every file is checked "
                       "before anything is saved")
        imp.clicked.connect(self._on_import_clicked)
        for b in (ev, exp, imp):
            panel.bottom.addWidget(b)
        self.buttons = {"eval": ev, "export": exp, "import": imp}

    @property
    def project(self):
        return self.panel.session.project

    def _write(self, fn, name: str, then) -> None:
        """Run ``fn(project)`` in a worker on its own connection; ``then(result)`` on the
        GUI thread after it committed, an error dialog if it failed."""
        self.panel.session.runner.run(lambda ctx: fn(ctx.project), name=name,
                                      project_root=self.project.root, on_success=then,
                                      on_failure=self._error)

    # ------------------------------------------------------------------ evaluation set
    def choose(self, n: int = DEFAULT_SIZE, seed: int = 0, then=None) -> list[int]:
        """Choose ``n`` test frames spread over the sequence and store them as the
        evaluation set (in a worker); returns the ids."""
        ids = choose_eval_set(self.project.frames(), n=n, seed=seed)
        self._store(ids, f"evaluation set: {len(ids)} test frames spread over the sequence "
                         f"(seed {seed})", then)
        return ids

    def load_list(self, path: str | Path, then=None) -> list[int]:
        """Read a frame list (checked here, before anything is written) and store it as
        the evaluation set (in a worker); returns the ids."""
        path = Path(path)
        ids = parse_frame_list(path.read_text(), self.project.frames(), source=str(path))
        self._store(ids, f"evaluation set: {len(ids)} frames from {path.name}", then)
        return ids

    def _store(self, ids, message: str, then=None) -> None:
        def stored(_result) -> None:
            if self.project is None:
                return
            self.panel.eval_ids = get_eval_set(self.project)
            self.panel.update_progress()
            self.panel._status(message)
            if then is not None:
                then()

        self._write(lambda project: store_eval_set(project, ids), "store the evaluation set",
                    stored)

    def go_first(self) -> None:
        if self.panel.eval_ids:
            self.panel.session.set_frame(self.panel.eval_ids[0])

    def _on_choose_triggered(self) -> None:
        if self.project is None:
            return
        if self.panel.eval_ids:
            n, ok = QInputDialog.getInt(self.panel, "Evaluation set",
                                        "Replace the evaluation set with how many test frames?\n"
                                        "(Labels already painted are kept.)", DEFAULT_SIZE, 1,
                                        100000)
            if not ok:
                return
        else:
            n = DEFAULT_SIZE
        self.choose(n, then=self.go_first)

    def _on_load_list_triggered(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.panel, "Frame list (one frame per line)")
        if path:
            try:
                self.load_list(path, then=self.go_first)
            except (ValueError, OSError) as e:
                self._error(str(e))

    # ------------------------------------------------------------------ export / import
    def export_to(self, folder: str | Path) -> list[Path]:
        ids = self.panel.eval_ids or [f.id for f in self.project.frames()]
        out = export_labels(self.project, ids, folder)
        self.panel._status(f"exported {len(out)} label images and parts.json to {folder}")
        return out

    def import_from(self, paths, then=None) -> list[int]:
        """Check every file here (:class:`LabelFileError` on the first bad one, and nothing
        is written), then save them in a worker; returns the frame ids."""
        paths = list(paths)
        ids = [it.frame_id for it in check_import(self.project, paths)]

        def imported(done: list[int]) -> None:
            if self.project is None:
                return
            self.panel.update_progress()
            self.panel._status(f"imported the labels of {len(done)} frames")
            if then is not None:
                then()

        self._write(lambda project: import_labels(project, paths), "import labels", imported)
        return ids

    def _on_export_clicked(self) -> None:
        if self.project is None:
            return
        folder = QFileDialog.getExistingDirectory(self.panel, "Export hand labels to")
        if folder:
            try:
                self.export_to(folder)
            except (ValueError, OSError) as e:
                self._error(str(e))

    def _on_import_clicked(self) -> None:
        if self.project is None:
            return
        paths, _ = QFileDialog.getOpenFileNames(self.panel, "Import hand labels", "",
                                                "Label images (*.png)")
        if paths:
            try:
                self.import_from(paths)
            except (LabelFileError, OSError) as e:
                self._error(f"{e}\n\nNothing was imported.")

    def _error(self, text: str) -> None:
        self.panel._status(text.splitlines()[0])
        QMessageBox.warning(self.panel, "Labelling", text)

    # ------------------------------------------------------------------ start from
    def sources(self) -> dict:
        """The maps the current frame can start from: crop maps ``(S, S)`` of f_s, the
        restoration and the fine-tuned f_s, and the dataset's full-frame labels; None
        where there is none."""
        panel = self.panel
        ed = panel.editor
        if ed is None:
            return {}
        try:
            fd = panel.session.frame_data(ed.frame.id)
        except Exception:  # noqa: BLE001 - no data means nothing to start from
            log.exception("frame data of %s", ed.frame.id)
            fd = None
        ds = self.project.dataset.labels(ed.frame.split, ed.frame.frame, ed.frame.kinect)
        return {"restored": fd and fd.restored_labels, "finetuned": fd and fd.finetuned_labels,
                "raw": fd and fd.raw_labels, "dataset": ds}

    def update_start_from(self) -> None:
        avail = self.sources()
        combo = self.panel.start_combo
        ok = [avail.get(key) is not None for key, _ in START_FROM]
        for i, on in enumerate(ok):
            combo.model().item(i).setEnabled(on)
        if any(ok) and not ok[combo.currentIndex()]:  # never offer a map the frame lacks
            combo.setCurrentIndex(ok.index(True))
        self.panel.start_button.setEnabled(any(ok))

    def start_from(self, key: str) -> bool:
        panel, what = self.panel, dict(START_FROM)[key]
        src = self.sources().get(key)
        ed = panel.editor
        if src is None or ed is None:
            panel._status(f"no {what} for this frame")
            return False
        patch = ed.replace_with(src, save=False) if src.shape == ed.labels.shape else \
            ed.replace_with_crop_labels(src, save=False)
        panel._push(patch, f"start from {what}")
        panel._status(f"labels in view replaced by the {what} (Ctrl+Z undoes)")
        return True
