"""The pipeline's stages, in order, and their table: what the command line and the studio
both run.

Each stage module has a frozen settings dataclass and ``run(project, settings, *,
progress=None, cancel=None, on_item=None)``; :data:`STAGES` describes them (what each
needs and produces, its headline metric). ``handpose-studio train STAGE`` builds its
options from the settings, and the studio its training panel.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import build_dictionary, evaluate, finetune_seg, pretrain_seg, restore, synthetic, train_reg
from .base import RunHandle, Stage, recorded_run

STAGES: tuple[Stage, ...] = (
    Stage(synthetic.NAME, "Synthetic data", synthetic.SyntheticSettings, synthetic.run, (),
          "clean synthetic training and held-out stores (PROJECT/synthetic)",
          synthetic.headline, synthetic.done,
          "render the clean synthetic training store and the held-out store"),
    Stage(pretrain_seg.NAME, "Pre-train f_s", pretrain_seg.PretrainSegSettings, pretrain_seg.run,
          (), "the project's f_s (PROJECT/models/pretrain-seg-*), accuracy on synthetic and "
          "labelled frames", pretrain_seg.headline, pretrain_seg.done,
          "1. pre-train the segmentation network f_s on synthetic renders (renders them if "
          "missing)"),
    Stage(build_dictionary.NAME, "Build dictionary", build_dictionary.DictionarySettings,
          build_dictionary.run, (synthetic.NAME,), "the patch dictionary (PROJECT/dictionary)",
          build_dictionary.headline, build_dictionary.done,
          "2. build the annoy dictionary of synthetic label patches"),
    Stage(restore.NAME, "Restore", restore.RestoreSettings, restore.run,
          (build_dictionary.NAME,), "raw and restored maps, barycenter scores and decisions",
          restore.headline, restore.done,
          "3. restore f_s predictions patchwise and apply the barycenter quality check"),
    Stage(finetune_seg.NAME, "Fine-tune f_s", finetune_seg.FinetuneSegSettings, finetune_seg.run,
          (restore.NAME,), "the fine-tuned f_s (PROJECT/models/finetune-seg), the frames used "
          "and Table 3", finetune_seg.headline, finetune_seg.done,
          "4. fine-tune f_s on the accepted restored maps and a weak joint loss on every "
          "restored frame, mixed 4:1 with synthetic samples (--joint-weight 0 "
          "--synthetic-ratio 9 --epochs 10: the paper's recipe)"),
    Stage(train_reg.NAME, "Train f_r", train_reg.TrainRegSettings, train_reg.run, (),
          "the f_r of a Table 4 variant (PROJECT/models/train-reg-<variant>) and its test "
          "error", train_reg.headline, train_reg.done,
          "5. train the joint regression network f_r: --variant a (direct), b (cascade), "
          "c (synthetic-only f_s) or d (fine-tuned f_s)"),
    Stage(evaluate.NAME, "Evaluate", evaluate.EvaluateSettings, evaluate.run, (),
          "accuracy tables (segmentation, Table 2 ablation, quality check)",
          evaluate.headline, evaluate.done,
          "measure segmentation and restoration on the labelled frames"),
)


def get_stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(f"no stage {name!r}; stages: {', '.join(s.name for s in STAGES)}")


@dataclass(frozen=True)
class StageStatus:
    """A stage's state in a project: ``not run``, ``running``, ``completed``,
    ``cancelled``, ``failed`` or ``interrupted``, from its last run record."""

    stage: Stage
    state: str
    run: object | None
    headline: str
    error: str | None
    missing: tuple[str, ...]


def stage_status(project, name: str) -> StageStatus:
    """The state of stage ``name`` from the project store, and which of the stages it
    needs have not produced their output yet."""
    st = get_stage(name)
    rec = project.last_run(name)
    state = "not run" if rec is None else rec.status
    if rec is None and st.done(project):
        state = "completed"  # made outside a recorded run (older projects, bundled model)
    headline = ""
    if rec is not None and rec.outcome == "completed":
        try:
            headline = st.headline(rec.metrics)
        except (KeyError, TypeError, ValueError):
            headline = ""
    missing = tuple(n for n in st.needs if not get_stage(n).done(project))
    return StageStatus(st, state, rec, headline, rec.error if rec else None, missing)


__all__ = ["STAGES", "RunHandle", "Stage", "StageStatus", "get_stage", "recorded_run",
           "stage_status"]
