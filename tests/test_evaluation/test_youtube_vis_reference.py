"""mmdet's YouTubeVISMetric on DAVIS sequences converted to YouTube-VIS,
against the YouTube-VIS evaluation API (mmdet's ``YTVIS`` / ``YTVISeval``)
called directly on the converter's JSON, and against a hand-computed
tiny case.

mmdet 3.3's ``YTVISeval`` uses ``np.float`` (gone in NumPy 2), so both run
inside :func:`rap_sam.evaluation.numpy_float_alias`; the metric through
:class:`rap_sam.evaluation.YouTubeVISCompatMetric`, which is mmdet's
``YouTubeVISMetric`` with only that change.
"""
import copy

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from mmdet.evaluation.functional import YTVIS, YTVISeval
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from conftest import shared_data
from rap_sam.datasets.class_names import YTVIS2019
from rap_sam.datasets.converters import (DAVIS_SAMPLE_CATEGORIES,
                                         convert_video_folders, encode_mask,
                                         track_record, video_record,
                                         ytvis_categories, ytvis_dataset)
from rap_sam.evaluation import YouTubeVISCompatMetric, numpy_float_alias

STATS = ('mAP', 'mAP_50', 'mAP_75')


def frame_samples(dataset, video, tracks, first_img_id):
    """DetDataSamples of one video: ground truth from ``dataset`` and
    ``tracks`` as predictions: ``(instance_id, label, score, masks)``
    with per-frame (H, W) masks or None."""
    h, w, n = video['height'], video['width'], video['length']
    frames = []
    for t in range(n):
        instances = []
        for ann in dataset['annotations']:
            segm = ann['segmentations'][t]
            if ann['video_id'] != video['id'] or segm is None:
                continue
            x, y, bw, bh = ann['bboxes'][t]
            instances.append(
                dict(bbox_label=ann['category_id'] - 1,
                     bbox=[x, y, x + bw, y + bh],
                     instance_id=ann['id'],
                     mask=copy.deepcopy(segm),
                     ignore_flag=0))
        present = [tr for tr in tracks if tr[3][t] is not None]
        masks = np.stack([tr[3][t] for tr in present]) if present else \
            np.zeros((0, h, w), bool)
        frame = DetDataSample(
            metainfo=dict(img_id=first_img_id + t, video_id=video['id'],
                          frame_id=t, ori_shape=(h, w),
                          ori_video_length=n, instances=instances))
        frame.pred_track_instances = InstanceData(
            bboxes=torch.zeros(len(present), 4),
            scores=torch.tensor([tr[2] for tr in present]),
            labels=torch.tensor([tr[1] for tr in present], dtype=torch.long),
            instances_id=torch.tensor([tr[0] for tr in present],
                                      dtype=torch.long),
            masks=torch.from_numpy(masks))
        frames.append(frame)
    return frames


def metric_ap(dataset, predictions):
    """YouTubeVISMetric fed data samples; predictions per video id."""
    metric = YouTubeVISCompatMetric()
    metric.dataset_meta = dict(classes=YTVIS2019.classes)
    img_id = 1
    for video in dataset['videos']:
        frames = frame_samples(dataset, video, predictions[video['id']],
                               img_id)
        img_id += len(frames)
        metric.process({}, [dict(video_data_samples=frames)])
    result = metric.evaluate(size=len(dataset['videos']))
    return {k: result[f'youtube_vis/segm_{k}'] for k in STATS}


def api_ap(dataset, predictions):
    """The YouTube-VIS API on the converter's JSON and a result list."""
    results = []
    for video_id, tracks in predictions.items():
        for _, label, score, masks in tracks:
            segms = []
            for m in masks:
                if m is None:
                    segms.append(None)
                    continue
                rle = mask_util.encode(np.asfortranarray(m.astype(np.uint8)))
                rle['counts'] = rle['counts'].decode()
                segms.append(rle)
            results.append(dict(video_id=video_id, score=score,
                                category_id=label + 1, segmentations=segms))
    gt = YTVIS(copy.deepcopy(dataset))
    evaluator = YTVISeval(gt, gt.loadRes(results), 'segm')
    evaluator.params.vidIds = gt.getVidIds()
    evaluator.evaluate()
    with numpy_float_alias():
        evaluator.accumulate()
    evaluator.summarize()
    return dict(zip(STATS, evaluator.stats[:3]))


def gt_tracks(dataset, video_id):
    return [(ann['id'], ann['category_id'] - 1, 1.0, [
        None if s is None else mask_util.decode(s).astype(bool)
        for s in ann['segmentations']
    ]) for ann in dataset['annotations'] if ann['video_id'] == video_id]


@pytest.fixture(scope='module')
def davis():
    root = shared_data('davis2016')
    return convert_video_folders(
        str(root / 'JPEGImages' / '480p'), str(root / 'Annotations' / '480p'),
        DAVIS_SAMPLE_CATEGORIES, sequences=['car-shadow', 'dog', 'cows'],
        frame_step=8, max_frames=4)


def test_ground_truth_as_prediction_gives_map_100(davis):
    predictions = {v['id']: gt_tracks(davis, v['id'])
                   for v in davis['videos']}
    assert metric_ap(davis, predictions) == dict(
        mAP=1.0, mAP_50=1.0, mAP_75=1.0)


def shifted(masks, dx, frames=None):
    return [None if m is None else (
        np.roll(m, dx, axis=1) if frames is None or t in frames else m)
        for t, m in enumerate(masks)]


def test_perturbed_prediction_matches_ytvis_api(davis):
    car, dog, cow = (v['id'] for v in davis['videos'])
    (car_id, car_label, _, car_masks), = gt_tracks(davis, car)
    (dog_id, dog_label, _, dog_masks), = gt_tracks(davis, dog)
    (cow_id, cow_label, _, cow_masks), = gt_tracks(davis, cow)
    box = np.zeros_like(car_masks[0])
    box[100:220, 300:500] = True
    predictions = {
        # Shifted by 25 px on two frames; a higher-scored false positive.
        car: [(1, car_label, 0.7, shifted(car_masks, 25, {1, 2})),
              (2, car_label, 0.9, [box, box, None, None])],
        # Shifted on all frames, and a duplicate with a wrong class.
        dog: [(3, dog_label, 0.8, shifted(dog_masks, 12)),
              (4, cow_label, 0.95, dog_masks)],
        # Found on its first two frames only.
        cow: [(5, cow_label, 0.6, cow_masks[:2] + [None, None])],
    }
    ours = metric_ap(davis, predictions)
    ref = api_ap(davis, predictions)
    print('YouTubeVISMetric:', ours)
    print('YTVISeval on the converted JSON:', ref)
    assert 0.1 < ours['mAP'] < 0.9
    for key in STATS:
        assert ours[key] == pytest.approx(round(ref[key], 3), abs=1e-9)


def tiny_dataset():
    gt = np.zeros((2, 10, 10), bool)
    gt[:, 0:5, 0:5] = True  # 25 px on each of 2 frames
    part = np.zeros((10, 10), bool)
    part[0, 0:5] = part[1, 0] = True  # 6 px inside the object
    dataset = ytvis_dataset(
        [video_record(1, ['a/0.jpg', 'a/1.jpg'], 10, 10)],
        [track_record(1, 1, 1, list(gt), 10, 10)], ytvis_categories())
    # A: exact on frame 0, 6 of 25 px on frame 1: IoU 31 / 50 = 0.62.
    # B: exact, lower score: IoU 1.
    predictions = {1: [(1, 0, 0.9, [gt[0], part]),
                       (2, 0, 0.8, list(gt))]}
    return dataset, predictions


def test_tiny_case_hand_computed():
    """At IoU 0.50 / 0.55 / 0.60, A is a true positive first: AP 1. From
    0.65 up only B matches, at rank 2: precision 1/2 at recall 1, AP 0.5.
    mAP = (3 * 1 + 7 * 0.5) / 10 = 0.65."""
    dataset, predictions = tiny_dataset()
    assert encode_mask(predictions[1][0][3][1])[2] == 6
    expected = dict(mAP=0.65, mAP_50=1.0, mAP_75=0.5)
    assert api_ap(dataset, predictions) == pytest.approx(expected)
    assert metric_ap(dataset, predictions) == pytest.approx(expected)
