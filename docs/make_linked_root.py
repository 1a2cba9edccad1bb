"""Build a full-size NYU-layout root for measuring the studio, from smaller written splits.

    python docs/make_linked_root.py OUT --split train:72757:SRC_ROOT/train [--split test:8252:SRC/test]

Each ``--split NAME:COUNT:SRC`` makes ``OUT/NAME`` with COUNT frames: frame i is a hard link
to frame ``(i - 1) % n + 1`` of the written split SRC (its n frames: depth and label PNGs),
and ``joint_data.mat`` repeats SRC's joints in the same way. A SRC with COUNT frames is
linked one to one. The result reads as a root of COUNT frames per split (same layout, file
sizes and joints per frame as SRC) and costs no disk beyond the directory entries; its
frames are not all different. docs/scale.md says which root was built this way and why
(rendering NYU's 81,009 frames takes hours on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handpose_core.datasets.nyu import frame_file, read_joint_mat, write_joint_mat  # noqa: E402


def link_split(src: Path, out: Path, count: int) -> int:
    joints = read_joint_mat(src / "joint_data.mat")
    n = joints.frames
    out.mkdir(parents=True, exist_ok=True)
    kinds = [k for k in ("depth", "labels") if (src / frame_file(k, 1, 1)).exists()]
    for i in range(1, count + 1):
        j = (i - 1) % n + 1
        for kind in kinds:
            dst = out / frame_file(kind, 1, i)
            if not dst.exists():
                os.link(src / frame_file(kind, 1, j), dst)
    take = (np.arange(count) % n)
    write_joint_mat(out / "joint_data.mat", joints.uvd[:, take], joints.xyz[:, take])
    return n


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--split", action="append", required=True, metavar="NAME:COUNT:SRC")
    args = p.parse_args(argv)
    for spec in args.split:
        name, count, src = spec.split(":", 2)
        t = time.perf_counter()
        n = link_split(Path(src), Path(args.out) / name, int(count))
        print(f"{name}: {count} frames linked over {n} written frames of {src} "
              f"({time.perf_counter() - t:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
