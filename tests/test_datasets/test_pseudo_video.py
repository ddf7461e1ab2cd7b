"""COCO panoptic images as 2-frame pseudo videos (the joint config's
pipeline, at a small size, on the real sample)."""
import random

import numpy as np
import pytest
import torch

from joint_data import (coco_sample_dataset, joint_config, small_pipeline,
                        source_pipeline)
from mmdet.structures import TrackDataSample
from mmdet.structures.mask import BitmapMasks
from rap_sam.datasets import ImageToPseudoVideo

H, W = 192, 256


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)


@pytest.fixture(scope='module')
def cfg():
    return joint_config()


def pseudo_video_dataset(cfg, ratio_range):
    pipeline = small_pipeline(
        source_pipeline(cfg, 0), size=(H, W), ratio_range=ratio_range)
    return coco_sample_dataset(pipeline)


def test_clip_has_two_frames_with_panoptic_ground_truth(cfg):
    dataset = pseudo_video_dataset(cfg, (1.5, 2.0))
    seed_all(0)
    for index in range(len(dataset)):
        out = dataset[index]
        clip = out['data_samples']
        assert isinstance(clip, TrackDataSample) and len(clip) == 2
        assert out['inputs'].shape == (2, 3, H, W)
        for t, frame in enumerate(clip):
            gt = frame.gt_instances
            assert isinstance(gt.masks, BitmapMasks)
            assert len(gt.labels) == len(gt.masks) == len(gt.bboxes) == \
                len(gt.instances_ids)
            assert (gt.labels < 80).all()
            assert gt.masks.masks.shape[1:] == (H, W)
            assert (gt.masks.areas > 0).all()
            sem_seg = frame.gt_sem_seg.sem_seg
            assert sem_seg.shape == (1, H, W)
            stuff = sem_seg[(sem_seg >= 80) & (sem_seg != 255)]
            assert len(stuff) and (stuff < 133).all()
            assert frame.frame_id == t
            assert frame.img_id == frame.video_id
        assert clip[0].img_path == clip[1].img_path


def test_flip_and_scale_are_shared(cfg):
    dataset = pseudo_video_dataset(cfg, (1.5, 2.0))
    flips = set()
    for seed in range(8):
        seed_all(seed)
        clip = dataset[seed % 2]['data_samples']
        assert clip[0].flip == clip[1].flip
        np.testing.assert_allclose(clip[0].scale_factor, clip[1].scale_factor)
        flips.add(clip[0].flip)
    assert flips == {True, False}


def test_crops_differ_between_frames(cfg):
    # The resized image (about 512 x 342) is larger than the 256 x 192 crop:
    # the two frames are different windows of it.
    dataset = pseudo_video_dataset(cfg, (1.5, 2.0))
    seed_all(1)
    for index in range(len(dataset)):
        frames = dataset[index]['inputs']
        assert not torch.equal(frames[0], frames[1])


def test_instance_ids_follow_the_instances(cfg):
    # Scaled below the crop size, both "crops" are the whole image: the
    # frames are equal, so each id has the same label and mask in both.
    dataset = pseudo_video_dataset(cfg, (0.3, 0.35))
    seed_all(2)
    clip = dataset[0]['data_samples']
    first, second = clip[0].gt_instances, clip[1].gt_instances
    assert torch.equal(first.instances_ids, second.instances_ids)
    assert torch.equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.masks.masks, second.masks.masks)

    # With different crops, an id present in both frames keeps its label,
    # and the ids are unique numbers of the image's instances.
    dataset = pseudo_video_dataset(cfg, (1.5, 2.0))
    num_things = len(dataset.get_data_info(0)['instances'])
    for seed in range(4):
        seed_all(seed)
        clip = dataset[0]['data_samples']
        labels = {}
        for frame in clip:
            ids = frame.gt_instances.instances_ids.tolist()
            assert len(set(ids)) == len(ids)
            assert all(0 <= i < num_things for i in ids)
            for i, label in zip(ids, frame.gt_instances.labels.tolist()):
                assert labels.setdefault(i, label) == label


def test_image_to_pseudo_video_copies_every_key():
    results = dict(
        img=np.zeros((4, 5, 3), np.uint8),
        img_id=7,
        gt_bboxes_labels=np.array([3, 5]),
        gt_seg_map=np.zeros((4, 5), np.uint8))
    clip = ImageToPseudoVideo(num_frames=3)(results)
    assert all(len(value) == 3 for value in clip.values())
    assert clip['frame_id'] == [0, 1, 2]
    assert clip['video_id'] == [7, 7, 7]
    assert clip['key_frame_flags'] == [True, False, False]
    np.testing.assert_array_equal(clip['gt_instances_ids'][2], [0, 1])
    clip['img'][1][0, 0] = 1  # frames are independent copies
    assert clip['img'][0][0, 0, 0] == 0
    with pytest.raises(ValueError, match='num_frames'):
        ImageToPseudoVideo(num_frames=0)
