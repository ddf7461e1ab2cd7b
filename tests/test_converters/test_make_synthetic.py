"""Synthetic COCO panoptic and YouTube-VIS datasets."""
import filecmp
import json
import os

import numpy as np
import pycocotools.mask as mask_util
from PIL import Image

from conftest import shared_data
from mmdet.datasets import CocoPanopticDataset
from mmdet.evaluation.functional import YTVIS
from rap_sam.datasets.converters import (coco_panoptic_categories,
                                         make_synthetic)


def rgb2id(png):
    png = png.astype(np.int64)
    return png[..., 0] + 256 * png[..., 1] + 256**2 * png[..., 2]


def tree(root):
    return sorted(
        os.path.relpath(os.path.join(d, f), root)
        for d, _, files in os.walk(root) for f in files)


def test_deterministic_given_the_seed(tmp_path):
    make_synthetic(str(tmp_path / 'a'), seed=3)
    make_synthetic(str(tmp_path / 'b'), seed=3)
    make_synthetic(str(tmp_path / 'c'), seed=4)
    files = tree(tmp_path / 'a')
    assert files == tree(tmp_path / 'b') == tree(tmp_path / 'c')
    _, mismatch, errors = filecmp.cmpfiles(
        tmp_path / 'a', tmp_path / 'b', files, shallow=False)
    assert mismatch == errors == []
    _, mismatch, _ = filecmp.cmpfiles(
        tmp_path / 'a', tmp_path / 'c', files, shallow=False)
    assert mismatch


def test_panoptic_pngs_match_segments_and_mmdet_loads_it(tmp_path):
    paths = make_synthetic(str(tmp_path), seed=0)['coco_panoptic']
    data = json.load(open(paths['ann_file']))
    assert len(data['categories']) == 133
    cats = {c['id']: c for c in data['categories']}
    for ann in data['annotations']:
        ids = rgb2id(np.array(Image.open(
            os.path.join(paths['seg_dir'], ann['file_name']))))
        segs = ann['segments_info']
        assert set(np.unique(ids)) - {0} == {s['id'] for s in segs}
        for s in segs:
            assert (ids == s['id']).sum() == s['area']
        kinds = {cats[s['category_id']]['isthing'] for s in segs}
        assert kinds == {0, 1}  # stuff and things in every image
    dataset = CocoPanopticDataset(
        ann_file=paths['ann_file'],
        data_root='',
        data_prefix=dict(img=paths['img_dir'] + '/',
                         seg=paths['seg_dir'] + '/'),
        pipeline=[],
        test_mode=True)
    assert len(dataset) == 4
    info = dataset[0]
    assert os.path.isfile(info['img_path'])
    assert os.path.isfile(info['seg_map_path'])
    assert len(info['segments_info']) == len(
        data['annotations'][0]['segments_info'])


def test_ytvis_clips_load_with_the_ytvis_api(tmp_path):
    paths = make_synthetic(str(tmp_path), seed=0)['youtube_vis']
    api = YTVIS(paths['ann_file'])
    assert len(api.getVidIds()) == 2 and len(api.cats) == 40
    for ann in api.dataset['annotations']:
        video = api.vids[ann['video_id']]
        assert len(ann['segmentations']) == video['length'] == 6
        for t, segm in enumerate(ann['segmentations']):
            if segm is None:
                continue
            assert os.path.isfile(
                os.path.join(paths['img_dir'], video['file_names'][t]))
            assert mask_util.decode(segm).sum() == ann['areas'][t] > 0


def test_categories_match_panopticapi():
    root = shared_data('coco_panoptic_sample')
    real = json.load(open(root / 'panoptic_coco_categories.json'))
    ours = coco_panoptic_categories()
    assert [(c['id'], c['name'], c['isthing'], c['color']) for c in ours] == [
        (c['id'], c['name'], c['isthing'], c['color']) for c in real]
