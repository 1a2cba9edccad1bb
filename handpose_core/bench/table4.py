"""``handpose-studio bench table4``: the seed paper's Table 4 over several seeds.

For every seed in ``--seeds`` the f_r variants a (direct regression), b (cascade on that
seed's a), c (f_r fed by the synthetic-only f_s) and d (f_r fed by the project's
fine-tuned f_s) are trained with ``train train-reg``'s defaults (crops around the
ground-truth palm centre only; ``--epochs`` and ``--set`` change the training
hyper-parameters) and measured on the test split with ground-truth centres. Each run
lives in ``PROJECT/models/seed-V-N`` (d: ``seed-d-N-TAG`` with ``--tag``); a finished run
with the same settings is reused, an interrupted one resumes, so the command can be
stopped and run again. A finished c or d run trained with another f_s than the
project's current one is an error (use ``--tag`` for d runs of another fine-tuned f_s).

The report gives each variant's mean and sample standard deviation over the seeds (3D
mm, median mm, 2D px, max-frame success at 40 mm), the differences within a seed
(d - c, c - a, d - a, b - a; negative: the first is better) and the acceptance checks
of issue 22: d < c < a and b < a on the seed means, and d - c beyond the spread (its
mean below minus the larger of c's and d's seed standard deviations).

The project's current f_r of each variant is put back afterwards (b's cascade records
the a it refines in its own folder, so that does not change what b measures).
"""

from __future__ import annotations

import filecmp
import json
import math
import sys
from dataclasses import asdict
from pathlib import Path

VARIANT_ORDER = ("a", "b", "c", "d")
DIFFERENCES = (("d", "c"), ("c", "a"), ("d", "a"), ("b", "a"))
METRICS = ("mean_mm", "median_mm", "mean_px", "success_40")


def add_arguments(parser) -> None:
    parser.add_argument("--project", required=True, help="project directory")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--variants", default="abcd",
                        help="variants to train and report (default abcd; b needs a's run "
                        "of the same seed)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default: train-reg's)")
    parser.add_argument("--tag", default="", help="suffix of the d runs' folders "
                        "(seed-d-N-TAG): d runs of another fine-tuned f_s beside the first")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="training hyper-parameter (lr, batch_size, "
                        "num_threads, ...) or train-reg setting (hidden, val_fraction, ...)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run_name(variant: str, seed: int, tag: str = "") -> str:
    """The folder under PROJECT/models of one run."""
    return f"seed-{variant}-{seed}" + (f"-{tag}" if tag and variant == "d" else "")


def parse_seeds(text: str) -> list[int]:
    from handpose_core.errors import BadInput

    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise BadInput(f"--seeds expects comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise BadInput(f"--seeds expects distinct integers, got {text!r}")
    return seeds


def _settings(variant: str, seed: int, *, epochs: int | None, tag: str, overrides):
    from handpose_core.errors import BadInput
    from handpose_core.stages.base import parse_value
    from handpose_core.stages.pretrain_seg import with_train_overrides
    from handpose_core.stages.train_reg import TrainRegSettings

    names = {f for f in TrainRegSettings.__dataclass_fields__ if f != "train"}
    values, train_pairs = {}, {}
    for pair in overrides:
        if "=" not in pair:
            raise BadInput(f"--set expects key=value, got {pair!r}")
        k, v = pair.split("=", 1)
        if k in ("variant", "run_name", "restart", "seed"):
            if k == "seed":
                raise BadInput("the seed is set by --seeds")
            raise BadInput(f"{k} is set by bench table4")
        if k in names:
            values[k] = parse_value(TrainRegSettings, k, v)
        else:
            train_pairs[k] = v
    train_pairs["seed"] = str(seed)
    if epochs is not None:
        train_pairs["epochs"] = str(epochs)
    s = TrainRegSettings(variant=variant, run_name=run_name(variant, seed, tag), **values)
    return with_train_overrides(s, train_pairs)


def _same_file(a: Path, b: Path) -> bool:
    """The same file, or files with the same bytes (the bundled f_s of another checkout)."""
    try:
        return a.resolve() == b.resolve() or filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def _finished(project, settings, current_seg: dict, seed_a: Path | None):
    """The eval.json of a finished run of these settings, or None when the folder has
    none (not started or interrupted: training resumes). ``BadInput`` when it was trained
    otherwise: other settings, another f_s (c, d), another first step (b)."""
    from handpose_core.errors import BadInput
    from handpose_core.nets.joints import _trained_with
    from handpose_core.training.config import TrainConfig

    folder = Path(project.path("models")) / settings.folder()
    try:
        rep = json.loads((folder / "eval.json").read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise BadInput(f"{folder / 'eval.json'}: cannot read it ({e})") from None
    want = {k: v for k, v in asdict(settings).items() if k not in ("train", "restart")}
    got = rep.get("settings", {})
    diff = sorted(k for k in want if got.get(k) != want[k])
    try:
        diff += TrainConfig.from_dict(rep.get("train", {})).differences(settings.train)
    except (TypeError, ValueError, KeyError):
        diff.append("train")
    ckpt = Path(rep.get("checkpoint", ""))
    if not ckpt.is_absolute():
        ckpt = project.root / ckpt
    if not ckpt.is_file():
        raise BadInput(f"{folder}: its eval.json names {ckpt}, which is not there; remove "
                       "the folder to train the run again")
    if diff:
        raise BadInput(f"{folder}: a finished run with other settings ({', '.join(diff)}); "
                       "remove the folder to train it with these")
    v = settings.variant
    if v in ("c", "d"):
        used = _trained_with(ckpt)
        if used is None or not _same_file(used, current_seg[v]):
            raise BadInput(f"{folder}: trained with f_s {used}, the project's "
                           f"{'fine-tuned' if v == 'd' else 'synthetic-only'} f_s is now "
                           f"{current_seg[v]}" + ("; give --tag to train d runs of it beside"
                                                  if v == "d" else ""))
    if v == "b" and seed_a is not None:
        first = json.loads((folder / "cascade.json").read_text()).get("first", "")
        first = Path(first) if Path(first).is_absolute() else project.root / first
        if first.resolve() != seed_a.resolve():
            raise BadInput(f"{folder}: the cascade refines {first}, not this seed's a "
                           f"({seed_a}); remove the folder to train it again")
    return rep


def _row(test: dict) -> dict:
    return {"mean_mm": test["mean_mm"], "median_mm": test["median_mm"],
            "mean_px": test["mean_px"],
            "success_40": test.get("success_max_frame", {}).get("40", float("nan"))}


def _mean_std(xs: list[float]) -> tuple[float, float | None]:
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, None
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def summarise(per_seed: dict) -> dict:
    """Means ± sample standard deviations, per-seed differences and the acceptance checks
    from ``per_seed`` = {seed: {variant: row}} (rows as :func:`_row`)."""
    seeds = sorted(per_seed)
    variants = [v for v in VARIANT_ORDER if all(v in per_seed[s] for s in seeds)]
    summary = {}
    for v in variants:
        summary[v] = {}
        for m in METRICS:
            mean, std = _mean_std([per_seed[s][v][m] for s in seeds])
            summary[v][m] = {"mean": mean, "std": std}
    diffs = {}
    for x, y in DIFFERENCES:
        if x in variants and y in variants:
            mm = {s: per_seed[s][x]["mean_mm"] - per_seed[s][y]["mean_mm"] for s in seeds}
            px = {s: per_seed[s][x]["mean_px"] - per_seed[s][y]["mean_px"] for s in seeds}
            mmm, mms = _mean_std(list(mm.values()))
            pxm, pxs = _mean_std(list(px.values()))
            diffs[f"{x}-{y}"] = {"mm": {str(s): mm[s] for s in seeds}, "px": {str(s): px[s] for s in seeds},
                                 "mm_mean": mmm, "mm_std": mms, "px_mean": pxm, "px_std": pxs,
                                 "seeds_negative": sum(1 for s in seeds if mm[s] < 0)}
    checks = {}
    mean = {v: summary[v]["mean_mm"]["mean"] for v in variants}
    if {"a", "c", "d"} <= set(variants):
        checks["d < c < a"] = mean["d"] < mean["c"] < mean["a"]
    if {"a", "b"} <= set(variants):
        checks["b < a"] = mean["b"] < mean["a"]
    if {"c", "d"} <= set(variants) and len(seeds) > 1:
        spread = max(summary["c"]["mean_mm"]["std"], summary["d"]["mean_mm"]["std"])
        checks["d - c beyond spread"] = mean["d"] - mean["c"] < -spread
        checks["spread_mm"] = spread
    return {"seeds": seeds, "variants": variants, "summary": summary,
            "differences": diffs, "checks": checks}


def seed_table(project, seeds, variants: str = "abcd", *, epochs: int | None = None,
               tag: str = "", overrides=(), progress=None, cancel=None) -> dict:
    """Train (or reuse) every (seed, variant) run and summarise them (:func:`summarise`);
    also ``runs`` = {seed: {variant: run folder name}} and ``reused`` (the runs that were
    already finished)."""
    from handpose_core.errors import BadInput
    from handpose_core.nets.inference import segnet_path
    from handpose_core.nets.joints import regnet_path, set_regnet_path
    from handpose_core.stages import train_reg

    bad = sorted(set(variants) - set(VARIANT_ORDER))
    if bad or not variants:
        raise BadInput(f"--variants takes letters of 'abcd', got {variants!r}")
    order = [v for v in VARIANT_ORDER if v in variants]
    current_seg = {"c": segnet_path(project, "pretrained"), "d": segnet_path(project, "finetuned")}
    if "d" in order and current_seg["d"] is None:
        raise BadInput(f"{project.root}: variant d needs the fine-tuned f_s; run "
                       f"'handpose-studio train finetune-seg --project {project.root}' first")
    jobs = [(s, v) for s in seeds for v in order]
    settings = {(s, v): _settings(v, s, epochs=epochs, tag=tag, overrides=overrides)
                for s, v in jobs}
    before = {v: regnet_path(project, v) for v in VARIANT_ORDER}
    per_seed, runs, reused = {}, {}, []
    scale = 1000
    try:
        for k, (s, v) in enumerate(jobs):
            st = settings[(s, v)]
            seed_a = None
            if v == "b":  # the cascade refines this seed's a
                a_rep = _finished(project, _settings("a", s, epochs=epochs, tag=tag,
                                                     overrides=overrides), current_seg, None)
                if a_rep is None:
                    raise BadInput(f"{project.root}: the cascade (b) of seed {s} refines "
                                   f"{run_name('a', s)}, which is not finished; include "
                                   "variant a")
                seed_a = Path(a_rep["checkpoint"])
                seed_a = seed_a if seed_a.is_absolute() else project.root / seed_a
            rep = _finished(project, st, current_seg, seed_a)
            if rep is None:
                if seed_a is not None:
                    set_regnet_path(project, "a", seed_a)
                sub = None
                if progress is not None:
                    def sub(done, total, message="", _k=k, _s=s, _v=v):
                        frac = done / total if total else 0.0
                        progress(_k * scale + int(scale * min(frac, 1.0)), len(jobs) * scale,
                                 f"seed {_s} {_v} ({_k + 1}/{len(jobs)}): {message}")
                rep = train_reg.run(project, st, progress=sub, cancel=cancel)
            else:
                reused.append(st.folder())
            per_seed.setdefault(s, {})[v] = _row(rep["test"])
            runs.setdefault(str(s), {})[v] = st.folder()
            if progress is not None:
                progress((k + 1) * scale, len(jobs) * scale,
                         f"seed {s} {v}: {rep['test']['mean_mm']:.2f} mm")
    finally:
        for v, p in before.items():
            if p is not None and regnet_path(project, v) != p:
                set_regnet_path(project, v, p)
    out = summarise(per_seed)
    out.update({"project": str(project.root), "runs": runs, "reused": reused,
                "per_seed": {str(s): r for s, r in per_seed.items()},
                "segnets": {v: str(p) if p else None for v, p in current_seg.items()},
                "epochs": settings[jobs[0]].train.epochs, "tag": tag})
    return out


def _pm(m: float, s: float | None, fmt: str = "{:.2f}") -> str:
    return fmt.format(m) + ("" if s is None else " ± " + fmt.replace("+", "").format(s))


def print_table(rep: dict, stream=None) -> None:
    out = stream if stream is not None else sys.stdout
    from handpose_core.nets.regnet import VARIANT_TITLES

    n = len(rep["seeds"])
    print(f"Table 4 over seeds {', '.join(map(str, rep['seeds']))} ({rep['epochs']} epochs, "
          f"ground-truth centres; mean ± sample std over {n} seeds)", file=out)
    w = max(len(f"{v} {VARIANT_TITLES[v]}") for v in rep["variants"]) if rep["variants"] else 7
    print(f"{'variant':<{w}} {'3D mm':>14} {'median mm':>14} {'2D px':>14} {'<=40 mm %':>12}",
          file=out)
    for v in rep["variants"]:
        s = rep["summary"][v]
        ok = s["success_40"]
        succ = _pm(100 * ok["mean"], None if ok["std"] is None else 100 * ok["std"], "{:.1f}")
        print(f"{v + ' ' + VARIANT_TITLES[v]:<{w}} {_pm(s['mean_mm']['mean'], s['mean_mm']['std']):>14} "
              f"{_pm(s['median_mm']['mean'], s['median_mm']['std']):>14} "
              f"{_pm(s['mean_px']['mean'], s['mean_px']['std']):>14} "
              f"{succ:>12}",
              file=out)
    if rep["differences"]:
        print("\ndifferences within a seed, 3D mm (negative: the first is better)", file=out)
        names = list(rep["differences"])
        print(f"{'seed':<12}" + "".join(f"{x:>16}" for x in names), file=out)
        for s in rep["seeds"]:
            print(f"{s:<12}" + "".join(f"{rep['differences'][x]['mm'][str(s)]:>+16.2f}"
                                       for x in names), file=out)
        print(f"{'mean ± std':<12}" + "".join(
            f"{_pm(rep['differences'][x]['mm_mean'], rep['differences'][x]['mm_std'], '{:+.2f}'):>16}"
            for x in names), file=out)
    for k, v in rep["checks"].items():
        if k != "spread_mm":
            extra = (f" (d - c {rep['differences']['d-c']['mm_mean']:+.2f} mm, spread "
                     f"{rep['checks']['spread_mm']:.2f} mm)") if k == "d - c beyond spread" else ""
            print(f"{k}: {'yes' if v else 'NO'}{extra}", file=out)
    if rep["reused"]:
        print(f"reused {len(rep['reused'])} finished runs: {', '.join(rep['reused'])}", file=out)


def run(args) -> int:
    from handpose_core.cli._dispatch import open_project
    from handpose_core.cli.stage_runner import cancel_on_signals
    from handpose_core.errors import BadInput
    from handpose_core.progress import Cancelled, TerminalProgress

    label = "handpose-studio bench table4"
    try:
        seeds = parse_seeds(args.seeds)
    except BadInput as e:
        print(f"{label}: {e}", file=sys.stderr)
        return 2
    project = open_project(args, "bench table4")
    if project is None:
        return 2
    with project, cancel_on_signals(label) as cancel:
        try:
            rep = seed_table(project, seeds, args.variants, epochs=args.epochs, tag=args.tag,
                             overrides=args.overrides, progress=TerminalProgress("table4"),
                             cancel=cancel)
        except (Cancelled, KeyboardInterrupt):
            print(f"{label}: cancelled; finished runs are kept and the next run reuses "
                  "them", file=sys.stderr)
            return 130
        except (BadInput, FileNotFoundError) as e:
            print(f"{label}: {e}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        print_table(rep)
    return 0
