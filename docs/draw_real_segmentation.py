"""Draw f_s segmentations of the real NYU frame, in the crop around the hand centre
detected from depth alone, with the frame's ground-truth joints (wrist joints yellow),
and print each f_s's part shares and the labels around the thumb root, wrist and palm.

usage (from the repository root):
    PYTHONPATH=. python docs/draw_real_segmentation.py OUT.png "TITLE=F_S.pt" ...
The real frame is read from ../shared/data/nyu-real-sample (HANDPOSE_REAL_SAMPLE to
override); docs/joints.md shows what it drew."""
import os
import sys

import cv2
import numpy as np

from handpose_core.camera import NYU_CAMERA
from handpose_core.datasets.crop import crop_depth, crop_transform
from handpose_core.datasets.nyu import read_depth
from handpose_core.detection import detect_center
from handpose_core.evaluation import read_predictions
from handpose_core.nets.inference import load_segnet_model
from handpose_core.parts import PART_NAMES, colourise
from handpose_core.skeleton import EVAL_NAMES

S = os.environ.get("HANDPOSE_REAL_SAMPLE", "../shared/data/nyu-real-sample") + "/"
d = read_depth(S + "depth_1_0000001.png")
gt = read_predictions(S + "test_groundtruth_uvd_frame1.txt")[0]
c = detect_center(d, name="real")
off = np.linalg.norm(NYU_CAMERA.uvd_to_xyz(c) - NYU_CAMERA.uvd_to_xyz(gt[13]))
print("detected centre", c, "gt palm", gt[13], f"{off:.1f} mm apart")
tf = crop_transform(c, 300.0, 48)
crop = crop_depth(d, tf)
g = tf.frame_to_crop(gt)  # (14, 3) crop px
Z = 8
def up(img):
    return cv2.resize(img, (48 * Z, 48 * Z), interpolation=cv2.INTER_NEAREST)
grey = np.clip((1 - (crop + 1) / 2) * 255, 0, 255).astype(np.uint8)
panels = [cv2.cvtColor(up(grey), cv2.COLOR_GRAY2BGR)]
titles = ["depth crop (detected centre)"]
for arg in sys.argv[2:]:
    name, path = arg.split("=", 1)
    lab, _ = load_segnet_model(path).predict(crop[None], probabilities=False)
    lab = lab[0]
    rgb = colourise(lab)
    panels.append(cv2.cvtColor(up(rgb), cv2.COLOR_RGB2BGR))
    titles.append(name)
    hand = lab > 0
    counts = np.bincount(lab[hand], minlength=21)
    print(f"== {name}: {hand.sum()} hand px; parts: " + ", ".join(
        f"{PART_NAMES[k]} {100 * counts[k] / hand.sum():.1f}%" for k in np.argsort(-counts)[:8] if counts[k]))
    for j in (10, 11, 12, 13):
        u, v = int(round(g[j, 0])), int(round(g[j, 1]))
        if 0 <= u < 48 and 0 <= v < 48:
            win = lab[max(0, v - 2):v + 3, max(0, u - 2):u + 3].ravel()
            win = win[win > 0]
            bc = np.bincount(win, minlength=21)
            top = ", ".join(f"{PART_NAMES[k]} {bc[k]}" for k in np.argsort(-bc)[:3] if bc[k])
            print(f"   {EVAL_NAMES[j]} at crop ({u},{v}): label {PART_NAMES[lab[v, u]]}; 5x5 window: {top}")
for p in panels:
    for j in range(14):
        u, v = g[j, 0] * Z + Z / 2, g[j, 1] * Z + Z / 2
        col = (255, 255, 255) if j not in (11, 12) else (0, 255, 255)
        cv2.circle(p, (int(u), int(v)), 5, (0, 0, 0), -1)
        cv2.circle(p, (int(u), int(v)), 4, col, -1)
out = []
for p, t in zip(panels, titles):
    bar = np.full((28, p.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, t, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    out.append(np.concatenate([bar, p], 0))
    out.append(np.full((out[-1].shape[0], 6, 3), 255, np.uint8))
img = np.concatenate(out[:-1], 1)
cv2.imwrite(sys.argv[1], img)
print("wrote", sys.argv[1], img.shape)
