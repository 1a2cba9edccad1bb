import subprocess
import sys

import numpy as np

from handpose_core import parts, skeleton


def test_joint_tables():
    assert len(skeleton.JOINT_NAMES_36) == 36
    assert skeleton.JOINT_NAMES_36[0] == "F1_KNU3_A"
    assert skeleton.JOINT_NAMES_36[24] == "TH_KNU3_A"
    assert skeleton.JOINT_NAMES_36[32] == "PALM_3"
    assert [skeleton.JOINT_NAMES_36[i] for i in skeleton.EVAL_INDICES][-3:] == \
        ["PALM_1", "PALM_2", "PALM_3"]
    assert len(skeleton.EVAL_NAMES) == len(skeleton.EVAL_INDICES) == 14
    assert len(skeleton.EDGES_14) == 13
    # every joint is on the tree rooted at the palm centre
    seen = {13}
    for a, b in skeleton.EDGES_14:
        assert a in seen
        seen.add(b)
    assert seen == set(range(14))
    assert len(skeleton.edge_colours_14()) == 13
    j = np.arange(36 * 3).reshape(36, 3)
    assert skeleton.joints_36_to_14(j)[13, 0] == 32 * 3


def test_part_table():
    assert parts.NUM_CLASSES == 21
    assert [p.id for p in parts.PARTS] == list(range(21))
    assert parts.PARTS[1].name == "palm" and parts.PARTS[1].colour == "#9e9e9e"
    assert parts.PARTS[20].colour == "#f3e5f5"
    assert len({p.colour for p in parts.PARTS}) == 21
    assert parts.palette_rgb()[6].tolist() == [0xEF, 0x6C, 0x00]
    ids = sorted(i for v in parts.FINGER_PARTS.values() for i in v)
    assert ids == list(range(2, 21))
    assert parts.JOINT_PARTS_14[0] == (20,) and parts.JOINT_PARTS_14[13] == (1,)
    assert parts.JOINT_PARTS_14[11] == () and 11 not in parts.SCORED_JOINTS_14
    rgb = parts.colourise(np.array([[0, 1], [20, 99]]))
    assert rgb.shape == (2, 2, 3) and rgb[1, 1].tolist() == [255, 0, 255]


def test_core_never_imports_qt():
    code = ("import sys, handpose_core, handpose_core.project, handpose_core.evaluation, "
            "handpose_core.cli.main as m; m.build_parser(); "
            "bad=[k for k in sys.modules if k.startswith(('PySide6','pyqtgraph'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_light_commands_do_not_load_torch():
    """Only the command that runs has its arguments built: compare and --help stay light."""
    for argv in (["compare", "--help"], ["--help"]):
        code = ("import sys; from handpose_core.cli.main import main\n"
                f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
                "print(sorted(k for k in sys.modules if k.split('.')[0] in "
                "('torch', 'numba', 'annoy')))")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip().splitlines()[-1] == "[]", argv
