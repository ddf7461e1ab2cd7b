"""Click simulation and NoC metrics for interactive segmentation.

The protocol of RITM / SimpleClick style evaluation: the first click is
the most interior pixel of the object; every next click is put at the
centre of the largest error region, positive on a missed (false negative)
region and negative on a false positive region. NoC@t is the number of
clicks needed to reach IoU t (``max_clicks`` when never reached).

Points are ``(x, y)`` pixel coordinates (column, row), as prompts take
them.
"""
from typing import (Callable, Dict, List, Optional, Sequence, Tuple)

import numpy as np
from scipy import ndimage

from ..utils.mask_geometry import first_click, interior_point  # noqa: F401

Click = Tuple[Tuple[int, int], bool]


def mask_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of two binary masks; 1.0 when both are empty."""
    pred, gt = pred.astype(bool), gt.astype(bool)
    union = np.logical_or(pred, gt).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(pred, gt).sum() / union)


def _largest_region(error: np.ndarray) -> Tuple[np.ndarray, int]:
    """The largest 4-connected component of a mask and its area."""
    labels, num = ndimage.label(error)
    if num == 0:
        return error, 0
    areas = np.bincount(labels.ravel())[1:]
    k = int(np.argmax(areas))
    return labels == k + 1, int(areas[k])


def next_click(pred: np.ndarray, gt: np.ndarray) -> Optional[Click]:
    """The next click: centre of the largest error region.

    Error regions are the 4-connected components of the false negatives
    (``gt & ~pred``) and of the false positives (``pred & ~gt``). The one
    with the most pixels is clicked at its most interior pixel (see
    :func:`interior_point`); the click is positive on a false negative
    region and negative on a false positive one (false negatives win
    ties).

    Args:
        pred (np.ndarray): (H, W) bool predicted mask.
        gt (np.ndarray): (H, W) bool ground-truth mask.

    Returns:
        tuple | None: ``((x, y), is_positive)``, or None when the
        prediction is exact.
    """
    pred, gt = pred.astype(bool), gt.astype(bool)
    if pred.shape != gt.shape:
        raise ValueError(f'pred {pred.shape} and gt {gt.shape} differ in '
                         'shape')
    fn_region, fn_area = _largest_region(gt & ~pred)
    fp_region, fp_area = _largest_region(pred & ~gt)
    if fn_area == 0 and fp_area == 0:
        return None
    positive = fn_area >= fp_area
    point, _ = interior_point(fn_region if positive else fp_region)
    return point, positive


def evaluate_clicks(predict_fn: Callable[[np.ndarray, np.ndarray],
                                         np.ndarray],
                    gt_mask: np.ndarray,
                    max_clicks: int = 20,
                    stop_iou: Optional[float] = None) -> np.ndarray:
    """Simulate clicking on one object.

    Args:
        predict_fn (Callable): ``predict_fn(points, labels)`` with points
            (K, 2) float ``(x, y)`` and labels (K,) int (1 positive, 0
            negative), all clicks so far, returns the (H, W) bool mask.
        gt_mask (np.ndarray): (H, W) bool ground-truth mask, not empty.
        max_clicks (int): Number of clicks. Defaults to 20.
        stop_iou (float, optional): Stop once the IoU reaches this.
            Defaults to None (always ``max_clicks`` clicks).

    Returns:
        np.ndarray: (n,) IoU after clicks 1..n, ``n <= max_clicks``. When
        the prediction becomes exact, later entries repeat the last IoU
        (there is nothing left to click).
    """
    gt = gt_mask.astype(bool)
    points: List[Tuple[int, int]] = [first_click(gt)]
    labels: List[int] = [1]
    ious: List[float] = []
    while True:
        pred = np.asarray(
            predict_fn(
                np.asarray(points, np.float32), np.asarray(labels,
                                                           np.int64)))
        if pred.shape != gt.shape:
            raise ValueError(f'predict_fn returned a {pred.shape} mask for '
                             f'a {gt.shape} object')
        ious.append(mask_iou(pred, gt))
        if len(ious) == max_clicks or (stop_iou is not None
                                       and ious[-1] >= stop_iou):
            break
        click = next_click(pred, gt)
        if click is None:
            ious.extend([ious[-1]] * (max_clicks - len(ious)))
            break
        points.append(click[0])
        labels.append(int(click[1]))
    return np.asarray(ious, np.float64)


def evaluate_clicks_batch(
        predict_fn: Callable[[np.ndarray, np.ndarray, np.ndarray],
                             Sequence[np.ndarray]],
        gt_masks: Sequence[np.ndarray],
        max_clicks: int = 20,
        stop_iou: Optional[float] = None,
        min_clicks: int = 1) -> List[np.ndarray]:
    """Simulate clicking on several objects of one image at once.

    :func:`evaluate_clicks` for many objects, one model call per round:
    in round k every object still being clicked has exactly k clicks, so
    their prompts stack into one (A, k, 2) batch. The clicks are those of
    :func:`evaluate_clicks` (first :func:`first_click`, then
    :func:`next_click`).

    Args:
        predict_fn (Callable): ``predict_fn(points, labels, index)`` with
            points (A, k, 2) float ``(x, y)`` pixel indices, labels (A, k)
            int (1 positive, 0 negative) and index (A,) the objects'
            positions in ``gt_masks``; returns A (H, W) bool masks.
        gt_masks (Sequence[np.ndarray]): (H, W) ground-truth masks, none
            empty.
        max_clicks (int): Most clicks per object. Defaults to 20.
        stop_iou (float, optional): An object stops being clicked once its
            IoU reaches this after at least ``min_clicks`` clicks.
            Defaults to None (always ``max_clicks`` clicks).
        min_clicks (int): See ``stop_iou``. Defaults to 1.

    Returns:
        list[np.ndarray]: Per object, IoU after clicks 1..n. An exact
        prediction ends the object's clicking with its IoU repeated up to
        ``max_clicks`` (nothing is left to click); a stopped object's curve
        is shorter (:func:`noc_metrics` holds its last value).
    """
    if max_clicks < 1:
        raise ValueError(f'max_clicks must be >= 1, got {max_clicks}')
    gts = [np.asarray(m).astype(bool) for m in gt_masks]
    points: List[List[Tuple[int, int]]] = [[first_click(g)] for g in gts]
    labels: List[List[int]] = [[1] for _ in gts]
    curves: List[List[float]] = [[] for _ in gts]
    active = list(range(len(gts)))
    while active:
        preds = predict_fn(
            np.asarray([points[i] for i in active], np.float32),
            np.asarray([labels[i] for i in active], np.int64),
            np.asarray(active, np.int64))
        if len(preds) != len(active):
            raise ValueError(f'predict_fn returned {len(preds)} masks for '
                             f'{len(active)} objects')
        still = []
        for pred, i in zip(preds, active):
            pred = np.asarray(pred).astype(bool)
            if pred.shape != gts[i].shape:
                raise ValueError(f'predict_fn returned a {pred.shape} mask '
                                 f'for a {gts[i].shape} object')
            iou = mask_iou(pred, gts[i])
            curves[i].append(iou)
            num = len(curves[i])
            if num == max_clicks or (stop_iou is not None and iou >= stop_iou
                                     and num >= min_clicks):
                continue
            click = next_click(pred, gts[i])
            if click is None:
                curves[i].extend([iou] * (max_clicks - num))
                continue
            points[i].append(click[0])
            labels[i].append(int(click[1]))
            still.append(i)
        active = still
    return [np.asarray(c, np.float64) for c in curves]


def noc_metrics(iou_per_click: Sequence[np.ndarray],
                thresholds: Sequence[float] = (0.85, 0.9),
                max_clicks: int = 20,
                miou_clicks: Sequence[int] = (1, 2, 3, 4, 5)
                ) -> Dict[str, float]:
    """Number of clicks and mIoU after k clicks over objects.

    Args:
        iou_per_click (Sequence[np.ndarray]): Per object, IoU after clicks
            1..n (a shorter array holds its last value for later clicks).
        thresholds (Sequence[float]): IoU levels of NoC. Defaults to
            (0.85, 0.9).
        max_clicks (int): NoC of an object that never reaches the level.
            Defaults to 20.
        miou_clicks (Sequence[int]): k of the ``mIoU@k`` entries.
            Defaults to 1..5.

    Returns:
        dict[str, float]: ``NoC@85``, ``NoC@90`` (mean clicks),
        ``NoF@85``, ``NoF@90`` (objects that never reach the level) and
        ``mIoU@k`` in percent.
    """
    if len(iou_per_click) == 0:
        raise ValueError('noc_metrics needs at least one object')
    curves = []
    for ious in iou_per_click:
        ious = np.asarray(ious, np.float64)[:max_clicks]
        if ious.size == 0:
            raise ValueError('an object has no IoU values')
        curves.append(
            np.concatenate([ious, np.full(max_clicks - ious.size,
                                          ious[-1])]))
    curves = np.stack(curves)  # (N, max_clicks)
    metrics = {}
    for t in thresholds:
        name = f'{round(t * 100)}'
        reached = curves >= t
        clicks = np.where(reached.any(1), reached.argmax(1) + 1, max_clicks)
        metrics[f'NoC@{name}'] = float(clicks.mean())
        metrics[f'NoF@{name}'] = float((~reached.any(1)).sum())
    for k in miou_clicks:
        metrics[f'mIoU@{k}'] = float(100 * curves[:, min(k, max_clicks) -
                                                  1].mean())
    return metrics
