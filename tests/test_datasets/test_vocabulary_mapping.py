"""Labels of COCO panoptic and YouTube-VIS 2019 in the merged class space."""
import numpy as np
import pytest

from joint_data import joint_config
from mmdet.datasets import CocoPanopticDataset, YouTubeVISDataset
from rap_sam.datasets import MapToMergedVocabulary
from rap_sam.datasets.class_names import (COCO_PANOPTIC,
                                          COCO_YTVIS2019_MAPPINGS,
                                          COCO_YTVIS2019_MERGED, YTVIS2019)


def test_dataset_class_orders_match_the_vocabularies():
    assert CocoPanopticDataset.METAINFO['classes'] == COCO_PANOPTIC.classes
    YouTubeVISDataset.set_dataset_classes('2019')
    assert YouTubeVISDataset.METAINFO['classes'] == YTVIS2019.classes


def test_ytvis_labels_move_into_the_merged_space():
    transform = MapToMergedVocabulary(source='ytvis2019')
    assert transform.num_classes == len(COCO_YTVIS2019_MERGED) == 154
    labels = np.arange(40)
    out = transform(dict(gt_bboxes_labels=[labels, labels[::-1]]))
    np.testing.assert_array_equal(out['gt_bboxes_labels'][0],
                                  COCO_YTVIS2019_MAPPINGS[1])
    merged = COCO_YTVIS2019_MERGED.classes
    mapped = out['gt_bboxes_labels'][0]
    assert merged[mapped[YTVIS2019.classes.index('sedan')]] == 'car'
    assert merged[mapped[YTVIS2019.classes.index('person')]] == 'person'
    assert mapped[YTVIS2019.classes.index('giant_panda')] == 133
    assert merged[mapped[YTVIS2019.classes.index('mouse')]] == \
        'mouse (ytvis2019)'
    with pytest.raises(ValueError, match='labels must be in'):
        transform(dict(gt_bboxes_labels=np.array([40])))


def test_coco_labels_and_semantic_maps_keep_their_values():
    transform = MapToMergedVocabulary(source='coco_panoptic')
    seg = np.array([[0, 79, 80], [132, 255, 255]], dtype=np.int32)
    out = transform(
        dict(gt_bboxes_labels=np.arange(80), gt_seg_map=seg.copy()))
    np.testing.assert_array_equal(out['gt_bboxes_labels'], np.arange(80))
    np.testing.assert_array_equal(out['gt_seg_map'], seg)
    assert out['gt_seg_map'].dtype == seg.dtype


def test_joint_config_class_space():
    head = joint_config().model.panoptic_head
    assert head.num_things_classes == 80
    assert head.num_things_classes + head.num_stuff_classes == len(
        COCO_YTVIS2019_MERGED)
