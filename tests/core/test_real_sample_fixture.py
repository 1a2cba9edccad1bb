"""The ``real_sample`` fixture skips, naming what is missing, on a partial ../shared."""

import importlib.util
import shutil
from pathlib import Path

import pytest

# tests/conftest.py by its path: "import conftest" may find tests/app/conftest.py instead
_spec = importlib.util.spec_from_file_location(
    "_tests_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py")
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)
REAL_SAMPLE_FILES, real_sample_or_skip = _root.REAL_SAMPLE_FILES, _root.real_sample_or_skip


@pytest.fixture
def real_sample():
    """../shared's sample found by a plain file check, not by the function under test (a
    ``real_sample_or_skip`` that skipped everything would otherwise skip these tests too)."""
    folder = _root.REAL_SAMPLE
    if not all((folder / n).is_file() for n in REAL_SAMPLE_FILES):
        pytest.skip(f"{folder}: real NYU sample not available")
    return folder


def _partial_copy(src, dst, drop=(), damage=()):
    dst.mkdir()
    for name in REAL_SAMPLE_FILES:
        if name not in drop:
            shutil.copy(src / name, dst / name)
    for name in damage:
        (dst / name).write_bytes((dst / name).read_bytes()[:50])
    return dst


def test_complete_sample_is_used(real_sample, tmp_path):
    """A complete, readable sample is used, never skipped: checked on a copy, so that a
    check that skipped everything would fail here instead of skipping this test too."""
    folder = _partial_copy(real_sample, tmp_path / "s")
    try:
        assert real_sample_or_skip(folder) == folder
    except pytest.skip.Exception as e:
        pytest.fail(f"a complete sample was skipped: {e}")


@pytest.mark.parametrize("drop", [(n,) for n in REAL_SAMPLE_FILES] + [REAL_SAMPLE_FILES])
def test_missing_file_skips_and_names_it(real_sample, tmp_path, drop):
    folder = _partial_copy(real_sample, tmp_path / "s", drop=drop)
    with pytest.raises(pytest.skip.Exception, match="missing " + drop[0]):
        real_sample_or_skip(folder)


@pytest.mark.parametrize("name", REAL_SAMPLE_FILES)
def test_damaged_file_skips_and_names_it(real_sample, tmp_path, name):
    folder = _partial_copy(real_sample, tmp_path / "s", damage=(name,))
    with pytest.raises(pytest.skip.Exception, match=f"unreadable: .*{name}"):
        real_sample_or_skip(folder)


def test_absent_folder_skips(tmp_path):
    with pytest.raises(pytest.skip.Exception, match="not available"):
        real_sample_or_skip(tmp_path / "nowhere")
