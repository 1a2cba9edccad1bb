"""Plain-text tables shared by commands that report segmentation accuracy."""

from __future__ import annotations

from ..parts import PART_NAMES


def pct(x) -> str:
    return "    -" if x is None or x != x else f"{100 * x:5.1f}"


def print_seg_table(columns: dict[str, dict], title: str = "") -> None:
    """One column per result (``SegAccuracy.to_dict()`` plus optional ``frames``):
    per-pixel and per-class accuracy, then per-class recall for the 20 parts."""
    names = list(columns)
    w = max(11, *(len(n) for n in names))
    if title:
        print(title)
    print(f"{'':<18}" + "".join(f"{n:>{w + 2}}" for n in names))
    if any("frames" in c for c in columns.values()):
        print(f"{'frames':<18}" + "".join(f"{columns[n].get('frames', ''):>{w + 2}}"
                                          for n in names))
    for key, label in (("per_pixel", "per-pixel %"), ("per_class", "per-class %")):
        print(f"{label:<18}" + "".join(f"{pct(columns[n][key]):>{w + 2}}" for n in names))
    print(f"{'':<18}" + "-" * ((w + 2) * len(names)))
    for cid in range(1, len(PART_NAMES)):
        print(f"{PART_NAMES[cid]:<18}" + "".join(
            f"{pct(columns[n]['class_acc'][cid]):>{w + 2}}" for n in names))


def print_pretrain_report(report: dict) -> None:
    cols = {"synthetic": {"frames": report["synthetic_heldout"]["frames"],
                          **report["synthetic_heldout"]}}
    if report.get("real"):
        cols["real-like" if report.get("project_kind") == "demo" else "real"] = report["real"]
    print(f"f_s checkpoint: {report['checkpoint']}  ({report['epochs']} epochs, "
          f"{report['steps']} steps, {report['elapsed_s']:.0f} s)")
    print_seg_table(cols, "accuracy on ground-truth hand pixels (held-out clean synthetic vs "
                          "the project's labelled frames):")
