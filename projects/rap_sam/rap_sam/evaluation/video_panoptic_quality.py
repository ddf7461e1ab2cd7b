"""Video panoptic quality (VPQ) of VPSNet / VIPSeg, on label maps.

A video's panoptic maps use mmdet's encoding, ``label + instance_id *
INSTANCE_OFFSET`` per pixel: stuff has instance id 0, things keep their
track id through the video, and ``label == num_classes`` (or
``ignore_index``) is VOID. A thing pixel with instance id 0 in the ground
truth is crowd.

For a window size k, every run of k consecutive frames of a video is one
"image" whose segments are tubes (one id through the k frames); tubes are
matched as in COCO panoptic quality (same class, IoU > 0.5, VOID pixels of
a prediction left out of the union, a prediction mostly on VOID or crowd
is not a false positive), the IoU / TP / FP / FN counts are summed over
all windows of all videos per class, and VPQ_k is the mean over classes
that occur of ``IoU / (TP + FP / 2 + FN / 2)``. A video shorter than k has
no window of size k.
"""
from typing import Dict, Iterable, Optional, Sequence, Set

import numpy as np

from mmdet.evaluation.functional import INSTANCE_OFFSET

# Per class: [sum of IoU of matches, TP, FP, FN].
PQStats = Dict[int, np.ndarray]
VOID_ID = -1


def segment_ids(pan: np.ndarray, num_classes: int,
                ignore_index: Optional[int] = None) -> np.ndarray:
    """Panoptic maps to segment ids, VOID as ``-1``.

    Args:
        pan (np.ndarray): Panoptic maps (any shape) in mmdet's encoding.
        num_classes (int): Number of classes; label ``num_classes`` is
            VOID.
        ignore_index (int, optional): Another VOID label (e.g. 255).

    Returns:
        np.ndarray: int64 map, the panoptic id itself or ``-1`` for VOID.
    """
    pan = np.asarray(pan).astype(np.int64)
    labels = pan % INSTANCE_OFFSET
    void = (pan < 0) | (labels >= num_classes)
    if ignore_index is not None:
        void |= labels == ignore_index
    return np.where(void, VOID_ID, pan)


def _pair_counts(gt: np.ndarray, pred: np.ndarray) -> Dict[tuple, int]:
    """Pixel count of each (gt id, pred id) pair."""
    base = int(pred.max()) + 2
    codes = (gt.ravel() + 1) * base + (pred.ravel() + 1)
    uniq, counts = np.unique(codes, return_counts=True)
    return {(int(c // base) - 1, int(c % base) - 1): int(n)
            for c, n in zip(uniq, counts)}


def pq_stats(gt: np.ndarray, pred: np.ndarray,
             thing_labels: Set[int]) -> PQStats:
    """COCO panoptic matching of the segments of one (spatio-temporal)
    image.

    Args:
        gt (np.ndarray): Ground-truth segment ids (see
            :func:`segment_ids`), any shape, e.g. (k, H, W) for a window.
        pred (np.ndarray): Predicted segment ids, same shape.
        thing_labels (set[int]): Labels of thing classes (a thing segment
            with instance id 0 in ``gt`` is crowd).

    Returns:
        dict[int, np.ndarray]: Per label, ``[iou_sum, tp, fp, fn]``.
    """
    if gt.shape != pred.shape:
        raise ValueError(f'gt {gt.shape} and pred {pred.shape} differ')
    pairs = _pair_counts(gt, pred)
    gt_area: Dict[int, int] = {}
    pred_area: Dict[int, int] = {}
    for (g, p), n in pairs.items():
        if g != VOID_ID:
            gt_area[g] = gt_area.get(g, 0) + n
        if p != VOID_ID:
            pred_area[p] = pred_area.get(p, 0) + n

    def label(seg: int) -> int:
        return seg % INSTANCE_OFFSET

    def is_crowd(seg: int) -> bool:
        return label(seg) in thing_labels and seg // INSTANCE_OFFSET == 0

    stats: PQStats = {}

    def add(lbl: int, iou: float = 0., tp: int = 0, fp: int = 0,
            fn: int = 0) -> None:
        s = stats.setdefault(lbl, np.zeros(4))
        s += (iou, tp, fp, fn)

    gt_matched, pred_matched = set(), set()
    for (g, p), inter in pairs.items():
        if g == VOID_ID or p == VOID_ID or is_crowd(g) or \
                label(g) != label(p):
            continue
        union = pred_area[p] + gt_area[g] - inter - pairs.get(
            (VOID_ID, p), 0)
        iou = inter / union
        if iou > 0.5:
            add(label(g), iou=iou, tp=1)
            gt_matched.add(g)
            pred_matched.add(p)
    crowd_of_label = {}
    for g in gt_area:
        if is_crowd(g):
            crowd_of_label[label(g)] = g
        elif g not in gt_matched:
            add(label(g), fn=1)
    for p, area in pred_area.items():
        if p in pred_matched:
            continue
        ignored = pairs.get((VOID_ID, p), 0)
        if label(p) in crowd_of_label:
            ignored += pairs.get((crowd_of_label[label(p)], p), 0)
        if ignored / area > 0.5:
            continue
        add(label(p), fp=1)
    return stats


def merge_stats(all_stats: Iterable[PQStats]) -> PQStats:
    """Sum per-class statistics."""
    total: PQStats = {}
    for stats in all_stats:
        for lbl, s in stats.items():
            total[lbl] = total.get(lbl, np.zeros(4)) + s
    return total


def video_window_stats(gt: np.ndarray, pred: np.ndarray, window: int,
                       thing_labels: Set[int]) -> PQStats:
    """Statistics of all windows of ``window`` consecutive frames.

    Args:
        gt (np.ndarray): (T, H, W) ground-truth segment ids.
        pred (np.ndarray): (T, H, W) predicted segment ids.
        window (int): Frames per window (k).
        thing_labels (set[int]): Labels of thing classes.

    Returns:
        dict[int, np.ndarray]: Summed ``[iou_sum, tp, fp, fn]`` per label;
        empty if the video is shorter than ``window``.
    """
    if window < 1:
        raise ValueError(f'window must be >= 1, got {window}')
    return merge_stats(
        pq_stats(gt[t:t + window], pred[t:t + window], thing_labels)
        for t in range(len(gt) - window + 1))


def pq_summary(stats: PQStats, labels: Sequence[int]) -> Dict[str, float]:
    """PQ, SQ, RQ (fractions) averaged over ``labels`` that occur.

    Args:
        stats (dict[int, np.ndarray]): ``[iou_sum, tp, fp, fn]`` per label.
        labels (Sequence[int]): Labels to average over; a label with no
            TP, FP nor FN is left out.

    Returns:
        dict[str, float]: ``pq``, ``sq``, ``rq`` and ``n`` (classes
        averaged); zeros when ``n`` is 0.
    """
    pq, sq, rq, n = [], [], [], 0
    for lbl in labels:
        iou, tp, fp, fn = stats.get(lbl, np.zeros(4))
        if tp + fp + fn == 0:
            continue
        n += 1
        denom = tp + 0.5 * fp + 0.5 * fn
        pq.append(iou / denom)
        sq.append(iou / tp if tp else 0.)
        rq.append(tp / denom)
    if n == 0:
        return dict(pq=0., sq=0., rq=0., n=0)
    return dict(
        pq=float(np.mean(pq)),
        sq=float(np.mean(sq)),
        rq=float(np.mean(rq)),
        n=n)
