"""ChannelsLastHook: a CPU model's convolutions in NHWC, the same training."""
import logging
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import HOOKS

from conftest import REPO
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from rap_sam.engine.hooks import ChannelsLastHook
from rap_sam.inference import use_random_embeddings

TRAIN = 'configs/rap_sam/rap-sam_r18_8xb2-12e_coco-panoptic.py'


def _runner(model):
    return SimpleNamespace(model=model, logger=logging.getLogger('test'))


def _conv_weights(model):
    return [p for p in model.parameters() if p.dim() == 4]


def test_configs_register_the_hook():
    cfg = Config.fromfile(str(REPO / TRAIN))
    assert isinstance(HOOKS.build(cfg.default_hooks.memory_format),
                      ChannelsLastHook)


def test_only_the_listed_devices_convert():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(
        8, 4, 1))
    ChannelsLastHook(devices=('cuda', )).before_run(_runner(model))
    assert model[0].weight.is_contiguous()
    ChannelsLastHook().before_run(_runner(model))
    assert all(
        w.is_contiguous(memory_format=torch.channels_last)
        for w in _conv_weights(model))
    assert not model[0].weight.is_contiguous()  # 3x3: NHWC differs


def test_wrapped_models_keep_their_layout():
    # DDP lays out its gradient buckets when it wraps the model
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3))
    ChannelsLastHook().before_run(_runner(torch.nn.DataParallel(model)))
    assert model[0].weight.is_contiguous()


def test_training_steps_equal_in_either_layout():
    # the runner builds the optimiser before the hooks' before_run: the
    # converted parameters must still be the ones it updates, and the
    # steps must be those of the NCHW model up to float rounding
    torch.manual_seed(0)
    cfg = use_random_embeddings(Config.fromfile(str(REPO / TRAIN)))
    cfg.model.data_preprocessor.batch_augments = None
    models = [MODELS.build(cfg.model).train() for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    wrappers = [build_optim_wrapper(m, cfg.optim_wrapper) for m in models]
    ChannelsLastHook().before_run(_runner(models[1]))
    weight = models[1].backbone.conv1.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    head = models[0].panoptic_head
    data = demo_mm_inputs(2, [(3, 96, 128)] * 2, [3, 3],
                          head.num_things_classes, with_mask=True,
                          with_semantic=True)
    for s in data['data_samples']:
        s.gt_sem_seg.sem_seg = s.gt_sem_seg.sem_seg % head.num_classes
    before = weight.detach().clone()
    for step in range(2):
        losses = []
        for model, wrapper in zip(models, wrappers):
            torch.manual_seed(step)  # the same sampled points
            losses.append(model.train_step(data, wrapper)['loss'])
        assert losses[1].item() == pytest.approx(losses[0].item(), rel=1e-4)
    assert not torch.equal(weight, before)  # the optimiser updated it
    assert weight.is_contiguous(memory_format=torch.channels_last)
    # AdamW moves a parameter by up to about lr (1e-4) a step whatever its
    # gradient's size, so near-zero gradients that differ by rounding may
    # move the two copies apart by that much, no more
    for (name, a), b in zip(models[0].named_parameters(),
                            models[1].parameters()):
        assert (b - a).abs().max().item() < 2e-4, name
