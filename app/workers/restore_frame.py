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
    own project connection with the restore stage's own function and default settings
    (so the result carries the stage's run key); returns the new ``RestorationRecord``."""

    def run(ctx):
        # deferred: imported when first used, these cost start-up seconds (torch, numba, scipy)
        from handpose_core.nets.inference import load_segnet_model, segnet_path
        from handpose_core.restoration import Dictionary
        from handpose_core.stages.restore import RestoreSettings, restore_frames, run_key

        project = ctx.project
        ctx.progress(0, 3, "loading f_s and the dictionary")
        model_path = segnet_path(project)
        model = load_segnet_model(model_path)
        dictionary = Dictionary.load(project.root / "dictionary")
        settings = RestoreSettings()
        ctx.progress(1, 3, f"restoring frame {frame_id}")
        (rec,) = restore_frames(project, [project.frame(frame_id)], model, dictionary, settings,
                                model_name=str(model_path),
                                key=run_key(model_path, dictionary, settings), cancel=ctx.cancel)
        ctx.progress(3, 3, "stored")
        return rec

    return run
