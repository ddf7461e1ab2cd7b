"""Interactive segmentation: click simulation, NoC and mIoU of prompts."""
import numpy as np
import pytest
import torch
from scipy import ndimage
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData

from rap_sam.evaluation import (InteractiveSegMetric, evaluate_clicks,
                                first_click, next_click, noc_metrics)


def disc(shape, center, radius):
    ys, xs = np.mgrid[:shape[0], :shape[1]]
    return (xs - center[0])**2 + (ys - center[1])**2 <= radius**2


def test_first_click_is_the_most_interior_pixel():
    square = np.zeros((7, 7), bool)
    square[1:6, 1:6] = True
    assert first_click(square) == (3, 3)
    # Touching the top, left and bottom image borders: the border counts
    # as boundary, so the click is not pushed against it.
    left = np.zeros((5, 8), bool)
    left[:, :5] = True
    assert first_click(left) == (2, 2)
    with pytest.raises(ValueError, match='non-empty'):
        first_click(np.zeros((3, 3), bool))


def test_next_click_centre_of_largest_error_region():
    gt = np.zeros((12, 12), bool)
    gt[1:11, 1:11] = True
    pred = gt.copy()
    pred[1:6, 1:6] = False  # 25 missed pixels
    pred[11, :] = True  # 12 false positives
    assert next_click(pred, gt) == ((3, 3), True)

    gt = np.zeros((12, 12), bool)
    gt[0:4, 0:4] = True
    pred = gt.copy()
    pred[5:12, 5:12] = True  # 49 false positives at the image corner
    pred[0, 0] = False  # 1 missed pixel
    assert next_click(pred, gt) == ((8, 8), False)
    assert next_click(gt, gt) is None


def test_noc_metrics_hand_computed():
    ious = [np.array([0.5, 0.86, 0.95]), np.array([0.92]),
            np.array([0.1, 0.2])]
    m = noc_metrics(ious, thresholds=(0.85, 0.9), max_clicks=20)
    assert m['NoC@85'] == pytest.approx((2 + 1 + 20) / 3)
    assert m['NoC@90'] == pytest.approx((3 + 1 + 20) / 3)
    assert m['NoF@85'] == m['NoF@90'] == 1
    assert m['mIoU@1'] == pytest.approx(100 * (0.5 + 0.92 + 0.1) / 3)
    assert m['mIoU@3'] == pytest.approx(100 * (0.95 + 0.92 + 0.2) / 3)
    assert m['mIoU@5'] == m['mIoU@3']


def test_ground_truth_predictor_needs_one_click():
    gt = disc((40, 50), (20, 18), 9)
    ious = evaluate_clicks(lambda points, labels: gt, gt, max_clicks=20)
    assert ious.shape == (20, ) and (ious == 1).all()
    m = noc_metrics([ious])
    assert m['NoC@85'] == m['NoC@90'] == 1
    assert m['mIoU@1'] == 100


def test_disc_predictor_converges():
    """A toy model: a disc around each positive click as large as the
    click's distance to the object boundary plus one pixel (so it leaks
    a little), minus a disc of radius 2 around each negative click."""
    gt = np.zeros((48, 64), bool)
    gt[8:40, 10:50] = True
    gt |= disc(gt.shape, (50, 24), 10)
    depth = ndimage.distance_transform_edt(gt)
    calls = []

    def predict(points, labels):
        calls.append(labels.copy())
        pred = np.zeros(gt.shape, bool)
        for (x, y), label in zip(points, labels):
            if label == 1:
                pred |= disc(gt.shape, (x, y), depth[int(y), int(x)] + 1)
        for (x, y), label in zip(points, labels):
            if label == 0:
                pred &= ~disc(gt.shape, (x, y), 2)
        return pred

    ious = evaluate_clicks(predict, gt, max_clicks=20)
    assert [len(c) for c in calls] == list(range(1, 21))
    assert set(calls[-1]) == {0, 1}  # positive and negative clicks
    assert ious[0] < 0.7 and ious[-1] > 0.9
    m = noc_metrics([ious])
    assert m['NoC@90'] <= 10 and m['NoF@90'] == 0
    stopped = evaluate_clicks(predict, gt, max_clicks=20, stop_iou=0.9)
    assert len(stopped) == m['NoC@90'] and stopped[-1] >= 0.9


def sample(pred_masks, gt_masks, **prompts):
    s = DetDataSample()
    s.pred_prompt_instances = InstanceData(
        masks=torch.as_tensor(pred_masks))
    s.gt_instances = InstanceData(
        masks=BitmapMasks(gt_masks.astype(np.uint8), *gt_masks.shape[1:]))
    if prompts:
        s.prompt_instances = InstanceData(
            **{k: torch.as_tensor(v) for k, v in prompts.items()})
    return s.to_dict()


def test_metric_ground_truth_gives_100_and_splits_modes():
    gt = np.stack([disc((20, 30), (10, 10), 5), disc((20, 30), (20, 8), 4)])
    half = gt.copy()
    half[:, :, 15:] = False
    metric = InteractiveSegMetric()
    metric.dataset_meta = dict(classes=())
    metric.process(None, [
        sample(gt, gt, points=[[[10., 10.]], [[20., 8.]]],
               point_labels=[[1], [1]]),
        sample(gt, gt, boxes=[[5., 5., 15., 15.], [16., 4., 24., 12.]]),
    ])
    assert metric.evaluate(2) == {
        'interactive/mIoU': 100.0, 'interactive/mIoU_point': 100.0,
        'interactive/mIoU_box': 100.0, 'interactive/num_prompts': 4}
    metric.process(None, [sample(half, gt, boxes=[[0, 0, 1, 1]] * 2)])
    ious = [(h & g).sum() / g.sum() for h, g in zip(half, gt)]
    result = metric.evaluate(1)
    assert result['interactive/mIoU'] == pytest.approx(100 * np.mean(ious))
    assert 'interactive/mIoU_point' not in result


def test_metric_refuses_mismatched_masks():
    metric = InteractiveSegMetric()
    gt = np.zeros((2, 8, 8), bool)
    with pytest.raises(ValueError, match='differ'):
        metric.process(None, [sample(gt[:1], gt)])
