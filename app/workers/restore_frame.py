"""The "Restore this frame" task: one frame through f_s, the dictionary and the accept rule."""

from __future__ import annotations

from pathlib import Path


def dictionary_missing(project) -> str | None:
    """A message saying which stage to run first, or None when the dictionary is there."""
    meta = Path(project.root) / "dictionary" / "meta.json"
    if meta.exists():
        return None
    return ("This project has no patch dictionary yet. Build it first:\n"
            f"  handpose-studio train build-dictionary --project {project.root}")


def restore_frame_task(frame_id: int):
    """A :class:`~.task_worker.TaskWorker` function restoring ``frame_id`` in the worker's
    own project connection; returns the new ``RestorationRecord``."""

    def run(ctx):
        from handpose_core.restoration import Dictionary
        from handpose_core.restoration.frame import restore_frame

        from ..models.predictions import load_segnet, segnet_paths

        project = ctx.project
        ctx.progress(0, 3, "loading f_s and the dictionary")
        raw_path, _ = segnet_paths(project)
        if raw_path is None:
            raise FileNotFoundError(f"{project.root}: no f_s checkpoint (and no bundled model)")
        model = load_segnet(raw_path)
        dictionary = Dictionary.load(project.path("dictionary"))
        ctx.progress(1, 3, f"restoring frame {frame_id}")
        name = Path(raw_path).stem if Path(raw_path).parent.name == "models" else \
            Path(raw_path).parent.name
        rec = restore_frame(project, project.frame(frame_id), model, dictionary,
                            model_name=name, cancel=ctx.cancel)
        ctx.progress(3, 3, "stored")
        return rec

    return run
