"""Tests of the SeaFormer backbone."""
import math

import pytest
import torch
from mmdet.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

import rap_sam.models.backbones  # noqa: F401

ARCH_CHANNELS = {
    'tiny': [16, 32, 64, 128],
    'small': [24, 48, 96, 160],
    'base': [32, 64, 128, 192],
    'large': [64, 128, 192, 256],
}
STRIDES = [4, 8, 16, 32]


def build(**kwargs) -> torch.nn.Module:
    return MODELS.build(dict(type='SeaFormer', **kwargs))


@pytest.mark.parametrize('arch', list(ARCH_CHANNELS))
def test_seaformer_arch(arch):
    torch.manual_seed(0)
    model = build(arch=arch, drop_path_rate=0.)
    model.init_weights()
    assert model.out_channels == ARCH_CHANNELS[arch]

    # Gradients reach every trainable parameter (train mode, 128x128 keeps
    # more than one value per channel for BN at stride 64).
    model.train()
    outs = model(torch.rand(1, 3, 128, 128))
    loss = sum((out * torch.randn_like(out)).sum() for out in outs)
    loss.backward()
    for name, param in model.named_parameters():
        assert param.requires_grad
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name

    model.eval()
    with torch.no_grad():
        # Channels and strides at 224x224.
        outs = model(torch.rand(1, 3, 224, 224))
        assert len(outs) == 4
        for out, channels, stride in zip(outs, ARCH_CHANNELS[arch], STRIDES):
            assert out.shape == (1, channels, 224 // stride, 224 // stride)

        # Odd and small sizes run; levels are rounded up.
        for height, width in [(97, 131), (32, 32)]:
            outs = model(torch.rand(1, 3, height, width))
            for out, channels, stride in zip(outs, ARCH_CHANNELS[arch],
                                             STRIDES):
                assert out.shape == (1, channels, math.ceil(height / stride),
                                     math.ceil(width / stride))


def test_seaformer_odd_size_train():
    model = build(arch='tiny').train()
    outs = model(torch.rand(2, 3, 97, 131))
    assert [out.shape[-2:] for out in outs] == [(25, 33), (13, 17), (7, 9),
                                                (4, 5)]


def test_seaformer_out_indices():
    model = build(arch='tiny', out_indices=(1, 3)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert [out.shape[1] for out in outs] == [32, 128]
    assert [out.shape[-1] for out in outs] == [8, 2]
    with pytest.raises(ValueError):
        build(arch='tiny', out_indices=(4, ))


@pytest.mark.parametrize('frozen_stages', [0, 2, 4])
def test_seaformer_frozen_stages(frozen_stages):
    model = build(arch='tiny', frozen_stages=frozen_stages)
    model.train()
    stages = [[model.stem], [model.layer1], [model.layer2], [model.layer3],
              [model.layer4, model.layer5, model.fusion]]
    for index, modules in enumerate(stages):
        frozen = index <= frozen_stages
        for module in modules:
            for param in module.parameters():
                assert param.requires_grad != frozen
            for mod in module.modules():
                if isinstance(mod, _BatchNorm):
                    assert mod.training != frozen
    # 128x128 keeps >1 value per channel for train-mode BN at stride 64.
    outs = model(torch.rand(1, 3, 128, 128))
    assert len(outs) == 4
    with pytest.raises(ValueError):
        build(arch='tiny', frozen_stages=5)


def test_seaformer_norm_eval():
    model = build(arch='tiny', norm_eval=True)
    model.train()
    assert all(not mod.training for mod in model.modules()
               if isinstance(mod, _BatchNorm))


def test_seaformer_unknown_arch():
    with pytest.raises(ValueError, match='huge'):
        build(arch='huge')
