"""Exit codes of every command: 0 success, 2 bad input (a one-line message naming the file
and the problem, no traceback), 1 a bug (an internal ``ValueError`` included: its
traceback), 130 interrupted; ``--version``. In-process through
``main(argv)``, and a few through a real ``python -m handpose_core.cli.main`` process.
(``gui`` is Qt and tested in tests/app.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from handpose_core import __version__
from handpose_core.cli.main import main
from handpose_core.datasets.nyu import write_nyu_split
from handpose_core.project import Project
from handpose_core.stages.build_dictionary import find_store

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(argv, capsys):
    """``main(argv)`` -> (code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def bad(argv, capsys, *needles):
    """Exit 2 with one message on stderr naming each of ``needles``; no traceback."""
    code, out, err = run(argv, capsys)
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and err.strip(), err
    for n in needles:
        assert str(n) in err, (n, err)
    return err


@pytest.fixture(scope="module")
def nyu_root(tmp_path_factory):
    """A rendered NYU-layout set with part labels: 6 train and 4 test frames."""
    from handpose_core.render import write_nyu_layout

    root = tmp_path_factory.mktemp("nyu")
    write_nyu_layout(root, 6, split="train", seed=1)
    write_nyu_layout(root, 4, split="test", seed=2)
    return root


@pytest.fixture
def project(nyu_root, tmp_path):
    Project.create(tmp_path / "proj", nyu_root, kind="nyu").close()
    return tmp_path / "proj"


# ------------------------------------------------------------------ top level
def test_version_and_usage(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"handpose-studio {__version__}"
    for argv in (["no-such-command"], ["init"], ["train"], ["train", "no-such-stage"],
                 ["evaluate", "--project", "x", "--what", "joints-of-mars"], ["synth", "--count", "x"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2, argv
        assert "usage:" in capsys.readouterr().err


def test_version_and_bad_input_in_a_real_process(tmp_path):
    env = {**os.environ, "PYTHONPATH": REPO}

    def proc(*argv):
        return subprocess.run([sys.executable, "-m", "handpose_core.cli.main", *map(str, argv)],
                              capture_output=True, text=True, timeout=120, cwd=REPO, env=env)

    r = proc("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"handpose-studio {__version__}"
    gt = tmp_path / "gt.txt"
    gt.write_text("1 " * 42 + "\n")
    (tmp_path / "p.txt").write_text("1 " * 41 + "\n")
    r = proc("compare", gt, tmp_path / "p.txt")
    assert r.returncode == 2 and "p.txt:1: expected 42 numbers" in r.stderr
    assert "Traceback" not in r.stderr


def test_ctrl_c_in_a_real_process_exits_130(tmp_path):
    """SIGINT in the middle of rendering a store: exit 130, 'interrupted', no traceback."""
    env = {**os.environ, "PYTHONPATH": REPO}
    # the child gets SIGINT's default action, as a command started from a terminal does,
    # even when this test runs with SIGINT ignored (a background job of a script): an
    # ignored SIGINT is inherited and the command would rightly never see it
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        p = subprocess.Popen([sys.executable, "-m", "handpose_core.cli.main", "synth", "--out",
                              str(tmp_path / "s"), "--count", "200000"], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, old)
    deadline = time.monotonic() + 120

    def written():
        try:
            return json.loads((tmp_path / "s" / "meta.json").read_text())["written"]
        except (OSError, ValueError):
            return 0

    # the first chunk is written: the kernels are loaded and rendering is under way (a
    # signal during numba's kernel loading would test numba, not the command)
    while written() == 0 and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.05)
    assert written() > 0, "the command did not start rendering"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    meta = json.loads((tmp_path / "s" / "meta.json").read_text())
    assert meta["complete"] is False and meta["written"] < 200000  # resumable, not complete


# ------------------------------------------------------------------ bug or bad input
def _raise(exc):
    def f(*_a, **_k):
        raise exc
    return f


BUG_CASES = {
    # command -> (argv given the project / dataset / tmp folder, function to break)
    "train": (lambda p, n, t: ["train", "restore", "--project", p],
              ("handpose_core.project:Project", "frames")),
    "evaluate": (lambda p, n, t: ["evaluate", "--project", p, "--what", "detection"],
                 ("handpose_core.project:Project", "frames")),
    "predict": (lambda p, n, t: ["predict", "--project", p, "--variant", "a", "--out",
                                 t / "o.txt"], ("handpose_core.project:Project", "frames")),
    "init": (lambda p, n, t: ["init", t / "new", "--nyu", n],
             ("handpose_core.project", "create_nyu_project")),
    "synth": (lambda p, n, t: ["synth", "--out", t / "s", "--count", "4"],
              ("handpose_core.render", "write_synthetic_store")),
    "compare": (lambda p, n, t: ["compare", t / "gt.txt", t / "gt.txt"],
                ("handpose_core.evaluation", "read_predictions")),
}


@pytest.mark.parametrize("command", sorted(BUG_CASES))
def test_an_internal_value_error_is_a_bug_exit_1_and_bad_input_is_2(
        command, project, nyu_root, tmp_path, capsys, monkeypatch):
    """The same failure point raising a plain ``ValueError`` (the program's mistake) exits
    1 with its traceback; raising ``BadInput`` (the user's file or setting) exits 2 with
    the message alone."""
    import importlib

    from handpose_core.errors import BadInput

    (tmp_path / "gt.txt").write_text("1 " * 42 + "\n")
    make_argv, (where, name) = BUG_CASES[command]
    argv = make_argv(project, nyu_root, tmp_path)
    mod_name, _, owner = where.partition(":")
    target = importlib.import_module(mod_name)
    target = getattr(target, owner) if owner else target
    monkeypatch.setattr(target, name, _raise(ValueError("shapes (3,) and (4,) differ")))
    code, out, err = run(argv, capsys)
    assert code == 1, (code, out, err)
    assert "Traceback" in err and "shapes (3,) and (4,) differ" in err
    assert "internal error (a bug, not bad input)" in err
    monkeypatch.setattr(target, name, _raise(BadInput(f"{tmp_path / 'x.txt'}: line 3 is bad")))
    err = bad(argv, capsys, "x.txt: line 3 is bad")
    assert "internal error" not in err


def test_a_bug_in_a_real_process_exits_1_with_its_traceback(tmp_path):
    """The exit status itself, from a real process whose stage hits an internal
    ``ValueError``; bad input in the same process exits 2."""
    code = ("import os, sys\n"
            "import handpose_core.render as r\n"
            "from handpose_core.errors import BadInput\n"
            "def boom(*a, **k):\n"
            "    if os.environ['FAIL'] == 'bug':\n"
            "        raise ValueError('an internal check failed')\n"
            "    raise BadInput('settings.toml: size must be even')\n"
            "r.write_synthetic_store = boom\n"
            "from handpose_core.cli.main import main\n"
            "sys.exit(main(sys.argv[1:]))\n")

    def proc(fail):
        return subprocess.run([sys.executable, "-c", code, "synth", "--out",
                               str(tmp_path / "s"), "--count", "4"], capture_output=True,
                              text=True, timeout=120, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": REPO, "FAIL": fail})

    r = proc("bug")
    assert r.returncode == 1, r.stderr
    assert "Traceback" in r.stderr and "an internal check failed" in r.stderr
    r = proc("bad")
    assert r.returncode == 2 and "settings.toml: size must be even" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


# ------------------------------------------------------------------ per command
def test_compare_codes(tmp_path, capsys):
    gt, p = tmp_path / "gt.txt", tmp_path / "pred.txt"
    rows = np.random.default_rng(0).uniform(100, 600, (3, 42))
    gt.write_text("\n".join(" ".join(f"{v:.3f}" for v in r) for r in rows))
    p.write_text("\n".join(" ".join(f"{v + 1:.3f}" for v in r) for r in rows))
    code, out, _ = run(["compare", gt, p, "--json"], capsys)
    assert code == 0 and json.loads(out)[0]["frames"] == 3
    bad(["compare", tmp_path / "none.txt", p], capsys, "none.txt", "file not found")
    p.write_text("1 " * 42 + "\n")
    bad(["compare", gt, p], capsys, "pred.txt", "1 lines, but the ground truth")
    bad(["compare", gt, p, p, "--names", "a"], capsys, "1 names for 2 prediction files")
    p.write_bytes(b"\xff\xfe\x00")
    bad(["compare", gt, p], capsys, "pred.txt", "not a text file")


def test_init_codes(nyu_root, tmp_path, capsys):
    code, out, _ = run(["init", tmp_path / "p", "--nyu", nyu_root], capsys)
    assert code == 0 and "train 6 frames, test 4 frames, 10 with part labels" in out
    bad(["init", tmp_path / "p", "--nyu", nyu_root], capsys, "a project already exists")
    bad(["init", tmp_path / "q", "--nyu", tmp_path / "nowhere"], capsys, "nowhere",
        "NYU root folder not found")
    (tmp_path / "empty").mkdir()
    bad(["init", tmp_path / "q", "--nyu", tmp_path / "empty"], capsys, "no train/ or test/")
    broken = tmp_path / "broken"
    write_nyu_split(broken, "train", [np.full((480, 640), 700, np.uint16)],
                    np.ones((1, 36, 3)), np.ones((1, 36, 3)))
    mat = broken / "train" / "joint_data.mat"
    mat.write_bytes(mat.read_bytes()[:300])
    bad(["init", tmp_path / "q", "--nyu", broken], capsys, "joint_data.mat", "cannot read MATLAB")
    assert not (tmp_path / "q" / "project.sqlite").exists()


def test_synth_codes(tmp_path, capsys):
    code, out, _ = run(["synth", "--out", tmp_path / "s", "--count", 4, "--size", 16], capsys)
    assert code == 0 and "wrote a store of 4 clean 16x16 crops" in out
    bad(["synth", "--out", tmp_path / "s2", "--count", 0], capsys, "--out and --count")
    bad(["synth", "--out", tmp_path / "s2", "--count", -3], capsys, "count must be >= 1")
    (tmp_path / "file").write_text("x")
    bad(["synth", "--out", tmp_path / "file", "--count", 2], capsys, "file")
    bad(["synth", "--preview", tmp_path / "nowhere" / "x.png", "--count", 2, "--size", 16],
        capsys, "x.png")


def test_train_and_evaluate_bad_input(project, tmp_path, capsys):
    none = tmp_path / "none"
    for argv in (["train", "pretrain-seg"], ["train", "build-dictionary"], ["train", "restore"],
                 ["evaluate", "--what", "segmentation"], ["evaluate", "--what", "restoration"]):
        bad([*argv, "--project", none], capsys, "none", "no such project folder")
    pre = ["train", "pretrain-seg", "--project", project]
    bad([*pre, "--set", "wings=2"], capsys, "unknown training setting 'wings'")
    bad([*pre, "--set", "lr=fast"], capsys, "lr")
    bad([*pre, "--set", "lr"], capsys, "--set expects key=value")
    bd = ["train", "build-dictionary", "--project", project]
    for junk in (b"[1, 2]", b"\xff\xfe{", b'{"format": "handpose-synthetic", "count": "9"}'):
        (project / "synthetic" / "junk").mkdir(parents=True, exist_ok=True)
        (project / "synthetic" / "junk" / "meta.json").write_bytes(junk)
        # a damaged store is passed over (build-dictionary then renders its own source
        # store, which this test does not wait for)
        with pytest.raises(FileNotFoundError, match="no complete synthetic store"):
            find_store(project / "synthetic")
    bad([*bd, "--store", tmp_path / "nostore"], capsys, "nostore", "meta.json missing")
    store = tmp_path / "store"
    assert run(["synth", "--out", store, "--count", 8], capsys)[0] == 0
    bad([*bd, "--store", store, "--patch", 4], capsys, "patch size must be a positive odd")
    (store / "meta.json").write_text("{]")
    bad([*bd, "--store", store], capsys, "meta.json", "corrupt synthetic store metadata")
    rs = ["train", "restore", "--project", project]
    bad([*rs, "--model", tmp_path / "none.pt"], capsys, "none.pt", "not found")
    (tmp_path / "junk.pt").write_text("not weights")
    bad([*rs, "--model", tmp_path / "junk.pt"], capsys, "junk.pt", "not a model checkpoint")
    bundled = Path(REPO) / "resources" / "models" / "segnet_fast.pt"
    bad([*rs, "--model", bundled, "--dictionary", tmp_path / "nodict"], capsys, "nodict",
        "meta.json missing")


def test_pipeline_codes_and_bad_stage_input(project, tmp_path, capsys):
    """The later stages on a tiny project (the bundled f_s, a 3,000-patch dictionary) exit
    0; a corrupt checkpoint or dictionary given to restore exits 2 naming it."""
    code, _, err = run(["synth", "--out", project / "synthetic" / "maps", "--count", 40], capsys)
    assert code == 0, err
    # --images 40: the 40 maps just rendered (by default it renders a clean store of 56,991
    # maps first, which took 40 of this test's 48 s)
    code, out, err = run(["train", "build-dictionary", "--project", project, "--patches", 3000,
                          "--images", 40, "--trees", 2, "--json"], capsys)
    assert code == 0 and json.loads(out)["n_patches"] == 3000, err
    meta = json.loads((project / "dictionary" / "meta.json").read_text())
    assert meta["source"] == str(project / "synthetic" / "maps") and meta["n_images"] == 40
    code, out, err = run(["train", "restore", "--project", project, "--limit", 2, "--json"],
                         capsys)
    assert code == 0 and json.loads(out)["frames"] == 2, err
    for what in ("segmentation", "restoration"):
        code, out, err = run(["evaluate", "--project", project, "--what", what, "--json"], capsys)
        assert code == 0 and json.loads(out), err
    bad(["train", "restore", "--project", project, "--split", "valid"], capsys, "valid")
    cut = tmp_path / "cut.pt"
    cut.write_bytes((Path(REPO) / "resources" / "models" / "segnet_fast.pt").read_bytes()[:1000])
    bad(["train", "restore", "--project", project, "--model", cut, "--limit", 1], capsys,
        "cut.pt", "corrupt or truncated checkpoint")
    ann = project / "dictionary" / "index.ann"
    ann.write_bytes(ann.read_bytes()[:4096])
    bad(["train", "restore", "--project", project, "--limit", 1], capsys, "index.ann",
        "truncated or replaced")


@pytest.mark.slow
def test_pretrain_seg_exits_0(project, capsys):
    code, out, err = run(["train", "pretrain-seg", "--project", project, "--samples", 48,
                          "--epochs", 1, "--set", "test_samples=16", "--set", "num_threads=1",
                          "--set", "batch_size=16", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)


def test_bench_smoke_and_bad_input(capsys):
    code, out, err = run(["bench", "render", "--json", "--repeats", 1, "--crops", 8, "--frames",
                          1], capsys)
    assert code == 0 and json.loads(out), err
    bad(["bench", "restore", "--patches", 0, "--images", 10, "--frames", 1], capsys,
        "--patches must be >= 1, got 0")
    bad(["bench", "render", "--repeats", 0], capsys, "--repeats must be >= 1, got 0")
