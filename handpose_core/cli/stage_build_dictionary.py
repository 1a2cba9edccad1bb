"""``handpose-studio train build-dictionary``: the patch dictionary of a project.

Label patches of a synthetic store's maps (the paper takes a third of its synthetic
set), indexed with annoy, written to ``PROJECT/dictionary/`` (or ``--out``). The run
and its figures are recorded in the project store.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("--project", required=True, help="project directory")
    parser.add_argument("--store", default=None,
                        help="synthetic store to take label maps from (default: the newest "
                        "complete store under PROJECT/synthetic/)")
    parser.add_argument("--images", type=int, default=None,
                        help="use the first N maps (default: min(store size, 5400))")
    parser.add_argument("--patches", type=int, default=1_000_000,
                        help="dictionary size in patches (default 1,000,000)")
    parser.add_argument("--patch", type=int, default=27,
                        help="patch size P, odd (default 27 at 48x48, as the paper)")
    parser.add_argument("--paper-scale", action="store_true",
                        help="the paper's dictionary: 36 M patches from 56,991 maps "
                        "(~40 GB of disk, ~16 GB of RAM to build)")
    parser.add_argument("--encoding", default=None,
                        help="patch encoding for annoy (default cw6-s2; see bench restore)")
    parser.add_argument("--trees", type=int, default=None, help="annoy trees (default 16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="dictionary folder (default PROJECT/dictionary)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def find_store(root: Path) -> Path:
    """The largest complete synthetic store under ``root`` (the training store, not the
    small held-out one); ``FileNotFoundError`` if there is none."""
    found = []
    for meta in root.glob("*/meta.json"):
        try:
            m = json.loads(meta.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if m.get("format") == "handpose-synthetic" and m.get("complete"):
            found.append((int(m.get("count", 0)), meta.stat().st_mtime, meta.parent))
    if not found:
        raise FileNotFoundError(f"{root}: no complete synthetic store (render one with "
                                "'handpose-studio synth')")
    return max(found)[2]


def run(args) -> int:
    from ..datasets.synthetic import SyntheticStore
    from ..progress import TerminalProgress
    from ..restoration.dictionary import (
        DEFAULT_ENCODING,
        DEFAULT_N_IMAGES,
        DEFAULT_N_TREES,
        PAPER_SCALE,
        Dictionary,
    )
    from ._dispatch import open_project

    project = open_project(args, "train build-dictionary")
    if project is None:
        return 2
    with project:
        try:
            store_dir = Path(args.store) if args.store else find_store(project.path("synthetic"))
            store = SyntheticStore.open(store_dir)
        except (FileNotFoundError, ValueError) as e:
            print(f"handpose-studio train build-dictionary: {e}", file=sys.stderr)
            return 2
        images = PAPER_SCALE["n_images"] if args.paper_scale else args.images
        patches = PAPER_SCALE["max_patches"] if args.paper_scale else args.patches
        images = min(len(store), images or DEFAULT_N_IMAGES)
        out = Path(args.out) if args.out else project.path("dictionary")
        config = {"store": str(store_dir), "images": images, "patches": patches,
                  "patch": args.patch,
                  "encoding": args.encoding or DEFAULT_ENCODING,
                  "trees": args.trees or DEFAULT_N_TREES, "seed": args.seed, "out": str(out)}
        run_id = project.start_run("build-dictionary", config, run_dir=str(out))
        try:
            d = Dictionary.build(store.labels, out, patch=args.patch, n_images=images,
                                 max_patches=patches,
                                 encoding=config["encoding"], n_trees=config["trees"],
                                 seed=args.seed, source=str(store_dir),
                                 progress=TerminalProgress("dictionary"))
        except KeyboardInterrupt:
            project.finish_run(run_id, "cancelled")
            raise
        except (ValueError, OSError) as e:
            project.finish_run(run_id, "failed", {"error": str(e)})
            print(f"handpose-studio train build-dictionary: {e}", file=sys.stderr)
            return 2 if isinstance(e, ValueError) else 1  # bad input / the disk failed
        sizes = d.disk_bytes()
        metrics = {k: d.meta[k] for k in ("n_patches", "n_images", "n_extracted", "n_unique",
                                          "build_seconds", "index_seconds")}
        metrics["index_mb"] = round(sizes["index.ann"] / 2**20, 1)
        metrics["patches_mb"] = round(sizes["patches.npy"] / 2**20, 1)
        project.finish_run(run_id, "completed", metrics)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(f"dictionary {out}: {metrics['n_patches']:,} patches from {metrics['n_images']} "
              f"maps in {metrics['build_seconds']:.1f} s; index {metrics['index_mb']} MB, "
              f"patches {metrics['patches_mb']} MB")
    return 0
