"""The quality-check study of docs/restoration.md ("The quality check under the joint
prior"): candidate checks measured on a project's stored restorations.

    python docs/quality_check_study.py candidates --project P --split train [--limit N]
        [--maps RESTORED.npy] [--save SCORES.npz]
    python docs/quality_check_study.py votes --matches M.npz --joints J.npy \\
        --votes V.npy --project P --split train --out-prefix /tmp/x

``candidates``: for every labelled frame of ``split`` with a stored restoration (the
primary slot: the restore stage's default method), the per-frame gain (restored against
raw per-pixel accuracy, ground truth = the painted labels) and the decision of each
candidate check; prints one line per check: the rejection rate, accepted / rejected x
helped / hurt / unchanged, raw -> restored per pixel / per class. ``--maps``: score other
restored maps (``(N, S, S)`` uint8 in the same frame order, e.g. from ``votes``) instead
of the stored ones.

``votes``: from the previous sessions' cached integration votes (window 17) and crop
joints of the first frames of a split, the paper's integration map (raw prior 0.75), the
joint-prior map (the default settings) and the joint-prior map whose palm does not grow
the hand; saved as ``PREFIX_{integ,jointprior,nopalm}.npy`` for ``candidates --maps``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from handpose_core.datasets.crop import CropTransform
from handpose_core.evaluation import segmentation_accuracy
from handpose_core.project import Project
from handpose_core.restoration.quality import quality_score, restoration_scores
from handpose_core.skeleton import joints_36_to_14


def load_split(project_dir: str, split: str, limit: int | None):
    p = Project.open(project_dir)
    try:
        frames, depth, gt = p.labelled_crops(split)
        _, tfs, _ = p.crops(frames)
        raw, res, keep = [], [], []
        for i, f in enumerate(frames[:limit]):
            r = p.restoration(f.id)
            if r is None:
                continue
            a, b = p.restored_maps(r)
            raw.append(a)
            res.append(b)
            keep.append(i)
        keep = np.array(keep, int)
        j14 = np.stack([joints_36_to_14(p.joints_uvd(frames[i])) for i in keep])
        return (np.stack(raw), np.stack(res), gt[keep], depth[keep], tfs[keep], j14,
                np.array([frames[i].id for i in keep]))
    finally:
        p.close()


def per_joint(maps, depth, tfs, j14):
    mm, miss = [], []
    for m, d, t, j in zip(maps, depth, tfs, j14):
        q = quality_score(m, d, CropTransform.from_array(t), j)
        mm.append(q.per_joint_mm)
        miss.append(q.missing)
    return np.stack(mm), np.stack(miss)


def cap(sr, mr, ss, ms, threshold):
    """A joint missing in the restored map, present in the raw one more than
    ``threshold`` mm off, scores the raw distance."""
    ss = ss.copy()
    lost = ms & ~mr & (sr > threshold)
    ss[lost] = sr[lost]
    return ss


def candidates(a) -> None:
    raw, res, gt, depth, tfs, j14, ids = load_split(a.project, a.split, a.limit)
    if a.maps:
        res = np.load(a.maps)[:len(raw)]
    n = len(raw)

    def pp(x, y):
        return segmentation_accuracy(x[None], y[None]).to_dict()["per_pixel"]

    gain = np.array([pp(res[i], gt[i]) - pp(raw[i], gt[i]) for i in range(n)])

    def acc(maps, sel):
        d = segmentation_accuracy(maps[sel], gt[sel]).to_dict()
        return f"{100 * d['per_pixel']:.2f} / {100 * d['per_class']:.2f}"

    def report(name, accepted):
        cells = []
        for sel in (accepted, ~accepted):
            h, lo, u = ((sel & (gain > 0)).sum(), (sel & (gain < 0)).sum(),
                        (sel & (gain == 0)).sum())
            c = f"{sel.sum()} ({h} / {lo} / {u})"
            if sel.any():
                c += f" {acc(raw, sel)} -> {acc(res, sel)}"
            cells.append(c)
        print(f"| {name} | {100 * (~accepted).mean():.1f} % | " + " | ".join(cells) + " |")

    sr, mr = per_joint(raw, depth, tfs, j14)
    ss, ms = per_joint(res, depth, tfs, j14)
    on_raw = np.where(raw > 0, res, 0)
    ss_h, ms_h = per_joint(on_raw, depth, tfs, j14)
    both = (raw > 0) & (res > 0)
    sr_b, mr_b = per_joint(np.where(both, raw, 0), depth, tfs, j14)
    ss_b, ms_b = per_joint(np.where(both, res, 0), depth, tfs, j14)

    def lower(x, y):
        return np.nansum(y, 1) < np.nansum(x, 1)

    print(f"{a.split}: {n} frames; helped {(gain > 0).sum()}, hurt {(gain < 0).sum()}, "
          f"unchanged {(gain == 0).sum()}, gained < 1 point {(gain < 0.01).sum()}")
    print("| check | rejected | accepted (helped / hurt / unchanged) raw -> restored | "
          "rejected (helped / hurt / unchanged) raw -> restored |")
    print("|---|---|---|---|")
    report("plain score (before)", lower(sr, ss))
    for t in (0, 25, 50, 75):
        report(f"missing part at raw distance when raw > {t} mm", lower(sr, cap(sr, mr, ss, ms, t)))
    keep = ~mr & ~ms
    report("only joints present in both maps", lower(np.where(keep, sr, np.nan),
                                                     np.where(keep, ss, np.nan)))
    report("restored scored on the raw hand only", lower(sr, ss_h))
    for t in (0, 25, 50, 75):
        report(f"raw hand only + raw distance when raw > {t} mm",
               lower(sr, cap(sr, mr, ss_h, ms_h, t)))
    report("both on the common hand", lower(sr_b, ss_b))
    # the library's check (restoration_scores): must equal "raw hand only + 50 mm"
    lib = np.zeros(n, bool)
    for i in range(n):
        q_raw, q_res = restoration_scores(raw[i], res[i], depth[i],
                                          CropTransform.from_array(tfs[i]), j14[i])
        lib[i] = q_res.total_mm < q_raw.total_mm
    report("**restoration_scores (the check now)**", lib)
    assert np.array_equal(lib, lower(sr, cap(sr, mr, ss_h, ms_h, 50.0))), "library differs"
    hurt = np.where(gain < 0)[0]
    print(f"hurt frames accepted by the check: {int(lib[hurt].sum())} of {len(hurt)}")
    for i in hurt[:10]:
        print(f"hurt: frame {ids[i]} gain {100 * gain[i]:+.2f} points, accepted by the "
              f"check: {bool(lib[i])}")
    if a.save:
        np.savez(a.save, ids=ids, gain=gain, accepted=lib)


def votes(a) -> None:
    from handpose_core.restoration import joint_prior as jp
    from handpose_core.restoration.restore import decide

    z = np.load(a.matches)
    crop_j = np.load(a.joints)
    v = np.load(a.votes).astype(np.float32)
    raw, depth = z["raw"], z["depth"]
    integ, dflt, nopalm = [], [], []
    for i in range(len(raw)):
        integ.append(decide(raw[i], v[i].astype(np.int32), raw[i] > 0, raw_weight=0.75)[0])
        dist = jp.part_distances(crop_j[i], 48, jp.DEFAULT_PARAMS, depth[i], 1.0)
        lp = jp.log_prior_from_distances(dist, jp.DEFAULT_PARAMS)
        for out, palm_grows in ((dflt, True), (nopalm, False)):
            g = dist.copy()
            if not palm_grows:
                g[..., 0] = 1e9  # the palm (part 1) does not grow the hand
            sil = jp.joint_silhouette(raw[i] > 0, depth[i], g, grow=jp.DEFAULT_GROW, cut=0)
            sil &= dist.min(-1) <= jp.DEFAULT_CUT
            out.append(jp.combine(raw[i], v[i], lp, raw[i] > 0, raw_weight=0.75,
                                  silhouette=sil)[0])
    for name, maps in (("integ", integ), ("jointprior", dflt), ("nopalm", nopalm)):
        np.save(f"{a.out_prefix}_{name}.npy", np.stack(maps))
    print(f"{len(raw)} frames -> {a.out_prefix}_{{integ,jointprior,nopalm}}.npy")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("candidates")
    c.add_argument("--project", required=True)
    c.add_argument("--split", default="train")
    c.add_argument("--limit", type=int)
    c.add_argument("--maps")
    c.add_argument("--save")
    v = sub.add_parser("votes")
    for k in ("matches", "joints", "votes", "out-prefix"):
        v.add_argument(f"--{k}", required=True)
    a = ap.parse_args(argv)
    (candidates if a.cmd == "candidates" else votes)(a)


if __name__ == "__main__":
    sys.exit(main())
