"""End to end on the real sample: the joint config's pipelines and batch
sampler feed RAP-SAM one task per batch, and every task gives finite
losses."""
import copy
import random

import numpy as np
import pytest
import torch
from mmengine.runner import Runner

from joint_data import (coco_sample_dataset, joint_config, small_pipeline,
                        source_pipeline, write_ytvis_sample)
from mmdet.registry import DATASETS, MODELS
from mmdet.structures import DetDataSample, TrackDataSample

# pycocotools decoding the YouTube-VIS style masks under numpy 2.
pytestmark = pytest.mark.filterwarnings(
    'ignore:__array__ implementation:DeprecationWarning')
H, W = 192, 256
RATIO_RANGE = (0.5, 1.5)
TASKS = ['video', 'video', 'prompt', 'panoptic']


def panoptic_pipeline(prompt_pipeline):
    """The prompt pipeline without prompts: plain panoptic images in the
    merged label space."""
    pipeline = [
        t for t in prompt_pipeline
        if t['type'] not in ('SamplePrompts', 'PackPromptInputs')
    ]
    pipeline.insert(2,
                    dict(type='MapToMergedVocabulary', source='coco_panoptic'))
    return pipeline + [dict(type='PackDetInputs')]


@pytest.fixture(scope='module')
def cfg():
    return joint_config()


@pytest.fixture(scope='module')
def train_loader(cfg, tmp_path_factory):
    """The config's training dataloader (built as the runner builds it) on
    the real sample: pseudo videos, prompts and plain panoptic images from
    the two COCO images, and a two-frame YouTube-VIS style video."""
    pipelines = [
        small_pipeline(
            source_pipeline(cfg, i), size=(H, W), ratio_range=RATIO_RANGE)
        for i in range(3)
    ]
    ann_file, img_dir = write_ytvis_sample(tmp_path_factory.mktemp('ytvis'))
    loader_cfg = copy.deepcopy(cfg.train_dataloader.to_dict())
    ytvis = loader_cfg['dataset']['datasets'][1]
    ytvis.update(
        data_root=None,
        ann_file=ann_file,
        data_prefix=dict(img_path=img_dir),
        pipeline=pipelines[1])
    loader_cfg['dataset']['datasets'] = [
        coco_sample_dataset(pipelines[0]),
        DATASETS.build(ytvis),
        coco_sample_dataset(pipelines[2]),
        coco_sample_dataset(panoptic_pipeline(pipelines[2]))
    ]
    loader_cfg['batch_sampler'].update(tasks=TASKS, repeat_factors=None)
    loader_cfg.update(num_workers=0, persistent_workers=False)
    return Runner.build_dataloader(loader_cfg, seed=0)


def task_of(batch):
    """Which source a collated batch comes from."""
    sample = batch['data_samples'][0]
    if isinstance(sample, TrackDataSample):
        return 'coco_video' if 'gt_sem_seg' in sample[0] else 'ytvis'
    return 'prompt' if 'prompt_instances' in sample else 'panoptic'


def test_one_batch_of_each_task_trains(cfg, train_loader):
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.train()
    # One batch of 2 per source: the sampler tops up the one-video source.
    assert len(train_loader) == 4
    seen = []
    for batch in train_loader:
        kind = task_of(batch)
        seen.append(kind)
        video = kind in ('coco_video', 'ytvis')
        expected = TrackDataSample if video else DetDataSample
        assert all(isinstance(s, expected) for s in batch['data_samples'])
        data = model.data_preprocessor(batch, True)
        shape = (2, 2, 3, H, W) if video else (2, 3, H, W)
        assert data['inputs'].shape == shape, (kind, data['inputs'].shape)
        if kind == 'ytvis':  # YouTube-VIS labels in the merged space
            labels = torch.cat([
                frame.gt_instances.labels for clip in data['data_samples']
                for frame in clip
            ])
            assert set(labels.tolist()) <= {0, 133}
        losses = model(**data, mode='loss')
        key = 'loss_prompt_mask' if kind == 'prompt' else 'loss_cls'
        assert key in losses, (kind, sorted(losses))
        for name, value in losses.items():
            assert torch.isfinite(value).all(), (kind, name, value)
    assert sorted(seen) == ['coco_video', 'panoptic', 'prompt', 'ytvis']
