"""The joint prior (restoration.joint_prior) and the joint-prior restoration."""

from __future__ import annotations

import numpy as np
import pytest

from handpose_core.datasets.crop import crop_transform
from handpose_core.restoration import crf
from handpose_core.restoration import joint_prior as jp
from handpose_core.restoration.restore import apply_matches
from handpose_core.skeleton import PALM_CENTRE, joints_36_to_14

INDEX, MIDDLE = (5, 6, 7, 8), (9, 10, 11, 12)


@pytest.fixture(scope="module")
def hands():
    from handpose_core.render import render_crops

    r = render_crops(4, seed=5, style="clean")
    tfs = [crop_transform(j[PALM_CENTRE], 300.0, 48) for j in r["joints_uvd"]]
    return r["labels"], r["depth"], [joints_36_to_14(j) for j in r["joints_uvd"]], tfs


def _swap_index_middle(j14):
    j = np.array(j14, copy=True)
    j[[4, 5, 6, 7]] = j[[6, 7, 4, 5]]  # middle tip / PIP <-> index tip / PIP
    return j


def _index_as_middle(labels):
    bad = labels.copy()
    for a, b in zip(INDEX, MIDDLE):
        bad[labels == a] = b
    return bad


def test_the_prior_alone_labels_a_rendered_hand_and_a_broken_one_does_not(hands):
    labels, depth, joints, tfs = hands
    right, broken = [], []
    for lab, d, j, tf in zip(labels, depth, joints, tfs):
        hand = lab > 0
        for js, out in ((j, right), (_swap_index_middle(j), broken)):
            lp, _ = jp.frame_prior(js, tf, d, hand)
            guess = np.argmax(lp[..., 1:], axis=2) + 1
            out.append(np.mean(guess[hand] == lab[hand]))
    assert np.mean(right) > 0.6  # the joints alone say a lot (docs: "joints only")
    assert np.mean(broken) < np.mean(right) - 0.1


def test_a_whole_finger_labelled_as_its_neighbour_is_repaired(hands):
    """The coherent error patches cannot fix (issue 22): the joints do; with the index
    and middle joints swapped (a broken prior) the error stays."""
    labels, depth, joints, tfs = hands
    no_votes = np.zeros((48, 48, 21), np.float32)
    for lab, d, j, tf in zip(labels, depth, joints, tfs):
        idx = np.isin(lab, INDEX)
        if idx.sum() < 5:
            continue
        bad = _index_as_middle(lab)
        lp, _ = jp.frame_prior(j, tf, d, bad > 0)
        fixed = jp.combine(bad, no_votes, lp, bad > 0, raw_weight=0.75)[0]
        assert np.isin(fixed[idx], INDEX).mean() > 0.8
        lp_broken, _ = jp.frame_prior(_swap_index_middle(j), tf, d, bad > 0)
        kept = jp.combine(bad, no_votes, lp_broken, bad > 0, raw_weight=0.75)[0]
        assert np.isin(kept[idx], INDEX).mean() < 0.2
        assert ((fixed > 0) == (bad > 0)).all()  # no silhouette given: kept


def test_weight_zero_is_the_vote_and_votes_can_outweigh_a_weak_prior(hands):
    labels, depth, joints, tfs = hands
    lab, d, j, tf = labels[0], depth[0], joints[0], tfs[0]
    bad = _index_as_middle(lab)
    lp, _ = jp.frame_prior(j, tf, d, bad > 0)
    votes = np.zeros((48, 48, 21), np.float32)
    votes[..., 3] = 10.0  # every pixel's patches vote thumb proximal
    out = jp.combine(bad, votes, lp, bad > 0, raw_weight=0.0, weight=0.0)[0]
    assert (out[bad > 0] == 3).all() and (out[bad == 0] == 0).all()


def test_the_joint_silhouette_grows_near_the_skeleton_and_cuts_clutter(hands):
    labels, depth, joints, tfs = hands
    lab, d, j, tf = labels[0], depth[0], joints[0], tfs[0]
    dist = jp.part_distances(jp.crop_joints(j, tf), 48, jp.DEFAULT_PARAMS, d, 1.0)
    hand = lab > 0
    shrunk = hand.copy()
    shrunk[np.nonzero(hand)[0][:10], np.nonzero(hand)[1][:10]] = False  # f_s missed some
    clutter = hand.copy()
    clutter[:3, :3] = True  # a far corner called hand
    grown = jp.joint_silhouette(shrunk, d, dist, grow=1.5, cut=0)
    assert grown[hand].sum() > shrunk[hand].sum() and (grown >= shrunk).all()
    cut = jp.joint_silhouette(clutter, d, dist, grow=0, cut=6.0)
    assert not cut[:3, :3].any() and (cut <= clutter).all()
    assert (jp.joint_silhouette(hand, d, dist, grow=0, cut=0) == hand).all()
    out = jp.combine(lab, np.zeros((48, 48, 21), np.float32),
                     jp.log_prior_from_distances(dist, jp.DEFAULT_PARAMS), hand,
                     silhouette=cut)[0]
    assert ((out > 0) == cut).all()


def test_apply_matches_with_a_prior_uses_the_patches_votes(hands):
    labels = hands[0]
    lab = labels[0]
    centers = np.argwhere(lab > 0)[:5]
    patches = np.zeros((5, 27, 27), np.uint8)
    patches[:] = 4  # every patch says thumb distal
    flat = np.zeros((48, 48, 21), np.float32)  # a prior with no preference
    out = apply_matches(lab, centers, patches, window=17, log_prior=flat, prior_weight=4.0)[0]
    voted = np.zeros((48, 48), bool)
    for r, c in centers:
        voted[max(0, r - 8):r + 9, max(0, c - 8):c + 9] = True
    assert (out[voted & (lab > 0)] == 4).all()
    assert (out[~voted] == lab[~voted]).all()


def test_bad_joints_and_shapes_are_refused(hands):
    labels, depth, joints, tfs = hands
    with pytest.raises(ValueError, match="14 finite"):
        jp.crop_joints(np.zeros((13, 3)), tfs[0])
    j = np.array(joints[0], copy=True)
    j[2, 0] = np.nan
    with pytest.raises(ValueError, match="14 finite"):
        jp.crop_joints(j, tfs[0])
    with pytest.raises(ValueError, match="z"):
        jp.part_distances(np.zeros((14, 2)), 48, depth=depth[0], depth_scale=1.0)
    from handpose_core.restoration.restore import restore_many

    with pytest.raises(ValueError, match="log priors"):
        restore_many(labels[:1], _NoDictionary(), log_priors=np.zeros((1, 48, 48, 3)))


class _NoDictionary:
    patch = 27
    where = sources = None


def test_the_stage_defaults_to_joint_prior_and_keeps_integration_beside_it(make_nyu_project):
    from handpose_core.render import render_crops
    from handpose_core.restoration.dictionary import Dictionary
    from handpose_core.stages import restore as restore_stage
    from handpose_core.stages.restore import RestoreSettings

    project = make_nyu_project(2)
    Dictionary.build(render_crops(40, seed=3)["labels"], project.path("dictionary"),
                     max_patches=4000, n_trees=2)
    assert RestoreSettings().method == crf.JOINT_PRIOR
    prior = restore_stage.run(project, RestoreSettings(limit=2))
    integ = restore_stage.run(project, RestoreSettings(limit=2, method=crf.INTEGRATION))
    assert prior.method == crf.JOINT_PRIOR and integ.method == crf.INTEGRATION
    assert prior.run_key != integ.run_key and integ.restored == 2
    f = project.frames()[0]
    primary = project.restoration(f.id)  # what fine-tuning and the studio use
    assert primary.method == crf.JOINT_PRIOR and primary.details["prior_weight"] == 4.0
    assert project.restoration(f.id, crf.INTEGRATION).method == crf.INTEGRATION
    assert project.restoration_methods(f.id) == [crf.JOINT_PRIOR, crf.INTEGRATION]
    other = restore_stage.run(project, RestoreSettings(limit=1, prior_weight=1.0))
    assert other.restored == 1 and other.run_key != prior.run_key  # keyed by the prior
