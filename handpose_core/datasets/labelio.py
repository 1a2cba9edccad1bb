"""Label images on disk: palette PNGs whose pixel index is the part id (0..20).

Written atomically (temp file in the same folder, then ``os.replace``), so a label image
is always either the old or the new one, never half written.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import BadInput
from ..parts import NUM_CLASSES, palette_rgb


def write_label_png(path: str | os.PathLike, labels: np.ndarray) -> None:
    """Save a ``(H, W)`` uint8 label map (ids 0..20) as a palette PNG, atomically."""
    os.replace(stage_label_png(path, labels), path)


def stage_label_png(path: str | os.PathLike, labels: np.ndarray) -> Path:
    """Write ``labels`` as a palette PNG to a temporary file beside ``path`` (fsynced) and
    return it; the caller moves it into place with ``os.replace`` or deletes it.

    The temporary is ``NAME.PID.XXXX.tmp`` (as :func:`~handpose_core.fileio.atomic_write`
    names them), so one left by a killed process is told from one another process is
    writing now (:func:`~handpose_core.fileio.stale_temporaries`)."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"{path}: a label map must be 2-D, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise ValueError(f"{path}: part ids must be in 0..{NUM_CLASSES - 1}")
    img = Image.fromarray(labels.astype(np.uint8), mode="P")
    pal = np.zeros((256, 3), np.uint8)
    pal[:NUM_CLASSES] = palette_rgb()
    img.putpalette(pal.ravel().tolist())
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f"{path.name}.{os.getpid()}.", suffix=".tmp",
                               dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these are ordinary files
        with os.fdopen(fd, "wb") as f:
            img.save(f, format="PNG", optimize=False, compress_level=1)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def label_digest(labels: np.ndarray) -> str:
    """The md5 of a label map's pixels (uint8, row-major) with its shape: what the store
    records of a saved map, to tell the map it committed from another."""
    a = np.ascontiguousarray(np.asarray(labels, dtype=np.uint8))
    return hashlib.md5(f"{a.shape}".encode() + a.tobytes()).hexdigest()


def read_label_png(path: str | os.PathLike) -> np.ndarray:
    """Read a palette PNG label map -> ``(H, W)`` uint8 part ids.

    Raises ``ValueError`` naming the file when it is not a readable palette/greyscale PNG
    (every chunk's CRC is checked: Pillow does not check the image data's, so a flipped
    byte there would otherwise read as different labels) or holds ids outside 0..20.
    """
    path = Path(path)
    data = path.read_bytes()
    check_png_chunks(data, path)
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.mode not in ("P", "L"):
                raise BadInput(f"{path}: label image must be a palette PNG, got mode {img.mode}")
            a = np.array(img, dtype=np.uint8)
    except (OSError, SyntaxError, EOFError, zlib.error, Image.DecompressionBombError) as e:
        raise BadInput(f"{path}: cannot read label image ({e})") from None
    if a.size and a.max() >= NUM_CLASSES:
        raise BadInput(f"{path}: label image holds id {a.max()}, outside 0..{NUM_CLASSES - 1}")
    return a


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_png_chunks(data: bytes, path: str | os.PathLike) -> None:
    """Raise ``ValueError`` naming ``path`` unless ``data`` is a PNG whose chunks are all
    complete, pass their CRC and end with IEND."""
    if not data.startswith(_PNG_SIGNATURE):
        raise BadInput(f"{path}: not a PNG image (no PNG signature)")
    i = len(_PNG_SIGNATURE)
    while True:
        if i + 12 > len(data):
            raise BadInput(f"{path}: truncated PNG ({len(data)} bytes, no IEND chunk)")
        n = int.from_bytes(data[i:i + 4], "big")
        kind = data[i + 4:i + 8]
        end = i + 8 + n
        if end + 4 > len(data):
            raise BadInput(f"{path}: truncated PNG (chunk {kind!r} runs past the end of "
                           "the file)")
        if zlib.crc32(data[i + 4:end]) != int.from_bytes(data[end:end + 4], "big"):
            raise BadInput(f"{path}: corrupt PNG (chunk {kind!r} fails its CRC check)")
        if kind == b"IEND":
            return
        i = end + 4
