"""Stage ``build-dictionary`` (seed paper, step 2): the annoy dictionary of label patches.

Label patches of a synthetic store's maps, indexed with annoy, written to
``PROJECT/dictionary/`` (or ``out``). By default the dictionary comes from the paper's
number of source maps (56,991); when the project's largest clean store is smaller (the
pre-training store has 40,000), a clean store of that many maps is rendered first
(``PROJECT/synthetic/clean_48px_n56991_s2``, under a minute on 2 idle cores). The
dictionary keeps the source maps and cuts patches on demand (see
:mod:`..restoration.patch_maps`). A dictionary already built there with the same
settings is kept (the stage reports it as done); ``restart`` builds it again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..datasets.synthetic import SyntheticStore, read_meta
from ..restoration.dictionary import (
    DEFAULT_ENCODING,
    DEFAULT_N_TREES,
    PAPER_SCALE,
    Dictionary,
)
from ..restoration.patches import DEFAULT_PATCH, ENCODINGS
from .base import recorded_run
from .synthetic import store_path, synthetic_store

NAME = "build-dictionary"


@dataclass(frozen=True)
class DictionarySettings:
    store: str = field(default="", metadata={
        "help": "synthetic store to take label maps from (default: the largest complete store "
        "under PROJECT/synthetic)"})
    images: int = field(default=PAPER_SCALE["n_images"], metadata={
        "help": "use the first N maps of the store (a clean store of N maps is rendered "
        "when the project has none that large and no --store is given)"})
    patches: int = field(default=1_000_000, metadata={"help": "dictionary size in patches"})
    patch: int = field(default=DEFAULT_PATCH, metadata={"help": "patch size P, odd"})
    encoding: str = field(default=DEFAULT_ENCODING, metadata={
        "help": "patch encoding for annoy (see bench restore)"})
    trees: int = field(default=DEFAULT_N_TREES, metadata={"help": "annoy trees"})
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    sample: str = field(default="uniform", metadata={
        "help": "how patches are drawn from the unique ones: uniform, or part (evenly over "
        "the centre pixel's part)", "choices": ("uniform", "part")})
    out: str = field(default="", metadata={"help": "dictionary folder (default PROJECT/dictionary)"})
    paper_scale: bool = field(default=False, metadata={
        "help": f"the paper's dictionary: {PAPER_SCALE['max_patches']:,} patches from "
        f"{PAPER_SCALE['n_images']:,} maps (tens of GB of disk and RAM)"})
    restart: bool = field(default=False, metadata={
        "help": "build again even if a dictionary with these settings exists"})


def find_store(root: Path) -> Path:
    """The largest complete synthetic store under ``root`` (the training store, not the
    small held-out one); ``FileNotFoundError`` if there is none."""
    found = []
    for meta in root.glob("*/meta.json"):
        try:
            m = read_meta(meta)  # checked: an object of the store format, integer count
        except (OSError, ValueError):
            continue  # an unreadable store is not a candidate
        if m.get("complete") is True:
            found.append((m["count"], meta.stat().st_mtime, meta.parent))
    if not found:
        raise FileNotFoundError(f"{root}: no complete synthetic store; run the 'synthetic' "
                                "stage (or 'train pretrain-seg') first")
    return max(found)[2]


SOURCE_SEED = 2
"""Seed of the clean store rendered for the dictionary (the pre-training store uses 1,
its held-out store 90001)."""


def _source_store(project, settings: DictionarySettings, progress, cancel) -> Path:
    """The project's largest complete clean store if it has ``settings.images`` maps,
    else a clean store of that many maps rendered (or resumed) for the dictionary."""
    root = project.path("synthetic")
    want = PAPER_SCALE["n_images"] if settings.paper_scale else settings.images
    try:
        found = find_store(root)
        if len(SyntheticStore.open(found)) >= want:
            return found
    except FileNotFoundError:
        pass

    spec = project.crop_spec
    synthetic_store(root, want, size=spec.size, seed=SOURCE_SEED, style="clean",
                    cube_mm=spec.cube_mm, progress=progress, cancel=cancel)
    return store_path(root, want, size=spec.size, seed=SOURCE_SEED, style="clean")


def _wanted(settings: DictionarySettings, store_dir: Path, n_store: int) -> dict:
    images = PAPER_SCALE["n_images"] if settings.paper_scale else settings.images
    patches = PAPER_SCALE["max_patches"] if settings.paper_scale else settings.patches
    return {"store": str(store_dir), "images": int(min(n_store, images)), "patches": int(patches),
            "patch": settings.patch, "encoding": settings.encoding, "trees": settings.trees,
            "seed": settings.seed, "sample": settings.sample}


def _matches(d: Dictionary, want: dict) -> bool:
    """Whether the dictionary ``d`` was built from the same maps with the same settings."""
    m = d.meta
    enc = ENCODINGS.get(want["encoding"])
    n_expected = min(want["patches"], m.get("n_unique") or m.get("n_patches", 0))
    return (m.get("source") == want["store"] and m.get("n_images") == want["images"]
            and m.get("seed") == want["seed"] and m.get("n_trees") == want["trees"]
            and m.get("patch") == want["patch"] and m.get("n_patches") == n_expected
            and m.get("sample", "uniform") == want["sample"]
            and (enc is None or m.get("encoding") == enc.to_dict()))


def run(project, settings: DictionarySettings = DictionarySettings(), *, progress=None,
        cancel=None, on_item=None) -> dict:
    """Build (or keep) the project's dictionary; returns its figures."""
    store_dir = Path(settings.store) if settings.store else _source_store(project, settings,
                                                                         progress, cancel)
    store = SyntheticStore.open(store_dir)
    out = Path(settings.out) if settings.out else project.path("dictionary")
    want = _wanted(settings, store_dir, len(store))
    if not settings.restart:
        try:
            d = Dictionary.load(out)
        except (FileNotFoundError, ValueError):
            d = None  # none there, or unfinished: build it
        if d is not None and _matches(d, want):
            return {**_figures(d), "already_done": True}
    with recorded_run(project, NAME, {**asdict(settings), **want, "out": str(out)},
                      run_dir=str(out)) as rec:
        d = Dictionary.build(store.labels, out, patch=want["patch"], n_images=want["images"],
                             max_patches=want["patches"], encoding=want["encoding"],
                             n_trees=want["trees"], seed=want["seed"], source=str(store_dir),
                             sample=want["sample"],
                             progress=progress, cancel=cancel)
        rec.metrics = _figures(d)
    return rec.metrics


def _figures(d: Dictionary) -> dict:
    sizes = d.disk_bytes()
    m = {k: d.meta[k] for k in ("n_patches", "n_images", "n_extracted", "n_unique",
                                "build_seconds", "index_seconds") if k in d.meta}
    m["index_mb"] = round(sizes.get("index.ann", 0) / 2**20, 1)
    m["patches_mb"] = round((sizes.get("patches.npy", 0) + sizes.get("maps.npy", 0)) / 2**20, 1)
    m["path"] = str(d.path)
    return m


def headline(m: dict) -> str:
    return f"{m.get('n_patches', 0):,} patches from {m.get('n_images', 0):,} maps"


def done(project) -> bool:
    return (project.root / "dictionary" / "meta.json").exists()
