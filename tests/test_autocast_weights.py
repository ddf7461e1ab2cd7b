"""Layers that keep autocast's casts of their weights across calls."""
import copy

import numpy as np
import pytest
import torch
from torch import nn

from rap_sam.inference import (RapSAMPredictor, build_model,
                               keep_autocast_weights)
from rap_sam.inference import autocast_weights

R18 = 'configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py'


def _layers():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1),
        nn.Flatten(), nn.Linear(4 * 6 * 5, 7), nn.Linear(7, 3, bias=False))


def _held(net):
    """The cast tensors each set-up layer of ``net`` holds."""
    return [v[1] for layer in net.modules()
            for v in getattr(layer, autocast_weights._CACHE, {}).values()]


def test_bf16_outputs_equal_autocast_bit_for_bit_and_casts_are_reused():
    plain, kept = _layers(), _layers()
    assert keep_autocast_weights(kept) == 4
    assert keep_autocast_weights(kept) == 0  # already set up
    x = torch.randn(2, 3, 6, 5)
    with torch.no_grad(), torch.autocast('cpu', torch.bfloat16):
        expected = plain(x)
        first = kept(x)
        held = _held(kept)
        second = kept(x)
    assert first.dtype == torch.bfloat16
    assert torch.equal(first, expected) and torch.equal(second, expected)
    assert len(held) == 4
    assert all(t.dtype == torch.bfloat16 for t in held)
    # the second call reused the first call's casts
    assert all(a is b for a, b in zip(held, _held(kept)))
    # outside autocast the layers run on their fp32 weights
    with torch.no_grad():
        assert torch.equal(kept(x), plain(x))
    assert kept.state_dict().keys() == plain.state_dict().keys()


def test_a_changed_weight_is_cast_again():
    plain, kept = _layers(), _layers()
    keep_autocast_weights(kept)
    x = torch.randn(2, 3, 6, 5)
    with torch.no_grad(), torch.autocast('cpu', torch.bfloat16):
        kept(x)
        # in place (an optimiser step, load_state_dict) and reassigned
        for net in (plain, kept):
            net[0].weight.mul_(-2.)
            net[4].bias.add_(1.)
            net[5].weight.data = net[5].weight.data.t().contiguous().t()
        assert torch.equal(kept(x), plain(x))
    kept.load_state_dict(_layers().state_dict())
    with torch.no_grad(), torch.autocast('cpu', torch.bfloat16):
        assert torch.equal(kept(x), _layers()(x))


def test_gradients_reach_the_weights_under_autocast():
    plain, kept = _layers(), _layers()
    keep_autocast_weights(kept)
    x = torch.randn(2, 3, 6, 5)
    for net in (plain, kept):
        with torch.autocast('cpu', torch.bfloat16):
            net(x).float().sum().backward()
    for p, q in zip(plain.parameters(), kept.parameters()):
        assert q.grad is not None and torch.equal(p.grad, q.grad)


def test_a_deep_copy_keeps_its_own_casts():
    kept = _layers()
    keep_autocast_weights(kept)
    x = torch.randn(2, 3, 6, 5)
    twin = copy.deepcopy(kept)
    with torch.no_grad():
        twin[5].weight.zero_()
        with torch.autocast('cpu', torch.bfloat16):
            assert not torch.equal(kept(x), twin(x))
            assert twin(x).abs().sum() == 0


@pytest.fixture(scope='module')
def model():
    from conftest import REPO
    torch.manual_seed(0)
    return build_model(str(REPO / R18), random_weights=True)


def test_bf16_predictor_masks_equal_plain_autocast(model, monkeypatch):
    """The predictor sets the layers up; its bf16 masks are those of
    autocast casting the weights at each call."""
    rgb = np.random.default_rng(0).integers(0, 255, (96, 128, 3), np.uint8)
    clicks = [[[40, 30]], [[90, 60]]]
    results = []
    for setup in (lambda m: 0, keep_autocast_weights):
        monkeypatch.setattr(
            'rap_sam.inference.predictor.keep_autocast_weights', setup)
        net = copy.deepcopy(model)
        pred = RapSAMPredictor(net, scale=(160, 128), precision='bf16')
        pred.set_image(rgb)
        results.append((pred.predict(clicks), pred.predict(clicks),
                        pred.panoptic()))
        kept = any(
            hasattr(m, autocast_weights._CACHE) for m in net.modules())
        assert kept == (setup is keep_autocast_weights)
    (a1, a2, pa), (b1, b2, pb) = results
    for a, b in ((a1, b1), (a2, b2)):
        np.testing.assert_array_equal(a['masks'], b['masks'])
        np.testing.assert_array_equal(a['iou_scores'], b['iou_scores'])
    np.testing.assert_array_equal(pa['panoptic_seg'], pb['panoptic_seg'])


def test_an_fp32_predictor_leaves_the_layers_alone(model):
    net = copy.deepcopy(model)
    RapSAMPredictor(net, scale=(160, 128), precision='fp32')
    assert not any(
        hasattr(m, autocast_weights._CACHE) for m in net.modules())
