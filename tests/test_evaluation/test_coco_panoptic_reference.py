"""mmdet's CocoPanopticMetric against panopticapi on real COCO panoptic
ground truth (../shared/data/coco_panoptic_sample).

The prediction is fed to mmdet's metric as a data sample
(``pred_panoptic_seg.sem_seg``, ``label + instance * INSTANCE_OFFSET``)
and, independently, written as a COCO panoptic prediction (PNGs + JSON)
for panopticapi's own ``pq_compute_single_core`` (PyPI
``panopticapi-lite==0.2.0``, the cocodataset/panopticapi code).
"""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import shared_data
from mmdet.evaluation import CocoPanopticMetric
from mmdet.evaluation.functional import INSTANCE_OFFSET
from rap_sam.evaluation import pq_stats, pq_summary, segment_ids

panopticapi = pytest.importorskip(
    'panopticapi.evaluation',
    reason='panopticapi (pip install --no-deps panopticapi-lite==0.2.0)')


def rgb2id(png):
    png = png.astype(np.int64)
    return png[..., 0] + 256 * png[..., 1] + 256**2 * png[..., 2]


def id2rgb(ids):
    return np.stack([ids % 256, ids // 256 % 256, ids // 256**2],
                    -1).astype(np.uint8)


@pytest.fixture(scope='module')
def sample():
    root = shared_data('coco_panoptic_sample')
    gt = json.load(open(root / 'panoptic_examples.json'))
    cats = gt['categories']
    label_of = {c['id']: i for i, c in enumerate(cats)}
    images = []
    for img, ann in zip(gt['images'], gt['annotations']):
        assert img['id'] == ann['image_id']
        ids = rgb2id(
            np.array(Image.open(root / 'panoptic_examples' /
                                ann['file_name'])))
        images.append((img, ann, ids))
    return dict(root=root, gt=gt, cats=cats, label_of=label_of,
                images=images)


def gt_as_prediction(ids, segments, label_of, num_classes):
    """mmdet panoptic map of the ground truth: things get instance ids
    1, 2, ...; VOID is ``num_classes``."""
    pan = np.full(ids.shape, num_classes, np.int64)
    for k, seg in enumerate(segments):
        label = label_of[seg['category_id']]
        pan[ids == seg['id']] = label + (k + 1) * INSTANCE_OFFSET
    return pan


def perturb(pan, num_classes, is_thing):
    """Drop two segments, merge two segments of one class, shift one by
    (12, 7) pixels, relabel one."""
    pan = pan.copy()
    values, areas = np.unique(pan[pan != num_classes], return_counts=True)
    order = values[np.argsort(-areas)]
    labels = order % INSTANCE_OFFSET
    things = [v for v in order if is_thing[v % INSTANCE_OFFSET]]
    stuff = [v for v in order if not is_thing[v % INSTANCE_OFFSET]]
    # Drop the smallest thing and the second largest stuff.
    pan[pan == things[-1]] = num_classes
    pan[pan == stuff[1]] = num_classes
    # Merge two thing segments of one class, else two segments of
    # different classes (the merged one keeps the first's label).
    same = [(a, b) for i, a in enumerate(things[:-1])
            for b in things[i + 1:-1] if a % INSTANCE_OFFSET ==
            b % INSTANCE_OFFSET]
    a, b = same[0] if same else (order[0], order[1])
    pan[pan == b] = a
    # Shift the largest remaining thing by 12 px right and 7 px down.
    moved = [v for v in things[:-1] if v not in (a, b)][0]
    mask = pan == moved
    pan[mask] = num_classes
    pan[np.roll(mask, (7, 12), axis=(0, 1))] = moved
    # Relabel the largest stuff segment to another stuff class.
    big = stuff[0]
    other = next(lb for lb in range(num_classes - 1, -1, -1)
                 if not is_thing[lb] and lb not in labels)
    pan[pan == big] = other + (big // INSTANCE_OFFSET) * INSTANCE_OFFSET
    return pan


def mmdet_pq(sample, preds, tmp_path):
    root, cats = sample['root'], sample['cats']
    metric = CocoPanopticMetric(
        ann_file=str(root / 'panoptic_examples.json'),
        seg_prefix=str(root / 'panoptic_examples'),
        nproc=1)
    metric.dataset_meta = dict(
        classes=[c['name'] for c in cats],
        thing_classes=[c['name'] for c in cats if c['isthing']],
        stuff_classes=[c['name'] for c in cats if not c['isthing']])
    samples = [
        dict(img_id=img['id'],
             img_path=str(root / 'input_images' / img['file_name']),
             ori_shape=(img['height'], img['width']),
             # A copy: the metric writes VOID into the tensor in place.
             pred_panoptic_seg=dict(sem_seg=torch.tensor(pan[None])))
        for (img, _, _), pan in zip(sample['images'], preds)
    ]
    metric.process({}, samples)
    return metric.evaluate(size=len(samples))


def panopticapi_pq(sample, preds, tmp_path):
    """panopticapi on a prediction written in the COCO panoptic format."""
    cats, num_classes = sample['cats'], len(sample['cats'])
    pred_dir = tmp_path / 'pred'
    pred_dir.mkdir()
    pairs = []
    for (img, ann, _), pan in zip(sample['images'], preds):
        seg_ids = np.where(pan == num_classes, 0, pan + 1)  # 0 is VOID
        Image.fromarray(id2rgb(seg_ids)).save(pred_dir / ann['file_name'])
        segments = [
            dict(id=int(v) + 1,
                 category_id=cats[int(v) % INSTANCE_OFFSET]['id'])
            for v in np.unique(pan) if v != num_classes
        ]
        pairs.append((ann, dict(image_id=img['id'], file_name=ann[
            'file_name'], segments_info=segments)))
    categories = {c['id']: c for c in cats}
    stat = panopticapi.pq_compute_single_core(
        0, json.loads(json.dumps(pairs)),
        str(sample['root'] / 'panoptic_examples'), str(pred_dir), categories)
    return {
        name: stat.pq_average(categories, isthing=isthing)[0]
        for name, isthing in (('All', None), ('Things', True),
                              ('Stuff', False))
    }


def predictions(sample, perturbed):
    num_classes = len(sample['cats'])
    is_thing = [bool(c['isthing']) for c in sample['cats']]
    preds = []
    for _, ann, ids in sample['images']:
        pan = gt_as_prediction(ids, ann['segments_info'], sample['label_of'],
                               num_classes)
        preds.append(perturb(pan, num_classes, is_thing) if perturbed
                     else pan)
    return preds


def test_ground_truth_as_prediction_gives_pq_100(sample, tmp_path):
    result = mmdet_pq(sample, predictions(sample, False), tmp_path)
    for key in ('PQ', 'SQ', 'RQ', 'PQ_th', 'PQ_st'):
        assert result[f'coco_panoptic/{key}'] == pytest.approx(100.)


def test_perturbed_prediction_matches_panopticapi(sample, tmp_path):
    preds = predictions(sample, True)
    ours = mmdet_pq(sample, preds, tmp_path)
    ref = panopticapi_pq(sample, preds, tmp_path)
    print('mmdet CocoPanopticMetric:',
          {k.split('/')[1]: round(v, 4) for k, v in ours.items()})
    print('panopticapi:', {
        name: {k: round(100 * v, 4) for k, v in r.items() if k != 'n'}
        for name, r in ref.items()})
    assert 40 < ours['coco_panoptic/PQ'] < 95
    for suffix, name in (('', 'All'), ('_th', 'Things'), ('_st', 'Stuff')):
        for key in ('pq', 'sq', 'rq'):
            assert ours[f'coco_panoptic/{key.upper()}{suffix}'] == \
                pytest.approx(100 * ref[name][key], abs=1e-9)


def test_project_pq_matches_panopticapi(sample, tmp_path):
    """rap_sam's VPQ matcher on one frame (k = 1) is plain PQ."""
    preds = predictions(sample, True)
    ref = panopticapi_pq(sample, preds, tmp_path)
    num_classes = len(sample['cats'])
    things = {i for i, c in enumerate(sample['cats']) if c['isthing']}
    stats = {}
    for (_, ann, ids), pan in zip(sample['images'], preds):
        gt = np.full(ids.shape, -1, np.int64)
        for k, seg in enumerate(ann['segments_info']):
            label = sample['label_of'][seg['category_id']]
            instance = 0 if seg['iscrowd'] else k + 1
            gt[ids == seg['id']] = label + instance * INSTANCE_OFFSET
        for lbl, s in pq_stats(gt, segment_ids(pan, num_classes),
                               things).items():
            stats[lbl] = stats.get(lbl, 0) + s
    ours = pq_summary(stats, range(num_classes))
    for key in ('pq', 'sq', 'rq', 'n'):
        assert ours[key] == pytest.approx(ref['All'][key], abs=1e-12)
