"""BinaryCrossEntropyCost equals mmdet's CrossEntropyLossCost(use_sigmoid)."""
import pytest
import torch
from mmengine.structures import InstanceData

from mmdet.models.task_modules import CrossEntropyLossCost, HungarianAssigner
from rap_sam.models.task_modules import BinaryCrossEntropyCost


@pytest.mark.parametrize('scale', [1., 8., 200.])
def test_cost_equals_mmdets_on_hard_and_soft_targets(scale):
    torch.manual_seed(0)
    logits = torch.randn(100, 1, 3000) * scale
    hard = (torch.rand(7, 3000) > 0.6).float()
    soft = torch.rand(5, 3000)
    mmdet_cost = CrossEntropyLossCost(use_sigmoid=True, weight=5.)
    ours = BinaryCrossEntropyCost(weight=5.)
    for targets in (hard, soft):
        gt = InstanceData(masks=targets)
        pred = InstanceData(masks=logits)
        expected = mmdet_cost(pred, gt)
        got = ours(pred, gt)
        assert got.shape == (100, len(targets))
        torch.testing.assert_close(got, expected, rtol=1e-5,
                                   atol=1e-6 * scale)


def test_assignment_equals_mmdets():
    torch.manual_seed(1)
    pred = InstanceData(scores=torch.randn(100, 81),
                        masks=torch.randn(100, 12544) * 4)
    gt = InstanceData(labels=torch.randint(0, 80, (9, )),
                      masks=(torch.rand(9, 12544) > 0.5).float())

    def assigner(cost_type):
        return HungarianAssigner(match_costs=[
            dict(type='ClassificationCost', weight=2.),
            dict(type=cost_type, weight=5., use_sigmoid=True),
            dict(type='DiceCost', weight=5., pred_act=True, eps=1.)
        ])

    expected = assigner('CrossEntropyLossCost').assign(pred, gt)
    got = assigner('BinaryCrossEntropyCost').assign(pred, gt)
    assert torch.equal(got.gt_inds, expected.gt_inds)
    assert torch.equal(got.labels, expected.labels)


def test_softmax_cost_is_refused():
    with pytest.raises(ValueError, match='use_sigmoid'):
        BinaryCrossEntropyCost(use_sigmoid=False)
