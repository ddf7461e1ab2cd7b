"""Bad training data: each case gives an error naming the file or field,
or a documented, defined result.

The joint config's own pipelines run on the synthetic demo dataset, which
each test damages in its own copy.
"""
import json
import os
import os.path as osp

import numpy as np
import pytest

from joint_data import joint_config, small_pipeline, source_pipeline
from mmdet.registry import DATASETS
from rap_sam.datasets.demo_data import prepare_demo_data

pytestmark = pytest.mark.filterwarnings(
    'ignore:__array__ implementation:DeprecationWarning')
COCO_VIDEO, YTVIS, PROMPTS = 0, 1, 2


@pytest.fixture(scope='module')
def cfg():
    return joint_config()


@pytest.fixture
def data(tmp_path):
    return prepare_demo_data(str(tmp_path), None)


def pipeline(cfg, source: int):
    return small_pipeline(source_pipeline(cfg, source), size=(96, 128))


def coco_dataset(cfg, data, source=COCO_VIDEO, filter_empty_gt=True):
    return DATASETS.build(
        dict(
            type='CocoPanopticDataset',
            data_root=data.coco_root,
            ann_file=data.coco_ann,
            data_prefix=dict(img=data.coco_img, seg=data.coco_seg),
            filter_cfg=dict(filter_empty_gt=filter_empty_gt),
            pipeline=pipeline(cfg, source)))


def ytvis_dataset(cfg, data, ann_file=None):
    source = cfg.train_dataloader.dataset.datasets[YTVIS].to_dict()
    source.update(
        data_root='',
        ann_file=ann_file or data.video_ann,
        data_prefix=dict(img_path=data.video_img),
        pipeline=pipeline(cfg, YTVIS))
    return DATASETS.build(source)


def coco_ann_path(data) -> str:
    return osp.join(data.coco_root, data.coco_ann)


def test_missing_image_names_the_file(cfg, data):
    dataset = coco_dataset(cfg, data)
    path = dataset.get_data_info(0)['img_path']
    dataset[1]  # the others still load
    os.remove(path)
    with pytest.raises(FileNotFoundError, match=osp.basename(path)):
        dataset[0]


@pytest.mark.parametrize('content', [b'', b'not an image at all' * 10])
def test_corrupt_image_names_the_file(cfg, data, content):
    dataset = coco_dataset(cfg, data, PROMPTS)
    path = dataset.get_data_info(0)['img_path']
    with open(path, 'wb') as f:
        f.write(content)
    with pytest.raises(Exception) as info:
        dataset[0]
    assert osp.basename(path) in str(info.value)


def test_annotation_naming_a_missing_image(cfg, data):
    ann = json.load(open(coco_ann_path(data)))
    ann['images'][0]['file_name'] = 'no_such_image.jpg'
    with open(coco_ann_path(data), 'w') as f:
        json.dump(ann, f)
    dataset = coco_dataset(cfg, data)
    index = next(
        i for i in range(len(dataset))
        if dataset.get_data_info(i)['img_path'].endswith('no_such_image.jpg'))
    with pytest.raises(FileNotFoundError, match='no_such_image.jpg'):
        dataset[index]


def test_missing_segmentation_png_names_the_file(cfg, data):
    dataset = coco_dataset(cfg, data)
    path = dataset.get_data_info(0)['seg_map_path']
    os.remove(path)
    with pytest.raises(FileNotFoundError, match=osp.basename(path)):
        dataset[0]


def test_missing_video_frame_names_the_file(cfg, data):
    dataset = ytvis_dataset(cfg, data)
    frames = dataset.get_data_info(0)['images']
    for frame in frames:
        os.remove(frame['img_path'])
    with pytest.raises(FileNotFoundError) as info:
        dataset[0]
    assert any(osp.basename(f['img_path']) in str(info.value) for f in frames)


def _empty_first_image(data) -> int:
    ann = json.load(open(coco_ann_path(data)))
    ann['annotations'][0]['segments_info'] = []
    with open(coco_ann_path(data), 'w') as f:
        json.dump(ann, f)
    return ann['annotations'][0]['image_id']


def test_empty_segment_list_is_skipped_when_filtering(cfg, data):
    """Documented skip: ``filter_cfg.filter_empty_gt=True`` (the configs'
    setting) drops images whose segment list is empty."""
    full = len(coco_dataset(cfg, data))
    empty_id = _empty_first_image(data)
    dataset = coco_dataset(cfg, data)
    assert len(dataset) == full - 1
    ids = {dataset.get_data_info(i)['img_id'] for i in range(len(dataset))}
    assert empty_id not in ids


def test_empty_segment_list_without_filtering(cfg, data):
    """Unfiltered, such an image is a clip with no targets (the model's loss
    handles empty ground truth); the prompt pipeline drops it
    (``FilterAnnotations(keep_empty=False)`` returns None, and the dataset
    draws another image)."""
    empty_id = _empty_first_image(data)
    clips = coco_dataset(cfg, data, COCO_VIDEO, filter_empty_gt=False)
    index = next(i for i in range(len(clips))
                 if clips.get_data_info(i)['img_id'] == empty_id)
    clip = clips[index]['data_samples']
    assert len(clip) == 2
    for frame in clip:
        assert len(frame.gt_instances) == 0
    prompts = coco_dataset(cfg, data, PROMPTS, filter_empty_gt=False)
    assert prompts.prepare_data(index) is None
    other = prompts[index]['data_samples']
    assert other.img_id != empty_id and len(other.gt_instances) > 0


def test_one_frame_video_becomes_a_clip_of_that_frame(cfg, data):
    """Documented result: a one-frame video samples its only frame twice."""
    ann = json.load(open(data.video_ann))
    video_id = ann['videos'][0]['id']
    first = min((i for i in ann['images'] if i['video_id'] == video_id),
                key=lambda i: i['frame_id'])
    ann['images'] = [
        i for i in ann['images']
        if i['video_id'] != video_id or i['id'] == first['id']
    ]
    kept = {i['id'] for i in ann['images']}
    ann['annotations'] = [a for a in ann['annotations']
                          if a['image_id'] in kept]
    path = data.video_ann.replace('.json', '_one_frame.json')
    with open(path, 'w') as f:
        json.dump(ann, f)
    dataset = ytvis_dataset(cfg, data, path)
    index = next(i for i in range(len(dataset))
                 if dataset.get_data_info(i)['video_id'] == video_id)
    assert dataset.get_data_info(index)['video_length'] == 1
    clip = dataset[index]
    frames = clip['data_samples']
    assert len(frames) == 2
    assert frames[0].img_path == frames[1].img_path
    np.testing.assert_array_equal(clip['inputs'][0], clip['inputs'][1])
