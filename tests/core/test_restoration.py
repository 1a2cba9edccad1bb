"""Patches, encoding, the annoy forest, exact search, the dictionary and restoration.

Label maps are small seeded crops of the project's renderer (32x32, 11x11 patches), so
every dictionary builds in well under a second.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from handpose_core.progress import Cancelled
from handpose_core.restoration import (
    Dictionary,
    PatchEncoding,
    SearchParams,
    extract_patches,
    hand_pixels,
    label_hamming,
    restore,
    restore_many,
)
from handpose_core.restoration.exact import exact_nearest
from handpose_core.restoration.forest import check_index, leaf_capacity, write_index
from handpose_core.restoration.noise import corrupt_labels
from handpose_core.restoration.patch_maps import MapPatches
from handpose_core.restoration.patches import CODES, match_key
from handpose_core.restoration.restore import (
    annoy_rows,
    apply_matches,
    pool_candidates,
    propagate,
    vote,
)


def render_maps(n: int, size: int = 48, seed: int = 0) -> np.ndarray:
    """``(n, size, size)`` uint8 label maps of the project's renderer (clean crops)."""
    from handpose_core.render import render_crops

    return render_crops(n, size=size, seed=seed, style="clean")["labels"]


@pytest.fixture(scope="module")
def maps() -> np.ndarray:
    return render_maps(12, size=32, seed=1)


@pytest.fixture(scope="module")
def small_dict(maps, tmp_path_factory) -> Dictionary:
    enc = PatchEncoding(11, 2, 0, "cw6")
    return Dictionary.build(maps, tmp_path_factory.mktemp("dict"), patch=11, encoding=enc,
                            n_trees=4, max_patches=None, seed=0)


# ---------------------------------------------------------------- patches, encoding
def test_extract_patches_is_centred_and_background_padded():
    lab = np.zeros((5, 5), np.uint8)
    lab[0, 0], lab[2, 2], lab[4, 3] = 7, 1, 20
    p = extract_patches(lab, np.array([[0, 0], [2, 2]]), patch=5)
    assert p.shape == (2, 5, 5) and p.dtype == np.uint8
    assert p[0, 2, 2] == 7 and p[0, :2].sum() == 0 and p[0, :, :2].sum() == 0
    assert p[0, 4, 4] == 1  # (2, 2) seen from (0, 0)
    np.testing.assert_array_equal(p[1], lab)
    stack = np.stack([lab, lab[::-1]])
    q = extract_patches(stack, np.array([[4, 3]]), 3, image_index=np.array([1]))
    np.testing.assert_array_equal(q[0], np.pad(lab[::-1], 1)[4:7, 3:6])
    with pytest.raises(ValueError, match="patch size must be a positive odd number, got 4"):
        extract_patches(lab, np.array([[0, 0]]), patch=4)


def test_hand_pixels_stride():
    lab = np.zeros((6, 6), np.uint8)
    lab[1:5, 1:5] = 3
    assert len(hand_pixels(lab)) == 16
    np.testing.assert_array_equal(hand_pixels(lab, 2), [[2, 2], [2, 4], [4, 2], [4, 4]])


def test_cw6_code_is_near_uniform_label_distance():
    t = CODES["cw6"].astype(int)
    assert t.shape == (21, 6) and not t[0].any() and (t[1:].sum(1) == 3).all()
    d = (t[:, None] != t[None]).sum(-1)
    assert (d[0, 1:] == 3).all()  # hand vs background: 3 bits
    off = d[1:, 1:][~np.eye(20, dtype=bool)]
    assert set(np.unique(off)) <= {2, 4, 6} and off.mean() == pytest.approx(3.16, abs=0.01)


def test_encoding_positions_and_packing_match_annoy():
    enc = PatchEncoding(27, 2, 0)
    assert enc.positions.size == 169 and enc.n_bits == 1014 and enc.n_words == 16
    assert 13 * 27 + 13 in enc.positions  # the centre
    assert PatchEncoding(27, 1, 0).positions.size == 729
    assert PatchEncoding(27, 3, 5).positions.size == 81 + 24
    rng = np.random.default_rng(0)
    pats = rng.integers(0, 21, (3, 27, 27), dtype=np.uint8)
    from annoy import AnnoyIndex

    idx = AnnoyIndex(enc.n_bits, "hamming")
    bits = enc.bits(pats)
    idx.add_item(0, bits[0].tolist())
    idx.build(1)
    words = enc.pack(pats)
    back = np.packbits(np.asarray(idx.get_item_vector(0), np.uint8), bitorder="little")
    np.testing.assert_array_equal(back, words[0].view(np.uint8)[:back.size])
    ids, dist = idx.get_nns_by_vector(bits[1].tolist(), 1, include_distances=True)
    assert dist[0] == np.bitwise_count(words[0] ^ words[1]).sum()


# ---------------------------------------------------------------- annoy forest
def _packed(bits: np.ndarray) -> np.ndarray:
    n_words = (bits.shape[1] + 63) // 64
    out = np.zeros((bits.shape[0], n_words * 8), np.uint8)
    out[:, :(bits.shape[1] + 7) // 8] = np.packbits(bits, axis=1, bitorder="little")
    return out.view("<u8")


def test_forest_index_is_a_working_annoy_file(tmp_path):
    from annoy import AnnoyIndex

    rng = np.random.default_rng(2)
    n_bits = 300
    bits = rng.random((3000, n_bits)) < 0.2
    words = _packed(bits)
    write_index(words, n_bits, tmp_path / "i.ann", n_trees=6, seed=1)
    idx = AnnoyIndex(n_bits, "hamming")
    idx.load(str(tmp_path / "i.ann"), prefault=False)
    check_index(idx, words, 6, probe=50)
    hits = 0
    for i in range(100):
        q = bits[i].copy()
        q[rng.integers(0, n_bits, 6)] ^= True
        ids, dist = idx.get_nns_by_vector(q.tolist(), 3, search_k=600, include_distances=True)
        brute = (bits != q).sum(1)
        assert list(dist) == list(brute[ids])  # annoy reads our items correctly
        hits += brute[ids[0]] == brute.min()
    assert hits >= 95


def test_forest_with_fewer_items_than_a_leaf(tmp_path):
    from annoy import AnnoyIndex

    bits = np.eye(4, 64, dtype=bool)
    assert leaf_capacity(1) == 5  # (16 + 8 - 4) / 4
    write_index(_packed(bits), 64, tmp_path / "t.ann", n_trees=2)
    idx = AnnoyIndex(64, "hamming")
    idx.load(str(tmp_path / "t.ann"))
    assert idx.get_n_items() == 4
    assert sorted(idx.get_nns_by_vector(bits[3].tolist(), 4)) == [0, 1, 2, 3]


# ---------------------------------------------------------------- exact search
def test_exact_backends_agree_and_break_ties_low():
    rng = np.random.default_rng(3)
    pats = rng.integers(0, 4, (700, 9, 9), dtype=np.uint8)
    pats[500] = pats[100]  # a duplicate: the tie must go to 100
    q = pats[[100, 5, 6, 7]].copy()
    q[1, 0, 0] ^= 1
    q[2] = rng.integers(0, 4, (9, 9))
    # two patches at the same full distance from q[3]: the one that differs outside the
    # central 5x5 wins, whatever its index
    pats[600] = pats[7]
    pats[600, 4, 4] ^= 1  # centre
    pats[650] = pats[7]
    pats[650, 0, 0] ^= 1  # corner
    q[3] = pats[7]
    q[3, 2, 2] ^= 2  # q[3] is 1 from 7 (centre square), 2 from 600 and 650
    pats[7] = pats[8]
    key = match_key(pats[None], q[:, None], tie_window=5)
    want_i, want_d = key.argmin(1), label_hamming(pats[None], q[:, None]).min(1)
    assert want_i[3] == 650
    for dev in ("cpu", "torch"):
        ids, dist = exact_nearest(q, pats, device=dev, chunk=256, tie_window=5)
        np.testing.assert_array_equal(ids, want_i)
        np.testing.assert_array_equal(dist, want_d)
    ids, dist = exact_nearest(q, pats, device="cpu", bound=want_d, chunk=300, tie_window=5)
    np.testing.assert_array_equal(ids, want_i)
    assert ids[0] == 100
    # the centre-weighted distance: Hamming + centre x the tie distance, same order in
    # both backends, and the candidate re-ranking agrees with it
    from handpose_core.restoration.exact import rerank_candidates
    from handpose_core.restoration.patches import tie_weights

    w = tie_weights(9, 5)
    diff = pats[None] != q[:, None]
    wd = diff.sum((2, 3)) + 2 * (diff * w).sum((2, 3))
    keyw = wd * 4096 + (diff * w).sum((2, 3))
    want_i = keyw.argmin(1)
    for dev in ("cpu", "torch"):
        ids, dist = exact_nearest(q, pats, device=dev, chunk=256, tie_window=5, centre=2)
        np.testing.assert_array_equal(ids, want_i)
        np.testing.assert_array_equal(dist, wd.min(1))
    everything = np.ascontiguousarray(np.broadcast_to(np.arange(700), (len(q), 700)))
    ids, dist = rerank_candidates(q, pats, everything, tie_window=5, centre=2)
    np.testing.assert_array_equal(ids, want_i)
    # the experimental finger-weighted distance: a differing position costs 1 + 3 where
    # either label is a finger part (>= 2), plus 2 x its tie weight
    fing = diff & ((pats[None] >= 2) | (q[:, None] >= 2))
    fd = wd + 3 * fing.sum((2, 3))
    want_f = (fd * 4096 + (diff * w).sum((2, 3))).argmin(1)
    ids, dist = rerank_candidates(q, pats, everything, tie_window=5, distance=(3, 2))
    np.testing.assert_array_equal(ids, want_f)
    np.testing.assert_array_equal(dist, fd.min(1))


# ---------------------------------------------------------------- dictionary
def test_dictionary_build_and_memory_mapped_load(small_dict, maps):
    d = Dictionary.load(small_dict.path)
    files = d.disk_bytes()
    assert {"maps.npy", "index.ann", "meta.json", "where.npy", "sources.npy"} <= set(files)
    assert "patches.npy" not in files  # patches are cut from the source maps on demand
    assert isinstance(d.patches, MapPatches) and d.patches.shape[1:] == (11, 11)
    assert isinstance(d.patches.maps, np.memmap) and d.patches.maps.shape == maps.shape
    assert d.meta["n_patches"] == len(d) == d.index.get_n_items()
    assert d.meta["n_unique"] <= d.meta["n_extracted"] == int((maps > 0).sum())
    flat = np.asarray(d.patches).reshape(len(d), -1)
    assert len(np.unique(flat, axis=0)) == len(d)  # duplicates removed
    # where / sources point at the patch of every source pixel
    i, r, c = np.asarray(d.sources[len(d) // 2])
    np.testing.assert_array_equal(d.patches[len(d) // 2], extract_patches(maps[i], [[r, c]], 11)[0])
    ii, rr, cc = np.nonzero(maps > 0)
    sel = np.random.default_rng(0).choice(len(ii), 50)
    got = d.patches[np.asarray(d.where)[ii[sel], rr[sel], cc[sel]]]
    np.testing.assert_array_equal(got, extract_patches(maps, np.stack([rr, cc], 1)[sel], 11,
                                                       ii[sel]))


def test_source_map_storage_equals_stored_patches(small_dict, maps, tmp_path):
    """The lazy patch array cuts exactly the patches a 'patches' dictionary stores, for
    every way the readers index it; the index and the restorations are the same."""
    enc = PatchEncoding(11, 2, 0, "cw6")
    full = Dictionary.build(maps, tmp_path / "full", patch=11, encoding=enc, n_trees=4,
                            max_patches=None, seed=0, storage="patches")
    assert isinstance(full.patches, np.memmap) and "maps.npy" not in full.disk_bytes()
    lazy = Dictionary.load(small_dict.path)
    assert lazy.patches.shape == full.patches.shape and len(lazy.patches) == len(full)
    np.testing.assert_array_equal(np.asarray(lazy.patches), np.asarray(full.patches))
    ids = np.random.default_rng(1).integers(0, len(full), (7, 5))
    np.testing.assert_array_equal(lazy.patches[ids], full.patches[ids])
    np.testing.assert_array_equal(lazy.patches[3:40:4], full.patches[3:40:4])
    np.testing.assert_array_equal(lazy.patches[::-1][:9], full.patches[::-1][:9])
    np.testing.assert_array_equal(lazy.patches[-1], full.patches[-1])
    np.testing.assert_array_equal(lazy.patches[ids[0], 5, 5], full.patches[ids[0], 5, 5])
    with pytest.raises(IndexError):
        lazy.patches[len(full)]
    noisy = corrupt_labels(maps[:2], 3)
    cand = np.random.default_rng(2).integers(-1, len(full), (40, 30))
    q = extract_patches(noisy[0], hand_pixels(noisy[0])[:40], 11)
    for centre in (0, 1):
        for a, b in zip(lazy.rerank(q, cand, centre=centre), full.rerank(q, cand, centre=centre)):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(restore_many(noisy, lazy, window=7), restore_many(noisy, full, window=7)):
        np.testing.assert_array_equal(a.labels, b.labels)


def test_source_map_dictionary_names_a_corrupt_file(small_dict, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(small_dict.path, copy)
    (copy / "maps.npy").write_bytes((copy / "maps.npy").read_bytes()[:300])  # truncated
    with pytest.raises(ValueError, match="maps.npy"):
        Dictionary.load(copy)
    np.save(copy / "maps.npy", np.zeros((3, 32, 32), np.uint8))  # wrong number of maps
    with pytest.raises(ValueError, match="maps.npy"):
        Dictionary.load(copy)
    (copy / "maps.npy").unlink()
    with pytest.raises(FileNotFoundError, match="maps.npy"):
        Dictionary.load(copy)
    shutil.copy(small_dict.path / "maps.npy", copy / "maps.npy")
    src = np.load(copy / "sources.npy")
    src[0, 0] = 999  # a centre in a map that does not exist
    np.save(copy / "sources.npy", src)
    with pytest.raises(ValueError, match="sources.npy"):
        Dictionary.load(copy)


@pytest.mark.parametrize("centre", [0, 1])
def test_rerank_orders_candidates_as_the_exact_search(small_dict, maps, centre):
    """Given every dictionary patch as a candidate, the annoy path's re-ranking picks
    exactly what the exact search picks, ties included: agreement between the two then
    only depends on annoy's candidates, not on how ties are broken."""
    noisy = corrupt_labels(maps[:3], 5)
    img = np.repeat(np.arange(3), [(m > 0).sum() for m in noisy])
    q = extract_patches(noisy, np.concatenate([hand_pixels(m) for m in noisy]), 11, img)
    everything = np.broadcast_to(np.arange(len(small_dict))[::-1], (len(q), len(small_dict)))
    ids, dist = small_dict.rerank(q, np.ascontiguousarray(everything), centre=centre)
    want_i, want_d = small_dict.search_exact(q, device="cpu", centre=centre)
    np.testing.assert_array_equal(dist, want_d)
    np.testing.assert_array_equal(ids, want_i)
    if centre == 0:
        assert (match_key(small_dict.patches[ids], q)
                == match_key(small_dict.patches[want_i], q)).all()


@pytest.mark.parametrize("stride", [1, 2])
def test_pooling_shifts_neighbours_candidates_to_the_right_patch(small_dict, maps, stride):
    """A query whose only candidate is wrong gets the right patch from a neighbour's
    candidate, shifted by the offset between them; nothing outside the source map."""
    m = 4
    where = np.asarray(small_dict.where)
    centers = hand_pixels(maps[m], stride)
    q = extract_patches(maps[m], centers, 11)
    own = where[m, centers[:, 0], centers[:, 1]]
    assert (own >= 0).all()
    cand = own[:, None].copy()
    cand[::3] = -1  # every third query has no candidate of its own at all
    pooled = pool_candidates(small_dict, cand, np.zeros(len(q), np.int64), centers, 32,
                             stride, 1)
    assert pooled.shape == (len(q), 9)
    assert pooled.min() >= -1 and pooled.max() < len(small_dict)
    # a query with a queried neighbour now has its own patch among its candidates
    has_nb = np.array([any(np.abs(centers - c).max(1) == stride) for c in centers])
    found = (pooled == own[:, None]).any(1)
    assert found[has_nb & (cand[:, 0] < 0)].all() and has_nb.sum() > len(q) // 2
    ids, dist = small_dict.rerank(q, pooled)
    np.testing.assert_array_equal(dist[found], 0)
    # radius 0: the candidates as they are
    np.testing.assert_array_equal(
        pool_candidates(small_dict, cand, np.zeros(len(q), np.int64), centers, 32, stride, 0),
        cand)



@pytest.mark.parametrize("every,stride", [(2, 1), (3, 1), (2, 2)])
def test_annoy_rows_leave_no_query_out_of_the_pools_reach(maps, every, stride):
    """Every query is asked or has an asked query of its own map within the pool
    radius; on the grid's every-th rows and columns, about 1 / every^2 are asked."""
    centers = [hand_pixels(m, stride) for m in maps[:6]]
    frame = np.repeat(np.arange(6), [len(c) for c in centers])
    allc = np.concatenate(centers)
    ask = annoy_rows(frame, allc, 32, stride, every, 2)
    for j in range(len(allc)):
        near = (frame == frame[j]) & (np.abs(allc - allc[j]).max(1) <= 2 * stride)
        assert ask[near].any()
    grid = ((allc // stride) % every == 0).all(1)
    assert ask[grid].all() and ask.mean() < 1.5 / every ** 2 + 0.1
    assert annoy_rows(frame, allc, 32, stride, 1, 2).all()
    assert annoy_rows(frame, allc, 32, stride, every, 0).all()


def test_annoy_stride_asks_annoy_less_and_stride_one_is_the_full_search(small_dict, maps):
    """annoy_stride 1: annoy for every pixel, pooled, re-ranked, propagated (the search
    before annoy_stride existed, step by step here); 2: annoy for about a quarter of
    them, and a map of the dictionary still comes back unchanged."""
    noisy = corrupt_labels(maps[6:9], 3)
    asked = []
    real = small_dict.candidates

    def counting(queries, params=None):
        asked.append(len(queries))
        return real(queries, params)

    small_dict.candidates = counting
    try:
        full = SearchParams(n_candidates=16, search_k=2000, annoy_stride=1)
        got = restore_many(noisy, small_dict, window=7, search=full)
        n_all = asked.pop()
        for raw, r in zip(noisy, got):
            c = hand_pixels(raw)
            img = np.zeros(len(c), np.int64)
            q = extract_patches(raw, c, 11)
            cand = pool_candidates(small_dict, real(q, full), img, c, 32, 1, full.pool)
            ids, dist = small_dict.rerank(q, cand, centre=full.centre)
            ids, dist = propagate(small_dict, q, img, c, ids, dist, 1, full.propagate, 32,
                                  full.centre)
            np.testing.assert_array_equal(r.neighbours, ids)
            lab = apply_matches(raw, c, np.asarray(small_dict.patches[ids]), window=7,
                                raw_weight=r.settings["raw_weight"])[0]
            np.testing.assert_array_equal(r.labels, lab)
        assert r.settings["annoy_stride"] == 1
        half = SearchParams(n_candidates=16, search_k=2000, annoy_stride=2)
        restore_many(noisy, small_dict, window=7, search=half)
        assert asked.pop() < 0.5 * n_all
        same = restore_many(maps[3:4], small_dict, window=7, search=half)[0]
        np.testing.assert_array_equal(same.labels, maps[3])
        assert (same.distances == 0).all()
    finally:
        del small_dict.candidates



def test_annoy_stride_on_a_sampled_dictionary_leaves_no_query_without_a_match(maps, tmp_path):
    """With few patches kept, a neighbour's shifted candidates are mostly missing: a
    query that pooling leaves empty-handed is asked annoy itself."""
    enc = PatchEncoding(11, 1, 0)
    sparse = Dictionary.build(maps, tmp_path / "sparse", patch=11, encoding=enc,
                              max_patches=300, n_trees=2)
    noisy = corrupt_labels(maps[6:10], 5)
    for st in (2, 3):
        for r in restore_many(noisy, sparse, window=7,
                              search=SearchParams(n_candidates=4, search_k=200, annoy_stride=st)):
            assert (r.neighbours >= 0).all() and (r.neighbours < len(sparse)).all()


def test_dictionary_max_patches_and_cancel(maps, tmp_path):
    d = Dictionary.build(maps, tmp_path / "a", patch=11, max_patches=500, n_trees=2)
    assert len(d) == 500 and (np.asarray(d.where) >= 0).sum() >= 500
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        Dictionary.build(maps, tmp_path / "a", patch=11, n_trees=2, cancel=ev)
    assert not (tmp_path / "a" / "meta.json").exists()  # a half-rebuilt folder is not loadable
    with pytest.raises(FileNotFoundError, match="meta.json"):
        Dictionary.load(tmp_path / "a")


def test_dictionary_load_rejects_bad_folders(small_dict, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing/meta.json: not a patch dictionary"):
        Dictionary.load(tmp_path / "nothing")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "meta.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        Dictionary.load(bad)

    copy = tmp_path / "copy"
    Dictionary.build(small_dict.patches.maps, copy, patch=11, n_trees=2, storage="patches")
    np.save(copy / "patches.npy", np.zeros((3, 11, 11), np.uint8))
    with pytest.raises(ValueError, match="patches.npy"):
        Dictionary.load(copy)


# ---------------------------------------------------------------- restoration
def test_vote_counts_each_neighbour_once():
    pats = np.zeros((2, 5, 5), np.uint8)
    pats[0] = 4
    pats[1, :, :] = 9
    cnt = vote((6, 6), np.array([[2, 2], [2, 3]]), pats, window=3)
    assert cnt.shape == (6, 6, 21)
    assert cnt[2, 2, 4] == 1 and cnt[2, 2, 9] == 1  # both windows cover (2, 2)
    assert cnt[2, 4, 9] == 1 and cnt[2, 4, 4] == 0  # only the second reaches column 4
    assert cnt.sum() == 18


@pytest.mark.parametrize("backend,stride", [("exact", 1), ("exact", 2), ("annoy", 1),
                                            ("annoy", 2)])
def test_a_map_from_the_dictionary_is_returned_unchanged(small_dict, maps, backend, stride):
    r = restore(maps[3], small_dict, window=7, backend=backend, stride=stride,
                search=SearchParams(n_candidates=16, search_k=2000))
    np.testing.assert_array_equal(r.labels, maps[3])
    assert (r.distances == 0).all() and r.n_queries == len(hand_pixels(maps[3], stride))
    hand = maps[3] > 0
    assert (r.confidence[hand] == 1.0).all() and (r.votes[hand] > 0).all()
    n = restore(maps[3], small_dict, integrate=False, backend=backend)
    np.testing.assert_array_equal(n.labels, maps[3])


def test_integration_removes_isolated_noise_that_no_integration_keeps(maps, tmp_path):
    clean = maps[5]
    noisy = clean.copy()
    hand = np.argwhere(clean > 0)
    specks = hand[np.random.default_rng(4).choice(len(hand), 6, replace=False)]
    for r, c in specks:
        noisy[r, c] = 20 if clean[r, c] != 20 else 1
    # the dictionary holds the clean map's patches and, for each speck, the noisy patch
    # centred on it: a speck's own nearest patch repeats the speck
    pats = np.concatenate([extract_patches(clean, hand, 11), extract_patches(noisy, specks, 11)])
    d = Dictionary.from_patches(pats, tmp_path / "d", encoding=PatchEncoding(11, 1, 0),
                                n_trees=2)
    for backend in ("exact", "annoy"):
        search = SearchParams(n_candidates=16, search_k=4000)
        plain = restore(noisy, d, integrate=False, backend=backend, search=search)
        assert (plain.labels[specks[:, 0], specks[:, 1]] == noisy[specks[:, 0], specks[:, 1]]).all()
        integ = restore(noisy, d, window=7, stride=1, backend=backend, search=search,
                        raw_weight=0.0)  # the paper's plain majority
        np.testing.assert_array_equal(integ.labels, clean)
        assert (integ.confidence[specks[:, 0], specks[:, 1]] < 1).all()


def test_restore_edge_cases(small_dict, maps):
    empty = np.zeros((32, 32), np.uint8)
    r = restore(empty, small_dict, window=7)
    assert r.n_queries == 0 and (r.labels == 0).all() and (r.confidence == 0).all()
    with pytest.raises(ValueError, match="window"):
        restore(maps[0], small_dict, window=13)  # larger than the 11x11 patches
    with pytest.raises(ValueError, match="part ids"):
        restore(np.full((32, 32), 30, np.uint8), small_dict, window=7)
    # mask: pixels outside it never change
    mask = np.zeros((32, 32), bool)
    mask[:16] = True
    noisy = maps[2].copy()
    noisy[noisy > 0] = 1
    r = restore(noisy, small_dict, window=7, mask=mask)
    np.testing.assert_array_equal(r.labels[16:], noisy[16:])
    assert (r.labels[:16] != noisy[:16]).any()


def test_restore_many_reports_progress_and_cancels(small_dict, maps):
    seen = []
    out = restore_many(maps[:5], small_dict, window=7, batch=2,
                       progress=lambda d, t, m: seen.append((d, t)))
    assert len(out) == 5 and seen[-1] == (5, 5)
    for r, m in zip(out, maps[:5]):
        np.testing.assert_array_equal(r.labels, m)
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        restore_many(maps[:5], small_dict, window=7, cancel=ev)


def test_keep_silhouette_only_relabels_parts(maps, tmp_path):
    clean = maps[6]
    grown = clean.copy()
    ring = (cv2.dilate((clean > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & (clean == 0)
    extra = np.argwhere(ring)[::5]  # stray hand pixels just outside the silhouette
    grown[extra[:, 0], extra[:, 1]] = 1
    d = Dictionary.from_patches(extract_patches(clean, hand_pixels(clean), 11), tmp_path / "d",
                                encoding=PatchEncoding(11, 1, 0), n_trees=2)
    kept = restore(grown, d, window=7, backend="exact")
    assert (kept.labels > 0).sum() == (grown > 0).sum()  # the silhouette is untouched
    free = restore(grown, d, window=7, backend="exact", keep_silhouette=False)
    assert (free.labels[extra[:, 0], extra[:, 1]] == 0).mean() > 0.8  # strays voted away
    hand = clean > 0
    assert (free.labels[hand] == clean[hand]).mean() > 0.95


def test_bench_restore_runs_end_to_end_on_a_tiny_dictionary(capsys):
    """The bench command itself (the issue's acceptance measurement), shrunk: it builds,
    loads, restores, compares with exact search and reports its targets as JSON."""
    import json

    from handpose_core.cli.main import main

    assert main(["bench", "restore", "--json", "--images", "40", "--patches", "4000",
                 "--frames", "2", "--exact-frames", "1", "--sub-patches", "0",
                 "--crf-tune-maps", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dictionary"]["patches"] == 4000 and out["search"]["pool"] == 4
    assert out["search"]["search_k"] == 1000
    r = out["restore"]
    # 4,000 patches, 2 frames: a search that returned poor patches would fall below 0.95
    # agreement; the search before issue 25 (64 / 8000) found what exact search finds
    assert r["agreement"] >= 0.95 and r["recall"] >= 0.6
    ba = out["before_after"]
    assert ba["before"]["search"]["search_k"] == 8000 and ba["frames"] == 2
    assert ba["before"]["recall"] >= 0.9 and ba["before"]["agreement"] >= 0.95
    assert ba["after"]["agreement"] == r["agreement"]
    assert ba["previous"]["search"]["search_k"] == 2000 and ba["previous"]["search"]["pool"] == 3
    for n in ("before", "previous", "after"):  # CPU time beside wall time
        assert 0 < ba[n]["cpu_ms_per_frame"] and 0 < ba[n]["ms_per_frame"]
    assert r["cpu_ms_per_frame"] > 0 and not out["dictionary"]["reused"]
    assert ba["speedup"] == ba["before"]["ms_per_frame"] / ba["after"]["ms_per_frame"]
    assert r["agreement_min"] <= r["agreement"] and r["ms_per_frame"] > 0
    assert r["queries_per_frame"] > 50 and r["mean_exact_hamming"] > 0
    assert {"ms_per_frame", "agreement", "load_s", "patches"} <= set(out["targets"])
    assert not out["targets"]["patches"]["ok"]  # 4,000 < the 1 M the issue asks for
    assert any(row.get("pool") == 0 for row in out["search_tradeoff"])
    for m in ("crf-potts", "crf-overlap"):  # the CRF rows beside integration's
        c = out["crf"]["methods"][m]
        assert c["ms_per_frame"] > 0 and c["weight"] in [r["weight"] for r in c["tuning"]]
        assert out["accuracy"][m]["per_pixel"] == c["per_pixel"] and 0 < c["per_pixel"] <= 1


def test_bench_restore_reuses_the_dictionary_it_left(tmp_path, capsys):
    """--reuse with --out: a second run loads the dictionary the first one built (same
    maps and size) and finds the same matches; other maps build anew."""
    import json

    from handpose_core.cli.main import main

    base = ["bench", "restore", "--json", "--images", "40", "--patches", "4000",
            "--frames", "2", "--exact-frames", "1", "--sub-patches", "0", "--no-crf",
            "--out", str(tmp_path), "--reuse"]
    assert main(base) == 0
    first = json.loads(capsys.readouterr().out)
    built = (tmp_path / "dictionary" / "index.ann").stat().st_mtime_ns
    assert main(base) == 0
    second = json.loads(capsys.readouterr().out)
    assert not first["dictionary"]["reused"] and second["dictionary"]["reused"]
    assert (tmp_path / "dictionary" / "index.ann").stat().st_mtime_ns == built
    assert second["restore"]["agreement"] == first["restore"]["agreement"]
    assert main(base[:4] + ["41"] + base[5:]) == 0  # other maps: built again
    assert not json.loads(capsys.readouterr().out)["dictionary"]["reused"]


def test_part_even_sampling_balances_centre_parts(maps, tmp_path):
    uni = Dictionary.build(maps, tmp_path / "u", patch=11, max_patches=400, n_trees=2)
    even = Dictionary.build(maps, tmp_path / "p", patch=11, max_patches=400, n_trees=2,
                            sample="part")
    assert len(even) == len(uni) == 400 and even.meta["sample"] == "part"

    def centre_counts(d):
        return np.bincount(np.asarray(d.patches[:])[:, 5, 5], minlength=21)[1:]

    cu, ce = centre_counts(uni), centre_counts(even)
    # uniform sampling follows the parts' areas (palm first); even sampling levels them
    assert cu.max() > 2 * ce.max()
    # a rare part (fewer uniform picks than an even share) gets at least as many patches:
    # all its candidates or the common level, both >= what uniform sampling drew of it
    rare = (cu > 0) & (cu <= 400 // 21)
    assert rare.sum() >= 3 and (ce[rare] >= cu[rare]).all(), (cu, ce)
    assert ce.max() - np.sort(ce)[-2] <= 1 or ce.max() <= 400 // (ce > 0).sum() + 1
    with pytest.raises(ValueError, match="sampling"):
        Dictionary.build(maps, tmp_path / "x", patch=11, sample="bogus")


def test_part_even_takes_small_parts_whole_and_levels_the_rest():
    """Water-filling: a part with fewer items than the level gives all of them; the
    others give the level (within one), and the total is k."""
    from handpose_core.restoration.dictionary import _part_even

    part = np.repeat(np.array([1, 8, 12, 3], np.uint8), [1000, 50, 5, 300])
    part = part[np.random.default_rng(0).permutation(len(part))]
    picked = _part_even(part, 200, np.random.default_rng(1))
    assert len(picked) == 200 and len(set(picked.tolist())) == 200
    assert (np.diff(picked) > 0).all()  # sorted positions
    got = dict(zip(*np.unique(part[picked], return_counts=True)))
    # 5 + 50 whole, (200 - 55) / 2 = 72.5 -> 73 and 72 for the two large parts
    assert got[12] == 5 and got[8] == 50 and sorted([got[1], got[3]]) == [72, 73]


def test_vote_weights_scale_each_matchs_votes():
    centers = np.array([[5, 5], [5, 6]])
    patches = np.zeros((2, 5, 5), np.uint8)
    patches[0] = 3
    patches[1] = 7
    plain = vote((12, 12), centers, patches, 3)
    assert plain[5, 5, 3] == 1 and plain[5, 5, 7] == 1  # both reach (5, 5)
    w = vote((12, 12), centers, patches, 3, weights=np.array([1.0, 0.25]))
    assert w[5, 5, 3] == 1.0 and w[5, 5, 7] == 0.25
    raw = np.full((12, 12), 1, np.uint8)
    from handpose_core.restoration.restore import apply_matches

    lab, _, _ = apply_matches(raw, centers, patches, window=3, vote_weights=np.array([1.0, 0.25]))
    assert lab[5, 5] == 3 and lab[5, 7] == 7  # (5, 7) hears only the second match


def test_raw_prior_in_the_vote():
    """``raw_weight`` w: another label must outvote the raw one by w x the pixel's votes."""
    from handpose_core.restoration.restore import decide

    raw = np.full((1, 3), 2, np.uint8)
    counts = np.zeros((1, 3, 21), np.int32)
    counts[0, :, 2] = 4  # the raw label
    counts[0, 0, 5] = 5  # a narrow majority for 5
    counts[0, 1, 5] = 20  # a clear one
    counts[0, 2, 0] = 50  # background: not counted when the silhouette is kept
    mask = np.ones((1, 3), bool)
    plain = decide(raw, counts, mask)[0]
    assert plain[0].tolist() == [5, 5, 2]
    prior = decide(raw, counts, mask, raw_weight=0.5)[0]
    assert prior[0].tolist() == [2, 5, 2]  # 5 vs 4 + 4.5: raw stays; 20 vs 4 + 12: 5 wins
    assert (decide(raw, counts, mask, raw_weight=1.0)[0] == raw).all()


@pytest.mark.slow
def test_bench_ceiling_reports_a_row_per_source_map_count(tmp_path, capsys):
    import json

    from handpose_core.cli.main import main
    from handpose_core.render import write_synthetic_store

    write_synthetic_store(tmp_path / "store", 120, seed=3)
    assert main(["bench", "ceiling", "--store", str(tmp_path / "store"), "--images", "40,120",
                 "--patches", "4000", "--frames", "3", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert [r["maps"] for r in rep["rows"]] == [40, 120]
    for r in rep["rows"]:
        assert 0.2 < r["ceiling"]["per_pixel"] <= 1.0 and r["patches"] == 4000
        assert r["raw"] == rep["rows"][0]["raw"]  # the same held-out noisy maps
    assert main(["bench", "ceiling", "--store", str(tmp_path / "store"), "--images", "500"]) == 2


def test_table2_rows_come_from_the_same_matches(maps, tmp_path):
    """nn_restorations (evaluate's Table 2 and the dashboard's rows): the integrated maps
    are restore_many's, and the no-integration maps are the same matches' centre labels;
    re-voting with restore_many's own settings gives the integrated maps back."""
    from handpose_core.restoration.ablation import nn_restorations
    from handpose_core.restoration.restore import DEFAULT_RAW_WEIGHT, apply_matches, restore_many

    small_dict = Dictionary.build(maps, tmp_path / "d", patch=19,
                                  encoding=PatchEncoding(19, 3, 0, "cw6"), n_trees=2,
                                  max_patches=3000, seed=0)  # a patch fits the default window
    raw = render_maps(4, size=32, seed=9)  # hands the dictionary has not seen
    nn = nn_restorations(raw, small_dict, backend="exact")
    ref = restore_many(raw, small_dict, backend="exact")
    assert len(nn.restorations) == 4
    np.testing.assert_array_equal(nn.integrated, np.stack([r.labels for r in ref]))
    for i, r in enumerate(nn.restorations):
        np.testing.assert_array_equal(
            nn.plain[i], apply_matches(raw[i], r.centers, small_dict.patches[r.neighbours],
                                       integrate=False)[0])
    np.testing.assert_array_equal(nn.revote(raw, small_dict, raw_weight=DEFAULT_RAW_WEIGHT),
                                  nn.integrated)
    assert not np.array_equal(nn.plain, nn.integrated)  # the two rows differ


# ---------------------------------------------------------------- restoring at the dictionary's hand size
def test_hand_zoom_matches_the_reference_area():
    from handpose_core.restoration.restore import hand_zoom, unzoom, zoom_map

    m = np.zeros((48, 48), np.uint8)
    m[14:34, 14:34] = 1  # 400 hand pixels
    m[14:18, 14:34] = 6
    z = hand_zoom(m, 100.0)
    assert z is not None and z[0] == pytest.approx(0.5) and z[1:] == pytest.approx((23.5, 23.5))
    q = zoom_map(m, z)
    assert abs(int((q > 0).sum()) - 100) <= 25  # half the side: a quarter of the area
    assert (q == 6).any() and q[0].max() == 0
    back = unzoom(q, z)  # read back at the original pixels: the same hand, coarser
    assert ((back > 0) == (m > 0)).mean() > 0.95 and ((back == 6) == (m == 6)).mean() > 0.95
    assert hand_zoom(m, 405.0) is None  # within 2 %: not zoomed
    assert hand_zoom(m, None) is None and hand_zoom(np.zeros_like(m), 100.0) is None
    assert hand_zoom(m, 1e6)[0] == 2.0  # clipped


def test_restoring_at_the_dictionary_hand_size_recovers_an_enlarged_map(tmp_path):
    """A map twice the dictionary's hand size: searched at its own scale its parts match
    nothing; zoomed to the dictionary's size it restores (nearly) to itself."""
    from handpose_core.restoration.restore import dictionary_hand_area, hand_zoom, zoom_map

    src = render_maps(40, size=48, seed=3)
    d = Dictionary.build(src, tmp_path / "d", patch=15, encoding=PatchEncoding(15, 2, 0, "cw6"),
                         n_trees=4, max_patches=None, seed=0)
    area = dictionary_hand_area(d)
    assert area == float(np.median((src > 0).sum(axis=(1, 2))))
    small = src[7]
    big = zoom_map(small, (1.6, *np.argwhere(small > 0).mean(0)))
    assert hand_zoom(big, area) is not None
    noisy = corrupt_labels(big[None], 5)[0]
    noisy[big == 0] = 0
    noisy[(big > 0) & (noisy == 0)] = 1
    kw = dict(window=9, search=SearchParams(n_candidates=16, search_k=2000), raw_weight=0.0)
    acc = {}
    for scale in ("none", "hand"):
        r = restore(noisy, d, scale=scale, **kw)
        acc[scale] = (r.labels == big)[big > 0].mean()
        assert r.settings["scale"] == scale and (r.zoom is None) == (scale == "none")
    assert acc["hand"] > acc["none"]
    with pytest.raises(ValueError, match="scale"):
        restore(noisy, d, scale="twice", window=9)
