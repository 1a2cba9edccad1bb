"""``handpose-studio train STAGE``: the stages of the seed paper, built from the stage table.

Every field of a stage's settings dataclass is an option (``--field-name VALUE``; booleans
as ``--name`` / ``--no-name``), ``--set key=value`` sets any field (and, for pre-training,
any training hyper-parameter), and ``--restart`` redoes finished work.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from ..errors import BadInput
from ..progress import Cancelled, TerminalProgress

ALIASES = {("restore", "integrate"): "--no-integration",
           ("restore", "keep_silhouette"): "--allow-background"}
"""Older spellings of options that still work."""


def add_arguments(parser) -> None:
    from ..stages import STAGES
    from ..stages.base import field_type

    sub = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for st in STAGES:
        sp = sub.add_parser(st.name, help=st.help, description=st.help + ". Produces: "
                            + st.produces + ".")
        sp.add_argument("--project", required=True, help="project directory")
        for f in dataclasses.fields(st.settings_cls):
            if dataclasses.is_dataclass(f.default_factory if f.default_factory is not
                                        dataclasses.MISSING else None) or f.name == "train":
                continue
            flag = "--" + f.name.replace("_", "-")
            t = field_type(st.settings_cls, f)
            help_ = f.metadata.get("help", "")
            if t is bool:
                if (st.name, f.name) in ALIASES:
                    sp.add_argument(ALIASES[(st.name, f.name)], dest=f.name,
                                    action="store_const", const=not f.default,
                                    help=argparse.SUPPRESS)
                sp.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                                default=f.default,
                                help=f"{help_} (default: {'on' if f.default else 'off'})")
            else:
                shown = "none" if f.default in (None, "") else f.default
                if "default" not in help_:
                    help_ = f"{help_} (default: {shown})"
                choices = f.metadata.get("choices")
                sp.add_argument(flag, dest=f.name, type=str, default=None, choices=choices,
                                metavar="{" + ",".join(choices) + "}" if choices
                                else t.__name__.upper(), help=help_)
        has_train = any(f.name == "train" for f in dataclasses.fields(st.settings_cls))
        if has_train:
            sp.add_argument("--epochs", type=int, default=None, help="training epochs")
            sp.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                            help="where to train (default auto: CUDA when present, with "
                            "bfloat16 mixed precision; --set amp=false for float32)")
            sp.add_argument("--nproc", type=int, default=1, metavar="N",
                            help="train in N processes (DistributedDataParallel under "
                            "torchrun: gloo on CPU, NCCL with one GPU each); each takes a "
                            "share of every batch, rank 0 writes the checkpoints "
                            "(docs/scale.md)")
        if st.name == "pretrain-seg":
            sp.add_argument("--export-bundle", metavar="PATH.pt",
                            help="also copy the best checkpoint to PATH.pt with a manifest "
                            "PATH.json: how resources/models/segnet_fast.pt is made")
        sp.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="set any setting"
                        + (" or training hyper-parameter (lr, batch_size, seed, ...)"
                           if has_train else ""))
        sp.add_argument("--json", action="store_true", help="print the result as JSON")


def settings_from_args(stage, args):
    """The stage's settings from its options and ``--set`` pairs (ValueError if bad)."""
    from ..stages.base import parse_value

    cls = stage.settings_cls
    values, train_pairs = {}, {}
    names = {f.name for f in dataclasses.fields(cls)}
    for f in dataclasses.fields(cls):
        v = getattr(args, f.name, None)
        if v is None or f.name == "train":
            continue
        values[f.name] = v if isinstance(v, bool) else parse_value(cls, f.name, v)
    for pair in args.overrides:
        if "=" not in pair:
            raise BadInput(f"--set expects key=value, got {pair!r}")
        k, v = pair.split("=", 1)
        if k in names and k != "train":
            values[k] = parse_value(cls, k, v)
        elif "train" in names:
            train_pairs[k] = v
        else:
            raise BadInput(f"unknown setting {k!r}; known: {sorted(names)}")
    if getattr(args, "epochs", None) is not None:
        train_pairs.setdefault("epochs", str(args.epochs))
    if getattr(args, "device", None) is not None:
        train_pairs.setdefault("device", args.device)
    if stage.name == "restore":
        values.setdefault("workers", 0)  # the command line uses every core by default
    settings = cls(**values)
    if train_pairs:
        from ..stages.pretrain_seg import with_train_overrides

        settings = with_train_overrides(settings, train_pairs)
    return settings


def run(args) -> int:
    from ..project import Project
    from ..stages import get_stage
    from ..training import distributed as dd
    from .stage_runner import cancel_on_signals, report_interrupted

    stage = get_stage(args.stage)
    label = f"handpose-studio train {stage.name}"
    nproc = getattr(args, "nproc", 1)
    if nproc < 1:
        print(f"{label}: --nproc must be >= 1, got {nproc}", file=sys.stderr)
        return 2
    try:
        settings = settings_from_args(stage, args)
        project = Project.open(args.project)
    except BadInput as e:  # settings or project (ProjectError is a BadInput)
        print(f"{label}: {e}", file=sys.stderr)
        return 2
    if nproc > 1 and dd.env_world_size() == 1:  # start the processes; each runs this again
        project.close()
        return dd.launch(args._argv, nproc)
    rank = 0
    if dd.env_world_size() > 1:
        rank = dd.init_from_env(settings.train.device if hasattr(settings, "train")
                                else "auto")[0]
    with project, cancel_on_signals(label) as cancel:
        if rank == 0:
            report_interrupted(project, stage.name, label)
        try:
            dd.wait_for_rank0()
            result = stage.run(project, settings,
                               progress=TerminalProgress(stage.name) if rank == 0 else None,
                               cancel=cancel)
        except dd.RankDone:
            dd.finish(together=True)  # meets rank 0's below
            return 0
        except (Cancelled, KeyboardInterrupt):
            print(f"{label}: cancelled; finished work is kept and the next run continues "
                  "from it", file=sys.stderr)
            return 130
        except (BadInput, FileNotFoundError) as e:  # a bug (ValueError) is exit 1
            print(f"{label}: {e}", file=sys.stderr)
            return 2
        else:
            dd.finish(together=True)  # rank 0 done: every process leaves the group at once
        finally:
            dd.finish()  # leave the process group on any other way out (no-op if left)
    if stage.name == "pretrain-seg" and getattr(args, "export_bundle", None):
        from ..stages.pretrain_seg import export_bundle

        export_bundle(result, args.export_bundle,
                      command=" ".join(["handpose-studio", *args._argv]))
    data = result.to_dict() if hasattr(result, "to_dict") else result
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print_result(stage.name, data)
    return 0


def print_result(name: str, r: dict) -> None:
    from .tables import print_pretrain_report

    if name == "pretrain-seg":
        if r.get("already_done"):
            print(f"f_s already trained ({r['epochs']} epochs); re-evaluated it. Use --restart "
                  "to train again.")
        print_pretrain_report(r)
    elif name == "synthetic":
        print(f"synthetic stores: {r['train_crops']:,} training crops in {r['train_store']}, "
              f"{r['heldout_crops']:,} held-out crops in {r['heldout_store']}")
    elif name == "build-dictionary":
        done = "already built with these settings (--restart to rebuild): " \
            if r.get("already_done") else ""
        print(f"dictionary {r['path']}: {done}{r['n_patches']:,} patches from "
              f"{r['n_images']} maps; index {r['index_mb']} MB, patches {r['patches_mb']} MB"
              + ("" if r.get("already_done") else f", built in {r['build_seconds']:.1f} s"))
    elif name == "restore":
        if r.get("rescored"):
            print(f"rescored {r['rescored']} stored restorations with the current quality "
                  f"check (from their maps): accepted {r['rescored_accepted']}")
        if not r["restored"]:
            print(f"all {r['frames']} frames were already restored with this model, dictionary "
                  "and settings (--restart to redo them)")
            return
        how = r.get("method", "integration") + (
            f" (weight {r['crf_weight']:g})" if r.get("crf_weight") is not None else "")
        print(f"restored {r['restored']} frames with {how} in {r['seconds']:.1f} s "
              f"({r.get('ms_per_frame', float('nan')):.0f} ms/frame restoring)"
              + (f" ({r['skipped']} were already done)" if r["skipped"] else "")
              + f": accepted {r['accepted']} ({100 * r['acceptance']:.1f} %), no hand "
              f"{r['no_hand']}; barycenter score (mean per scored joint) raw "
              f"{r['mean_raw_mm']:.1f} mm, restored {r['mean_restored_mm']:.1f} mm")
    elif name == "finetune-seg":
        t3 = r.get("table3", {}).get("results", {})
        joint = (f", joint loss on {r['joint_frames']} frames" if r.get("joint_frames")
                 else "")
        print(f"fine-tuned f_s on {r['frames_used']} accepted restored frames{joint} + "
              f"{r['synthetic_used']} synthetic crops: {r['epochs']} epochs, {r['steps']} steps, "
              f"{r['elapsed_s']:.0f} s -> {r['checkpoint']}")
        for k, v in t3.items():
            print(f"  {k:<11} per pixel {100 * v['per_pixel']:.2f} %, per class "
                  f"{100 * v['per_class']:.2f} %")
        sel = r.get("selection", {})
        for k, v in sel.get("results", {}).items():
            print(f"  held out ({sel['frames']} {'/'.join(sel['splits'])} frames) {k:<11} "
                  f"per pixel {100 * v['per_pixel']:.2f} %, per class "
                  f"{100 * v['per_class']:.2f} %")
    elif name == "train-reg":
        t = r["test"]
        print(f"f_r variant {r['variant']} ({r['title']}): {r['epochs']} epochs, {r['steps']} "
              f"steps, {r['elapsed_s']:.0f} s -> {r['checkpoint']}")
        print(f"  {t['split']} split, {t['frames']} frames, ground-truth centres: mean "
              f"{t['mean_mm']:.2f} mm, median {t['median_mm']:.2f} mm, 2D {t['mean_px']:.2f} px")
    elif name == "evaluate":
        from .evaluate import print_report

        print_report(r)
