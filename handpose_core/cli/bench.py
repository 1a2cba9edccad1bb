"""``handpose-studio bench TARGET``: speed figures (medians) and seeded accuracy tables
(``table4``), printed or as JSON.

The targets live in :mod:`handpose_core.bench` (the studio adds ``bench gui``)."""

from __future__ import annotations

from ._dispatch import add_targets, run_target

TARGETS = (
    ("render", "handpose_core.bench.render",
     "synthetic renderer: labelled 48x48 crops/s and full real-like frames/s"),
    ("segnet", "handpose_core.bench.segnet",
     "segmentation network presets: inference ms/frame and training images/s"),
    ("restore", "handpose_core.bench.restore",
     "patchwise restoration: ms/frame, annoy vs exact agreement, build and load time"),
    ("pipeline", "handpose_core.bench.pipeline",
     "whole inference path per frame at batch 1: hand centre, crop, f_s, f_r"),
    ("guidance", "handpose_core.bench.guidance", "guidance maps (HandMap): ms/crop per kind, crops/s"),
    ("restore-workers", "handpose_core.bench.restore_workers",
     "restore throughput at 1..N worker processes and on a Dask LocalCluster, maps checked equal"),
    ("ceiling", "handpose_core.bench.ceiling",
     "restoration ceiling: held-out clean maps restored vs the dictionary's source maps"),
    ("table4", "handpose_core.bench.table4",
     "Table 4 over seeds: f_r a, b, c, d trained (or reused) per seed, mean ± spread and "
     "per-seed differences"),
)


def add_arguments(parser) -> None:
    add_targets(parser, "target", TARGETS)


def run(args) -> int:
    return run_target(args)
