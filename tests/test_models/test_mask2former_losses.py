"""Mask2FormerLosses and uncertain_point_coords against mmdet's originals.

Same seed, same random draws: the targets are equal, the sampled points
are the same set, the losses equal up to float rounding.
"""
import pytest
import torch
from mmengine.structures import InstanceData

from conftest import load_config
from mmdet.models.dense_heads import Mask2FormerHead
from mmdet.models.utils import get_uncertain_point_coords_with_randomness
from mmdet.registry import MODELS
from rap_sam.models.utils import uncertain_point_coords

R18 = 'rap-sam_r18_8xb2-12e_coco-panoptic.py'


@pytest.fixture(scope='module')
def head():
    torch.manual_seed(0)
    return MODELS.build(load_config(R18).model).panoptic_head


def batch(head, num_imgs=2, num_gts=(5, 3), size=(48, 72)):
    torch.manual_seed(3)
    h, w = size
    cls_scores = torch.randn(num_imgs, head.num_queries, head.num_classes + 1)
    mask_preds = torch.randn(num_imgs, head.num_queries, h, w) * 3
    gts = [
        InstanceData(labels=torch.randint(0, head.num_classes, (n, )),
                     masks=torch.rand(n, h * 4, w * 4) > 0.5)
        for n in num_gts
    ]
    metas = [dict(img_shape=(h * 4, w * 4))] * num_imgs
    return cls_scores, mask_preds, gts, metas


def test_uncertain_points_are_mmdets_points():
    logits = torch.randn(6, 1, 48, 72) * 4
    torch.manual_seed(1)
    expected = get_uncertain_point_coords_with_randomness(
        logits, None, 1000, 3.0, 0.75)
    torch.manual_seed(1)
    got = uncertain_point_coords(logits, 1000, 3.0, 0.75)
    assert got.shape == expected.shape == (6, 1000, 2)

    def as_sets(coords):  # rows as sorted (x, y) pairs
        keys = coords[..., 0] * 2 + coords[..., 1]
        return torch.sort(keys, dim=1).values

    assert torch.equal(as_sets(got[:, :750]), as_sets(expected[:, :750]))
    assert torch.equal(got[:, 750:], expected[:, 750:])


def test_targets_equal_mmdets(head):
    cls_scores, mask_preds, gts, metas = batch(head)
    for i in range(len(gts)):
        torch.manual_seed(7)
        expected = Mask2FormerHead._get_targets_single(
            head, cls_scores[i], mask_preds[i], gts[i], metas[i])
        torch.manual_seed(7)
        got = head._get_targets_single(cls_scores[i], mask_preds[i], gts[i],
                                       metas[i])
        for a, b in zip(got[:6], expected[:6]):
            assert torch.equal(a, b)
        assert torch.equal(got[6].pos_assigned_gt_inds,
                           expected[6].pos_assigned_gt_inds)


def test_losses_equal_mmdets(head):
    cls_scores, mask_preds, gts, metas = batch(head)
    torch.manual_seed(11)
    expected = Mask2FormerHead._loss_by_feat_single(head, cls_scores,
                                                    mask_preds, gts, metas)
    torch.manual_seed(11)
    got = head._loss_by_feat_single(cls_scores, mask_preds, gts, metas)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=0)
