"""VPQ and STQ on tiny hand-made videos."""
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import PixelData

from rap_sam.evaluation import VideoPanopticMetric

OFFSET = 1000  # mmdet's INSTANCE_OFFSET
PERSON, CAR, ROAD, VOID = 0, 1, 2, 3
META = dict(classes=('person', 'car', 'road'),
            thing_classes=('person', 'car'), stuff_classes=('road', ))


def toy_video(num_frames=3):
    """Road, a 2x2 person (instance 1) moving right, a fixed 1x2 car
    (instance 2) and one VOID pixel."""
    frames = []
    for t in range(num_frames):
        pan = np.full((4, 8), ROAD, np.int64)
        pan[1:3, t % 5:t % 5 + 2] = PERSON + 1 * OFFSET
        pan[3, 6:8] = CAR + 2 * OFFSET
        pan[0, 7] = VOID
        frames.append(pan)
    return np.stack(frames)


def track_sample(gt, pred, video_id=0):
    frames = []
    for t, (g, p) in enumerate(zip(gt, pred)):
        frame = DetDataSample(metainfo=dict(
            video_id=video_id, frame_id=t, ori_video_length=len(gt)))
        frame.gt_panoptic_seg = PixelData(sem_seg=torch.from_numpy(g[None]))
        frame.pred_panoptic_seg = PixelData(
            sem_seg=torch.from_numpy(p[None]))
        frames.append(frame)
    return dict(video_data_samples=frames)


def evaluate(gt, pred, window_sizes=(1, 2, 3), one_by_one=False):
    metric = VideoPanopticMetric(window_sizes=window_sizes)
    metric.dataset_meta = META
    sample = track_sample(gt, pred)
    if one_by_one:
        for frame in sample['video_data_samples']:
            metric.process({}, [dict(video_data_samples=[frame])])
    else:
        metric.process({}, [sample])
    return {k.split('/')[1]: v for k, v in metric.evaluate(1).items()}


def test_perfect_prediction_gives_100():
    gt = toy_video(16)
    pred = gt.copy()
    pred[gt == VOID] = ROAD  # predictions on VOID do not count
    result = evaluate(gt, pred, window_sizes=(1, 5, 10, 15))
    for key in ('VPQ', 'VPQ_th', 'VPQ_st', 'VPQ@1', 'VPQ@5', 'VPQ@10',
                'VPQ@15', 'STQ', 'AQ', 'SQ'):
        assert result[key] == pytest.approx(100.), key


def test_identity_switch_hand_computed():
    """The person's id changes on frame 2 of 3.

    VPQ@1: every frame is perfect. VPQ@2: window (0, 1) is perfect; in
    window (1, 2) the person tube overlaps two predicted tubes by half
    (IoU 0.5 is no match): FN 1, FP 2, so person PQ = 1 / (1 + 1 + 0.5)
    = 0.4. VPQ@3: the id-1 tube covers 2/3 of the person tube (TP, IoU
    2/3), the id-7 tube is a FP: PQ = (2/3) / 1.5 = 4/9.
    AQ: person (2/3 * 2/3 + 1/3 * 1/3) = 5/9, car 1: AQ = 7/9; SQ = 1.
    """
    gt = toy_video(3)
    pred = gt.copy()
    pred[2][pred[2] == PERSON + OFFSET] = PERSON + 7 * OFFSET
    result = evaluate(gt, pred)
    assert result['VPQ@1'] == pytest.approx(100.)
    assert result['VPQ@2'] == pytest.approx(100 * (0.4 + 1 + 1) / 3)
    assert result['VPQ@3'] == pytest.approx(100 * (4 / 9 + 1 + 1) / 3)
    assert result['VPQ'] == pytest.approx(
        (100 + 100 * 2.4 / 3 + 100 * (2 + 4 / 9) / 3) / 3)
    assert result['VPQ_st'] == pytest.approx(100.)
    assert result['AQ'] == pytest.approx(100 * 7 / 9)
    assert result['SQ'] == pytest.approx(100.)
    assert result['STQ'] == pytest.approx(100 * np.sqrt(7 / 9))
    assert evaluate(gt, pred, one_by_one=True) == result


def test_semantic_error_lowers_sq_and_vpq():
    """The car predicted as road on both frames: the car is missed (FN,
    IoU 0, AQ 0) and the road gets its pixels as false positives."""
    gt = toy_video(2)
    pred = gt.copy()
    pred[pred == CAR + 2 * OFFSET] = ROAD
    result = evaluate(gt, pred, window_sizes=(1, ))
    road_gt = (gt == ROAD).sum()
    road_iou = road_gt / (road_gt + 4)  # the car's 2 px x 2 frames
    # VPQ@1: person 1, car 0 (FN only), road IoU per frame.
    per_frame_road = (gt[0] == ROAD).sum() / ((gt[0] == ROAD).sum() + 2)
    assert result['VPQ@1'] == pytest.approx(100 * (1 + per_frame_road) / 3)
    # SQ: person 1, car 0, road IoU; AQ: person 1, car 0.
    assert result['SQ'] == pytest.approx(100 * (1 + road_iou) / 3)
    assert result['AQ'] == pytest.approx(50.)


def test_short_videos_leave_long_windows_out():
    gt = toy_video(3)
    result = evaluate(gt, gt, window_sizes=(1, 5))
    assert 'VPQ@5' not in result
    assert result['VPQ'] == result['VPQ@1'] == pytest.approx(100.)
