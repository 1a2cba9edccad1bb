"""A settings form generated from a stage's frozen settings dataclass.

Every field gets an editor with its default and its ``help`` metadata as tooltip: a
check box for a ``bool``, a line edit for everything else (read back with the core's
:func:`~handpose_core.stages.base.parse_value`, so the form accepts exactly what
``handpose-studio train STAGE --NAME VALUE`` accepts). A nested dataclass field (the
``TrainConfig`` of pre-train f_s) shows its main fields and a ``key=value`` box for the
rest. Nothing here knows a particular stage.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QGroupBox, QLabel, QLineEdit, QWidget

from handpose_core.stages.base import field_type, parse_value

# Fields of a nested config shown as their own editors; the rest go to "key=value".
MAIN_NESTED_FIELDS = ("epochs", "batch_size", "lr", "num_threads")
INVALID_STYLE = "QLineEdit { border: 1px solid #c62828; background: #fdecea; }"


def _text(value) -> str:
    return "" if value is None else str(value)


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise ValueError(f"setting {f.name!r} has no default")


class StageSettingsForm(QWidget):
    """Editors for the fields of ``settings_cls``; :meth:`settings` reads them back.

    ``defaults`` (an instance of ``settings_cls``) replaces the dataclass defaults as the
    starting values, e.g. a studio default that differs from the command line's."""

    edited = Signal()

    def __init__(self, settings_cls: type, defaults=None, parent=None):
        super().__init__(parent)
        self.settings_cls = settings_cls
        self._defaults = defaults if defaults is not None else settings_cls()
        self._editors: dict[str, QWidget] = {}
        self._nested: dict[str, tuple[type, dict[str, QLineEdit], QLineEdit]] = {}
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        for f in dataclasses.fields(settings_cls):
            value = getattr(self._defaults, f.name)
            tip = f.metadata.get("help", "")
            if dataclasses.is_dataclass(value):
                form.addRow(self._nested_box(f.name, tip, value))
                continue
            editor = self._editor(settings_cls, f, value, tip)
            label = QLabel(f.name.replace("_", " "))
            label.setToolTip(tip)
            label.setBuddy(editor)
            form.addRow(label, editor)
            self._editors[f.name] = editor

    # ------------------------------------------------------------------ building
    def _editor(self, cls, f: dataclasses.Field, value, tip: str) -> QWidget:
        t = field_type(cls, f)
        if t is bool:
            w = QCheckBox()
            w.setChecked(bool(value))
            w.toggled.connect(self.edited)
        else:
            w = QLineEdit(_text(value))
            if value is None:
                w.setPlaceholderText("none")
            w.textEdited.connect(self._on_editor_text_edited)
        w.setObjectName(f"setting_{f.name}")
        w.setToolTip(f"{tip}\n(default: {_text(_default(f)) or 'none'})" if tip else "")
        return w

    def _nested_box(self, name: str, tip: str, value) -> QGroupBox:
        cls = type(value)
        box = QGroupBox(name.replace("_", " "))
        box.setToolTip(tip)
        lay = QFormLayout(box)
        lay.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        editors = {}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key in MAIN_NESTED_FIELDS:
            if key in fields:
                e = self._editor(cls, fields[key], getattr(value, key), "")
                e.setObjectName(f"setting_{name}.{key}")
                e.setToolTip(f"{name}.{key} (default {getattr(cls(), key)})")
                lay.addRow(key.replace("_", " "), e)
                editors[key] = e
        others = [k for k in fields if k not in editors]
        changed = [f"{k}={getattr(value, k)}" for k in others
                   if getattr(value, k) != getattr(cls(), k)]
        more = QLineEdit(" ".join(changed))
        more.setObjectName(f"setting_{name}.more")
        more.setPlaceholderText("key=value …  e.g. val_every=200 shift_px=3")
        more.setToolTip("other fields of " + cls.__name__ + ", space-separated key=value:\n"
                        + ", ".join(others))
        more.textEdited.connect(self._on_editor_text_edited)
        lay.addRow("more", more)
        self._nested[name] = (cls, editors, more)
        return box

    # ------------------------------------------------------------------ reading
    def editor(self, name: str) -> QWidget:
        """The editor of field ``name`` (``"train.epochs"`` for a nested main field)."""
        if "." in name:
            outer, inner = name.split(".", 1)
            cls, editors, more = self._nested[outer]
            return more if inner == "more" else editors[inner]
        return self._editors[name]

    def settings(self):
        """The settings instance the editors describe.

        Raises ``ValueError`` naming the field and the text it could not read (the
        offending editor is marked red)."""
        kw = {}
        for name, w in self._editors.items():
            kw[name] = w.isChecked() if isinstance(w, QCheckBox) else \
                self._read(self.settings_cls, name, w)
        for name, (cls, editors, more) in self._nested.items():
            sub = {k: (w.isChecked() if isinstance(w, QCheckBox) else self._read(cls, k, w))
                   for k, w in editors.items()}
            for pair in more.text().split():
                key, sep, val = pair.partition("=")
                if not sep:
                    self._mark(more, True)
                    raise ValueError(f"{name}: expected key=value, got {pair!r}")
                try:
                    sub[key.strip()] = parse_value(cls, key.strip(), val.strip())
                except ValueError as e:
                    self._mark(more, True)
                    raise ValueError(f"{name}: {e}") from None
            try:
                kw[name] = cls(**sub)
            except (TypeError, ValueError) as e:
                raise ValueError(f"{name}: {e}") from None
        try:
            return self.settings_cls(**kw)
        except (TypeError, ValueError) as e:
            raise ValueError(str(e)) from None

    def _read(self, cls, name: str, w: QLineEdit):
        try:
            value = parse_value(cls, name, w.text().strip())
        except ValueError:
            self._mark(w, True)
            raise
        self._mark(w, False)
        return value

    @staticmethod
    def _mark(w: QWidget, bad: bool) -> None:
        w.setStyleSheet(INVALID_STYLE if bad else "")

    def _on_editor_text_edited(self, _text: str) -> None:
        self._mark(self.sender(), False)
        self.edited.emit()
