"""The shared file helpers: checked memory-mapped .npy arrays and TOML configs."""

import numpy as np
import pytest

from handpose_core.fileio import open_npy, read_toml, write_toml


def test_open_npy_reads_memory_mapped(tmp_path):
    p = tmp_path / "a.npy"
    np.save(p, np.arange(12, dtype=np.uint8).reshape(3, 4))
    a = open_npy(p, "test array", shape=(3, 4), dtype="uint8")
    assert isinstance(a, np.memmap) and a.tolist()[2] == [8, 9, 10, 11]
    assert open_npy(p, "test array", shape=(None, 4)).shape == (3, 4)  # None: any length


def test_open_npy_missing_names_the_file(tmp_path):
    p = tmp_path / "gone.npy"
    with pytest.raises(FileNotFoundError, match=r"gone\.npy: test array missing"):
        open_npy(p, "test array")


@pytest.mark.parametrize("data", [b"", b"junk", b"\x93NUMPY\x01\x00", "cut"])
def test_open_npy_unreadable_is_a_value_error_naming_the_file(tmp_path, data):
    p = tmp_path / "bad.npy"
    if data == "cut":
        np.save(p, np.zeros((100, 100), np.float32))
        data = p.read_bytes()[:1000]  # header intact, data cut
    p.write_bytes(data)
    with pytest.raises(ValueError, match=r"bad\.npy: cannot read test array"):
        open_npy(p, "test array")


def test_open_npy_npz_is_refused(tmp_path):
    p = tmp_path / "z.npy"
    with open(p, "wb") as f:
        np.savez(f, a=np.zeros(3))
    with pytest.raises(ValueError, match=r"z\.npy: cannot read test array \(an \.npz"):
        open_npy(p, "test array")


@pytest.mark.parametrize("shape, dtype, match", [
    ((3, 5), None, r"expected \(3, 5\) as meta\.json says, got \(3, 4\) uint8"),
    ((3,), None, r"expected \(3,\) as"),
    ((None, None, None), None, r"expected \(\*, \*, \*\)"),
    ((3, 4), "float32", r"expected \(3, 4\) float32 as meta\.json says, got \(3, 4\) uint8"),
    (None, "int32", r"expected int32 as meta\.json says"),
])
def test_open_npy_wrong_shape_or_dtype(tmp_path, shape, dtype, match):
    p = tmp_path / "a.npy"
    np.save(p, np.zeros((3, 4), np.uint8))
    with pytest.raises(ValueError, match=r"a\.npy: " + match):
        open_npy(p, "test array", shape=shape, dtype=dtype)


def test_toml_round_trip_drops_none(tmp_path):
    p = write_toml(tmp_path / "c.toml", {"train": {"lr": 0.1, "skip": None, "sizes": (1, 2)}})
    assert read_toml(p) == {"train": {"lr": 0.1, "sizes": [1, 2]}}
    (tmp_path / "bad.toml").write_text("[x\n")
    with pytest.raises(ValueError, match=r"bad\.toml: not a valid TOML"):
        read_toml(tmp_path / "bad.toml")
