"""What every stage shares: the stage description, the run lifecycle, settings handling.

A stage is a function ``run(project, settings, *, progress=None, cancel=None,
on_item=None) -> result`` with a frozen settings dataclass. :func:`recorded_run` owns a
run's record in the project store: ``running`` with this process's id and a heartbeat
while it works, then ``completed``, ``cancelled`` (the cancel event or Ctrl-C) or
``failed`` with the error text. A run whose process dies reads as ``interrupted``.
"""

from __future__ import annotations

import dataclasses
import threading
import types
import typing
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..errors import BadInput
from ..progress import Cancelled
from ..project.records import HEARTBEAT_S


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline as the command line and the studio see it.

    ``needs``: stages whose output this one reads (run them first); ``produces``: what
    it leaves in the project; ``headline(metrics) -> str``: its result in a few words;
    ``done(project) -> bool``: whether its output is there."""

    name: str
    title: str
    settings_cls: type
    run: Callable
    needs: tuple[str, ...]
    produces: str
    headline: Callable[[dict], str]
    done: Callable[[object], bool]
    help: str = ""


@dataclass
class RunHandle:
    """What a stage fills in while it runs: the metrics and checkpoint to record."""

    id: int
    metrics: dict = field(default_factory=dict)
    checkpoint: str | None = None


class _Heartbeat(threading.Thread):
    def __init__(self, project, run_id: int):
        super().__init__(name=f"heartbeat-{run_id}", daemon=True)
        self.project, self.run_id = project, run_id
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(HEARTBEAT_S):
            try:
                self.project.heartbeat(self.run_id)
            except Exception:  # noqa: BLE001 -- a closed store ends the heartbeat quietly
                return


@contextmanager
def recorded_run(project, stage: str, config: dict, *, run_dir: str | None = None):
    """Record one run of ``stage``; yields a :class:`RunHandle` to fill in.

    The outcome is ``completed`` when the block ends normally, ``cancelled`` on
    :class:`~handpose_core.progress.Cancelled` or ``KeyboardInterrupt`` (re-raised),
    ``failed`` with ``metrics["error"]`` on any other exception (re-raised).

    In a distributed training run (``--nproc``) only rank 0 records; the other
    processes get a handle that records nothing."""
    from ..training.distributed import world

    if world()[0] > 0:
        yield RunHandle(-1)
        return
    run = RunHandle(project.start_run(stage, config, run_dir=run_dir))
    beat = _Heartbeat(project, run.id)
    beat.start()
    try:
        yield run
    except (Cancelled, KeyboardInterrupt):
        project.finish_run(run.id, "cancelled", run.metrics, run.checkpoint)
        raise
    except BaseException as e:
        project.finish_run(run.id, "failed", {**run.metrics, "error": f"{type(e).__name__}: {e}"},
                           run.checkpoint)
        raise
    else:
        project.finish_run(run.id, "completed", run.metrics, run.checkpoint)
    finally:
        beat.stop_event.set()


def help_of(cls, name: str) -> str:
    """The ``help`` metadata of a settings field ('' when it has none)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata.get("help", "")
    raise KeyError(name)


def field_type(cls, f: dataclasses.Field):
    """The runtime type of a settings field (``int | None`` gives ``int``)."""
    hints = typing.get_type_hints(cls)
    t = hints[f.name]
    if isinstance(t, types.UnionType) or typing.get_origin(t) is typing.Union:
        args = [a for a in typing.get_args(t) if a is not type(None)]
        t = args[0]
    return t


def parse_value(cls, name: str, text: str):
    """Read ``text`` as the type of ``cls``'s field ``name``; ValueError naming both."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        raise BadInput(f"unknown setting {name!r}; known: {sorted(fields)}")
    t = field_type(cls, fields[name])
    if text.lower() in ("none", "") and fields[name].default is None:
        return None
    try:
        if t is bool:
            if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise BadInput(text)
            return text.lower() in ("1", "true", "yes")
        return t(text)
    except (TypeError, ValueError):
        raise BadInput(f"{name}: cannot read {text!r} as {t.__name__}") from None


def settings_dict(settings) -> dict:
    """A settings dataclass as a JSON-able dict (nested dataclasses included)."""
    return dataclasses.asdict(settings)
