"""The NYU Hand Pose dataset in its real on-disk layout: reader and writer.

::

    <root>/<split>/joint_data.mat           joint_names (1,36), joint_uvd / joint_xyz (K,N,36,3)
    <root>/<split>/depth_K_NNNNNNN.png      depth mm = (G << 8) | B, 2001 / 0 = no return
    <root>/<split>/rgb_K_NNNNNNN.png        optional colour frame
    <root>/<split>/labels_K_NNNNNNN.png     optional part labels, palette PNG (this project)

Frames are numbered from 1 as in the file names. Nothing is loaded when a dataset is
opened; ``joint_data.mat`` is read once per split on first use and kept.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from ..errors import BadInput
from ..progress import check_cancel
from ..skeleton import EVAL_INDICES, JOINT_NAMES_36
from .labelio import read_label_png, write_label_png

SPLITS = ("train", "test")
DEPTH_SHAPE = (480, 640)


def frame_file(kind: str, kinect: int, frame: int) -> str:
    """``depth_1_0000001.png`` style name; ``kind`` is depth, rgb, synthdepth or labels."""
    return f"{kind}_{kinect}_{frame:07d}.png"


@dataclass(frozen=True)
class Joints:
    """Joints of one split: ``uvd`` and ``xyz`` arrays of shape (K, N, 36, 3), float."""

    uvd: np.ndarray
    xyz: np.ndarray

    @property
    def kinects(self) -> int:
        return int(self.uvd.shape[0])

    @property
    def frames(self) -> int:
        return int(self.uvd.shape[1])


def decode_depth(img: np.ndarray, path: str | os.PathLike = "<array>") -> np.ndarray:
    """BGR uint8 ``(480, 640, 3)`` as read by OpenCV -> uint16 depth in mm.

    ``ValueError`` naming ``path`` when the image is not an NYU depth image: unreadable,
    not 3 channels of 8 bits, not 640x480, or with a non-zero red channel."""
    if img is None:
        raise BadInput(f"{path}: not a readable PNG image (corrupt or truncated)")
    if img.ndim != 3 or img.shape[2] < 3 or img.dtype != np.uint8:
        raise BadInput(f"{path}: NYU depth must be a 3-channel 8-bit PNG, got shape "
                       f"{img.shape} {img.dtype}")
    if img.shape[:2] != DEPTH_SHAPE:
        raise BadInput(f"{path}: NYU depth must be 640x480, got {img.shape[1]}x{img.shape[0]}")
    if img[..., 2].any():
        raise BadInput(f"{path}: not an NYU depth image: its red channel is not zero (NYU "
                       "depth is stored as G << 8 | B with R = 0; is this a colour frame?)")
    return (img[..., 1].astype(np.uint16) << 8) | img[..., 0]


def encode_depth(depth_mm: np.ndarray) -> np.ndarray:
    """uint16 depth (mm) -> BGR uint8 image for OpenCV (R = 0, G = high, B = low byte)."""
    d = np.asarray(depth_mm)
    if d.dtype != np.uint16:
        if d.min() < 0 or d.max() > 65535:
            raise ValueError("depth values must fit in uint16 millimetres")
        d = d.astype(np.uint16)
    img = np.zeros((*d.shape, 3), np.uint8)
    img[..., 0] = d & 0xFF
    img[..., 1] = d >> 8
    return img


def read_depth(path: str | os.PathLike) -> np.ndarray:
    """Read one NYU depth PNG -> ``(480, 640)`` uint16 mm (2001 / 0 = no return)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: depth frame not found")
    return decode_depth(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), path)


def read_joint_mat(path: str | os.PathLike) -> Joints:
    """Read ``joint_data.mat`` -> :class:`Joints` (K, N, 36, 3), 1 <= K <= 3."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: joint_data.mat not found (is this an NYU split folder?)")
    try:
        m = scipy.io.loadmat(str(path))
    except Exception as e:  # scipy raises several types for broken files
        raise BadInput(f"{path}: cannot read MATLAB file ({e})") from None
    for key in ("joint_uvd", "joint_xyz"):
        if key not in m:
            raise BadInput(f"{path}: variable '{key}' missing")
    uvd, xyz = _as_kn363(m["joint_uvd"], path, "joint_uvd"), _as_kn363(m["joint_xyz"], path,
                                                                        "joint_xyz")
    if uvd.shape != xyz.shape:
        raise BadInput(f"{path}: joint_uvd {uvd.shape} and joint_xyz {xyz.shape} differ")
    if "joint_names" in m:
        names = [str(np.asarray(n).ravel()[0]) if np.asarray(n).size else ""
                 for n in np.asarray(m["joint_names"]).ravel()]
        if tuple(names) != JOINT_NAMES_36:
            raise BadInput(f"{path}: joint_names are not the 36 NYU joints in order")
    return Joints(uvd, xyz)


def _as_kn363(a: np.ndarray, path: Path, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[2:] != (36, 3) or not 1 <= a.shape[0] <= 3:
        raise BadInput(f"{path}: {name} must have shape (K, N, 36, 3) with K = 1..3 kinects, "
                       f"got {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise BadInput(f"{path}: {name} must be floating point, got {a.dtype}")
    bad = ~np.isfinite(a)
    if bad.any():
        k, n = (int(i) for i in np.argwhere(bad)[0][:2])
        raise BadInput(f"{path}: {name} holds NaN or infinite values ({int(bad.sum())}, the "
                       f"first in frame {n + 1} of kinect {k + 1})")
    return a


_JOINTS_CACHE: dict[tuple, Joints] = {}
_JOINTS_CACHE_LOCK = threading.Lock()
_JOINTS_CACHE_FILES = 4


def _mat_key(path: Path):
    st = path.stat() if path.exists() else None
    return (str(path.resolve()), st.st_size, st.st_mtime_ns) if st else None


def _shared_joints(path: Path, cache_dir: Path | None = None) -> Joints:
    """``read_joint_mat(path)``, one copy per process: the studio opens a project in its
    GUI thread and in each worker, and NYU's train split holds 72,757 x 36 x 3 joints in
    uvd and xyz per kinect (126 MB in float64 for one kinect), so a copy per connection
    cost hundreds of MB. Keyed by the file's path, size and mtime (a rewritten file is
    read again); the last few files are kept. With ``cache_dir`` (a project's cache
    folder) the joints come from memory-mapped copies there (:func:`_joint_copy`)."""
    key = _mat_key(path)
    with _JOINTS_CACHE_LOCK:
        hit = _JOINTS_CACHE.get(key) if key else None
        mapped = _MAPPED.get(key)
    if hit is not None and (mapped is None or _file_stats(mapped[0]) == mapped[1]):
        return hit  # read from the .mat, or mapped from copies still as they were mapped
    j = (_joint_copy(path, key, cache_dir) if cache_dir is not None and key is not None
         else read_joint_mat(path))
    return _remember(key, j) if key is not None else j


def _file_stats(paths) -> tuple | None:
    try:
        return tuple((st.st_ino, st.st_size, st.st_mtime_ns) for st in map(os.stat, paths))
    except OSError:
        return None


_MAPPED: dict[tuple, tuple] = {}  # .mat key -> (copy paths, their stats when mapped)


def _remember(key, j: Joints, replace: bool = False) -> Joints:
    """Keep ``j`` as the process's joints of the .mat ``key`` (the last few files) and
    return the copy kept: one another thread kept meanwhile wins unless ``replace``."""
    files = tuple(a.filename for a in (j.uvd, j.xyz) if isinstance(a, np.memmap))
    with _JOINTS_CACHE_LOCK:
        had, mapped = _JOINTS_CACHE.get(key), _MAPPED.get(key)
        if had is not None and not replace and (mapped is None
                                                or _file_stats(mapped[0]) == mapped[1]):
            return had
        _JOINTS_CACHE.pop(key, None)
        _JOINTS_CACHE[key] = j
        # a copy changed on disk after mapping (rewritten in place, cut) is mapped again
        if files:
            _MAPPED[key] = (files, _file_stats(files))
        else:
            _MAPPED.pop(key, None)
        while len(_JOINTS_CACHE) > _JOINTS_CACHE_FILES:
            _MAPPED.pop(next(iter(_JOINTS_CACHE)), None)
            _JOINTS_CACHE.pop(next(iter(_JOINTS_CACHE)))
    return j


def joint_copy_paths(cache_dir: Path, split: str, key) -> dict[str, Path]:
    """Where :func:`_joint_copy` keeps a split's joints: ``joints_<split>_<size>_<mtime
    ns>_{uvd,xyz}.npy`` (the .mat's size and mtime: a rewritten file gets new copies)."""
    stem = f"joints_{split}_{key[1]}_{key[2]}"
    return {k: Path(cache_dir) / f"{stem}_{k}.npy" for k in ("uvd", "xyz")}


def _joint_copy(path: Path, key, cache_dir: Path, joints: Joints | None = None) -> Joints:
    """The joints of ``path`` as read-only memory maps of ``.npy`` copies in ``cache_dir``,
    written (atomically, the stale copies of the split removed) from the .mat when missing,
    damaged or of another shape. NYU's ``joint_data.mat`` is compressed: reading it
    decompresses every frame's joints (126 MB for the train split) before one frame's can
    be used, while a memory map gives one frame's at once, and its pages are the page
    cache's, shared by every thread and process, not a private copy each."""
    split = path.parent.name
    paths = joint_copy_paths(cache_dir, split, key)
    try:
        uvd, xyz = (np.load(paths[k], mmap_mode="r") for k in ("uvd", "xyz"))
        if (uvd.shape == xyz.shape and uvd.ndim == 4 and uvd.shape[2:] == (36, 3)
                and uvd.dtype == xyz.dtype == np.float64
                and all(a.offset + a.nbytes == os.path.getsize(paths[k])
                        for k, a in (("uvd", uvd), ("xyz", xyz)))):
            return Joints(uvd, xyz)
    except (OSError, ValueError, EOFError):
        pass  # missing, cut or damaged: made again below
    j = joints if joints is not None else read_joint_mat(path)
    try:
        from ..fileio import atomic_write

        for k in ("uvd", "xyz"):
            arr = np.ascontiguousarray(getattr(j, k), dtype=np.float64)
            atomic_write(paths[k], lambda f, a=arr: np.save(f, a), binary=True)
        for old in Path(cache_dir).glob(f"joints_{split}_*.npy"):
            if old not in paths.values():
                old.unlink(missing_ok=True)
        return Joints(*(np.load(paths[k], mmap_mode="r") for k in ("uvd", "xyz")))
    except OSError:  # a read-only project folder: the joints read are used as they are
        return j


class NYUDataset:
    """Lazy access to an NYU root (``train/`` and/or ``test/`` folders)."""

    def __init__(self, root: str | os.PathLike, cache_dir: str | os.PathLike | None = None):
        self.root = Path(root)
        # a project's cache folder: joints memory-mapped from copies there (_joint_copy)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: NYU root folder not found")
        self.splits = tuple(s for s in SPLITS if (self.root / s).is_dir())
        if not self.splits:
            raise BadInput(f"{self.root}: no train/ or test/ folder: not an NYU dataset root")
        self._joints: dict[str, Joints] = {}
        self._lock = threading.Lock()

    def write_joint_copies(self) -> None:
        """Make the memory-mapped joint copies of every split in :attr:`cache_dir` now
        (``init --nyu`` does, so that the studio's first opening reads no .mat)."""
        if self.cache_dir is None:
            return
        for split in self.splits:
            path = self.split_dir(split) / "joint_data.mat"
            key = _mat_key(path)
            if key is None:
                continue
            with _JOINTS_CACHE_LOCK:
                have = _JOINTS_CACHE.get(key)
            if have is not None and isinstance(have.uvd, np.memmap):
                have = None  # mapped copies (perhaps of another project): not re-read here
            j = _joint_copy(path, key, self.cache_dir, have)
            j = _remember(key, j, replace=True)  # the memory map replaces a private copy
            with self._lock:
                self._joints[split] = j

    def split_dir(self, split: str) -> Path:
        if split not in self.splits:
            raise BadInput(f"{self.root}: split '{split}' not present (have {self.splits})")
        return self.root / split

    def joints(self, split: str) -> Joints:
        """All joints of a split, read from ``joint_data.mat`` once and cached (one copy
        per file in the process, shared by every dataset object over it)."""
        with self._lock:
            if split not in self._joints:
                self._joints[split] = _shared_joints(self.split_dir(split) / "joint_data.mat",
                                                     self.cache_dir)
            return self._joints[split]

    def frames(self, split: str, kinect: int = 1) -> np.ndarray:
        """Frame numbers (1-based) of a split: those with joints and a depth file."""
        j = self.joints(split)
        if not 1 <= kinect <= j.kinects:
            raise BadInput(f"{self.split_dir(split)}: kinect {kinect} not in 1..{j.kinects}")
        prefix = f"depth_{kinect}_"
        d = self.split_dir(split)
        present = {int(n[len(prefix):-4]) for n in os.listdir(d)
                   if n.startswith(prefix) and n.endswith(".png") and n[len(prefix):-4].isdigit()}
        return np.array(sorted(f for f in present if 1 <= f <= j.frames), dtype=np.int64)

    def path(self, split: str, kind: str, frame: int, kinect: int = 1) -> Path:
        return self.split_dir(split) / frame_file(kind, kinect, frame)

    def depth(self, split: str, frame: int, kinect: int = 1) -> np.ndarray:
        """``(480, 640)`` uint16 depth in mm; 2001 and 0 mean no return."""
        return read_depth(self.path(split, "depth", frame, kinect))

    def rgb(self, split: str, frame: int, kinect: int = 1) -> np.ndarray | None:
        """``(480, 640, 3)`` uint8 RGB, or None when the file is absent."""
        p = self.path(split, "rgb", frame, kinect)
        if not p.exists():
            return None
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise BadInput(f"{p}: not a readable PNG image (corrupt or truncated)")
        return img[..., ::-1].copy()

    def labels(self, split: str, frame: int, kinect: int = 1) -> np.ndarray | None:
        """``(480, 640)`` uint8 part labels, or None when no label image exists."""
        p = self.path(split, "labels", frame, kinect)
        if not p.exists():
            return None
        lab = read_label_png(p)
        if lab.shape != DEPTH_SHAPE:
            raise BadInput(f"{p}: part labels must be 640x480 like the depth frame, got "
                           f"{lab.shape[1]}x{lab.shape[0]}")
        return lab

    def joints_uvd(self, split: str, frame: int, kinect: int = 1) -> np.ndarray:
        """``(36, 3)`` u, v (px), d (mm) of one frame."""
        return np.array(self.joints(split).uvd[kinect - 1, frame - 1], dtype=np.float64)

    def joints_xyz(self, split: str, frame: int, kinect: int = 1) -> np.ndarray:
        return np.array(self.joints(split).xyz[kinect - 1, frame - 1], dtype=np.float64)

    def joints14_uvd(self, split: str, kinect: int = 1) -> np.ndarray:
        """``(N, 14, 3)`` evaluation joints of every frame of the split."""
        return np.asarray(self.joints(split).uvd[kinect - 1][:, list(EVAL_INDICES)])


def write_joint_mat(path: str | os.PathLike, joint_uvd: np.ndarray, joint_xyz: np.ndarray) -> None:
    """Write ``joint_data.mat`` (MATLAB v5) atomically; arrays (N,36,3) or (K,N,36,3)."""
    path = Path(path)
    uvd = _as_kn363(np.asarray(joint_uvd), path, "joint_uvd")
    xyz = _as_kn363(np.asarray(joint_xyz), path, "joint_xyz")
    if uvd.shape != xyz.shape:
        raise BadInput(f"{path}: joint_uvd {uvd.shape} and joint_xyz {xyz.shape} differ")
    names = np.empty((1, 36), dtype=object)
    names[0, :] = list(JOINT_NAMES_36)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        scipy.io.savemat(f, {"joint_names": names, "joint_uvd": uvd, "joint_xyz": xyz},
                         do_compression=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_depth(path: str | os.PathLike, depth_mm: np.ndarray) -> None:
    """Write a ``(480, 640)`` uint16 depth frame in NYU's PNG encoding, atomically."""
    d = np.asarray(depth_mm)
    if d.shape != DEPTH_SHAPE:
        raise ValueError(f"{path}: depth must be 480x640, got {d.shape}")
    path = Path(path)
    # fast zlib level: depth PNGs are written by the thousand, read far more often
    ok, buf = cv2.imencode(".png", encode_depth(d), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError(f"{path}: PNG encoding failed")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, path)


def write_nyu_split(root: str | os.PathLike, split: str, depth_frames, joint_uvd: np.ndarray,
                    joint_xyz: np.ndarray, labels=None, rgb=None, *, kinect: int = 1,
                    first: int = 1, frames: int | None = None, progress=None,
                    cancel=None) -> Path:
    """Write one split in the NYU layout for one kinect.

    ``depth_frames``: iterable of ``(480, 640)`` uint16 (frame ``first``, ``first`` + 1,
    ...: frames before ``first`` are already on disk, as when a write resumes);
    ``joint_uvd`` / ``joint_xyz``: (N, 36, 3) or (K, N, 36, 3), every frame of the split;
    ``labels``/``rgb``: optional iterables of uint8 (480, 640) part maps / (480, 640, 3)
    RGB images, from the same frame. ``joint_data.mat`` is written last, so a split is
    only readable once all its frames are on disk. ``joint_uvd`` may instead be a
    callable returning ``(joint_uvd, joint_xyz)`` once the last frame is written (the
    joints of frames drawn while they are written); then ``frames`` gives the count.
    """
    d = Path(root) / split
    d.mkdir(parents=True, exist_ok=True)
    if callable(joint_uvd):
        if frames is None:
            raise ValueError("write_nyu_split: frames is required with a joints callable")
        n = int(frames)
    else:
        n = np.asarray(joint_uvd).shape[-3]
    if not 1 <= first <= n + 1:
        raise ValueError(f"{d}: first frame {first} outside 1..{n + 1}")
    labels_it = iter(labels) if labels is not None else None
    rgb_it = iter(rgb) if rgb is not None else None
    count = first - 1
    for i, depth in enumerate(depth_frames):
        check_cancel(cancel)
        f = first + i
        write_depth(d / frame_file("depth", kinect, f), depth)
        if labels_it is not None:
            write_label_png(d / frame_file("labels", kinect, f), next(labels_it))
        if rgb_it is not None:
            img = np.asarray(next(rgb_it), np.uint8)
            if not cv2.imwrite(str(d / frame_file("rgb", kinect, f)), img[..., ::-1]):
                raise ValueError(f"{d}: writing rgb frame {f} failed")
        count += 1
        if progress:
            progress(count, n, f"{split} frame {f}")
    if count != n:
        raise ValueError(f"{d}: {count} depth frames written but joints describe {n} frames")
    if callable(joint_uvd):
        joint_uvd, joint_xyz = joint_uvd()
        if np.asarray(joint_uvd).shape[-3] != n:
            raise ValueError(f"{d}: joints describe {np.asarray(joint_uvd).shape[-3]} frames, "
                             f"{n} written")
    write_joint_mat(d / "joint_data.mat", joint_uvd, joint_xyz)
    return d
