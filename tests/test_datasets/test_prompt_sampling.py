"""SAM-style prompts from COCO panoptic masks (the joint config's prompt
pipeline, at a small size, on the real sample)."""
import copy
import random

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose

from joint_data import (coco_sample_dataset, joint_config, small_pipeline,
                        source_pipeline)
from mmdet.structures import DetDataSample
from rap_sam.datasets import PackPromptInputs, SamplePrompts
from rap_sam.models.heads.prompt_batch import validate_prompts

H, W = 192, 256


@pytest.fixture(scope='module')
def prompt_pipeline():
    return small_pipeline(
        source_pipeline(joint_config(), 2),
        size=(H, W),
        ratio_range=(0.8, 1.2))


def split_at(pipeline, kind):
    types = [t['type'] for t in pipeline]
    i = types.index(kind)
    return pipeline[:i], pipeline[i], pipeline[i + 1:]


@pytest.fixture(scope='module')
def augmented(prompt_pipeline):
    """Results of both sample images right before SamplePrompts."""
    before, _, _ = split_at(prompt_pipeline, 'SamplePrompts')
    dataset = coco_sample_dataset([])
    random.seed(0)
    np.random.seed(0)
    return [
        Compose(before)(dataset.get_data_info(i)) for i in range(len(dataset))
    ]


def num_segments(results, min_area=16):
    things = int((results['gt_masks'].areas >= min_area).sum())
    labels, counts = np.unique(results['gt_seg_map'], return_counts=True)
    stuff = ((labels >= 80) & (labels != 255) & (counts >= min_area)).sum()
    return things + int(stuff)


def sample(results, seed=0, **kwargs):
    np.random.seed(seed)
    out = SamplePrompts(**kwargs)(copy.deepcopy(results))
    return PackPromptInputs()(out)


@pytest.mark.parametrize('num_prompts', [5, 100])
def test_one_prompt_per_segment_up_to_num_prompts(augmented, num_prompts):
    for results in augmented:
        expected = min(num_prompts, num_segments(results))
        assert expected >= 5
        sample_ = sample(results, num_prompts=num_prompts)['data_samples']
        assert isinstance(sample_, DetDataSample)
        assert len(sample_.prompt_instances) == expected
        gt = sample_.gt_instances
        assert len(gt.masks) == len(gt.bboxes) == expected
        assert (gt.labels == 0).all()
        assert 'gt_sem_seg' not in sample_
        masks = gt.masks.masks.reshape(expected, -1)
        # Distinct segments: no two prompt masks overlap.
        overlap = masks.astype(np.int64) @ masks.T.astype(np.int64)
        assert (overlap[~np.eye(expected, dtype=bool)] == 0).all()


def test_clicks_lie_inside_their_masks(augmented):
    for results in augmented:
        out = sample(results, num_prompts=100, num_points=(1, 3), box_prob=0.)
        prompts = out['data_samples'].prompt_instances
        masks = out['data_samples'].gt_instances.masks.masks
        assert 'boxes' not in prompts
        assert prompts.points.shape[1:] == (3, 2)
        assert prompts.points.dtype == torch.float32
        assert prompts.point_labels.dtype == torch.long
        for mask, points, labels in zip(masks, prompts.points,
                                        prompts.point_labels):
            used = labels >= 0
            assert used[0] and (labels[used] == 1).all()
            assert (labels[~used] == -1).all()
            for x, y in points[used].tolist():
                assert 0 <= x < W and 0 <= y < H
                assert mask[int(y), int(x)]


def test_boxes_contain_their_masks_before_jitter(augmented):
    for results in augmented:
        out = sample(results, num_prompts=100, box_prob=1., box_noise_scale=0.)
        prompts = out['data_samples'].prompt_instances
        masks = out['data_samples'].gt_instances.masks.masks
        assert 'points' not in prompts and prompts.box_valid.all()
        for mask, box in zip(masks, prompts.boxes.tolist()):
            ys, xs = np.nonzero(mask)
            x1, y1, x2, y2 = box
            # Tight: the pixel edges of the outermost mask pixels.
            assert (x1, y1, x2, y2) == (xs.min(), ys.min(), xs.max() + 1,
                                        ys.max() + 1)


def test_jittered_boxes_and_mixed_prompts_stay_in_the_image(augmented):
    for results in augmented:
        for seed in range(3):
            out = sample(results, seed, num_prompts=30, box_prob=0.5)
            data_sample = out['data_samples']
            prompts = data_sample.prompt_instances
            is_box = prompts.box_valid
            assert is_box.any() and not is_box.all()
            # Each prompt is a box or a click, never both or neither.
            has_click = (prompts.point_labels >= 0).any(1)
            assert torch.equal(has_click, ~is_box)
            boxes = prompts.boxes[is_box]
            assert (boxes[:, 0] <= boxes[:, 2]).all()
            assert (boxes[:, 1] <= boxes[:, 3]).all()
            assert (boxes[:, 0::2] >= 0).all() and (boxes[:, 0::2] <= W).all()
            assert (boxes[:, 1::2] >= 0).all() and (boxes[:, 1::2] <= H).all()
            tight = data_sample.gt_instances.bboxes.tensor[is_box]
            assert not torch.equal(boxes, tight)  # jittered
            validate_prompts(prompts, (H, W), 'prompts')


def test_prompt_type_per_image(augmented):
    kinds = set()
    for seed in range(6):
        out = sample(augmented[0], seed, prompt_type_per='image')
        prompts = out['data_samples'].prompt_instances
        assert ('points' in prompts) != ('boxes' in prompts)
        kinds.add('points' in prompts)
    assert kinds == {True, False}


def test_config_pipeline_gives_padded_prompt_samples(prompt_pipeline):
    dataset = coco_sample_dataset(prompt_pipeline)
    np.random.seed(0)
    random.seed(0)
    out = dataset[1]
    assert out['inputs'].shape == (3, H, W)
    data_sample = out['data_samples']
    num = len(data_sample.prompt_instances)
    assert 0 < num <= 30
    assert data_sample.gt_instances.masks.masks.shape == (num, H, W)
    validate_prompts(data_sample.prompt_instances, (H, W), 'prompts')


def test_image_without_segments():
    results = dict(
        img=np.zeros((8, 8, 3), np.uint8),
        gt_seg_map=np.full((8, 8), 255, np.uint8))
    assert SamplePrompts()(copy.deepcopy(results)) is None
    out = SamplePrompts(skip_empty=False)(copy.deepcopy(results))
    packed = PackPromptInputs()(out)['data_samples']
    prompts = packed.prompt_instances
    assert prompts.points.shape == (0, 1, 2) and prompts.boxes.shape == (0, 4)
    with pytest.raises(ValueError, match='num_points'):
        SamplePrompts(num_points=(3, 1))
