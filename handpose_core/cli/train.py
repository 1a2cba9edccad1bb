"""``handpose-studio train STAGE``: the training stages of the seed paper, in order."""

from __future__ import annotations

from ._dispatch import add_targets, run_target

STAGES = (
    ("pretrain-seg", "handpose_core.cli.stage_pretrain_seg",
     "1. pre-train the segmentation network f_s on synthetic renders"),
    ("build-dictionary", "handpose_core.cli.stage_build_dictionary",
     "2. build the annoy dictionary of synthetic label patches"),
    ("restore", "handpose_core.cli.stage_restore",
     "3. restore f_s predictions patchwise and apply the barycenter quality check"),
)


def add_arguments(parser) -> None:
    add_targets(parser, "stage", STAGES)


def run(args) -> int:
    return run_target(args)
