"""Segmentation and tracking quality (STQ, Weber et al., STEP 2021).

``STQ = sqrt(AQ * SQ)``:

- SQ, segmentation quality: mean class IoU of the semantic labels,
  accumulated over all frames of all videos (classes with a non-empty
  union); ground-truth VOID pixels are left out.
- AQ, association quality: for every ground-truth thing tube g (pixels of
  one track id through a video), ``1 / |g| * sum_p TPA * IoU(p, g)`` over
  the predicted thing tubes p that overlap it, with ``TPA = |p & g|`` and
  ``IoU = TPA / |p | g|``; summed over videos and divided by the number of
  ground-truth tubes. Crowd (a thing pixel with instance id 0 in the
  ground truth) is left out of both tubes.

A prediction of VOID on a labelled pixel is a miss of the ground-truth
class; VOID itself is not averaged as a class.

Panoptic maps use mmdet's encoding ``label + instance_id *
INSTANCE_OFFSET``; ``label == num_classes`` (or ``ignore_index``) is VOID.
"""
from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Set

import numpy as np

from mmdet.evaluation.functional import INSTANCE_OFFSET


@dataclass
class STQStats:
    """Accumulated STQ statistics.

    Attributes:
        confusion (np.ndarray): (C + 1, C + 1) semantic confusion, rows
            ground truth, columns prediction; index C is VOID.
        aq_sum (float): Sum over ground-truth tubes of their AQ term.
        num_tubes (int): Number of ground-truth tubes.
    """
    confusion: np.ndarray
    aq_sum: float = 0.
    num_tubes: int = 0

    def __iadd__(self, other: 'STQStats') -> 'STQStats':
        self.confusion = self.confusion + other.confusion
        self.aq_sum += other.aq_sum
        self.num_tubes += other.num_tubes
        return self


def _semantic(pan: np.ndarray, num_classes: int,
              ignore_index: Optional[int]) -> np.ndarray:
    labels = pan % INSTANCE_OFFSET
    void = (pan < 0) | (labels >= num_classes)
    if ignore_index is not None:
        void |= labels == ignore_index
    return np.where(void, num_classes, labels)


def _counts(ids: np.ndarray) -> Dict[int, int]:
    uniq, counts = np.unique(ids, return_counts=True)
    return {int(u): int(c) for u, c in zip(uniq, counts)}


def video_stq_stats(gt: np.ndarray,
                    pred: np.ndarray,
                    num_classes: int,
                    thing_labels: Set[int],
                    ignore_index: Optional[int] = None) -> STQStats:
    """STQ statistics of one video.

    Args:
        gt (np.ndarray): (T, H, W) ground-truth panoptic maps.
        pred (np.ndarray): (T, H, W) predicted panoptic maps.
        num_classes (int): Number of classes (``num_classes`` is VOID).
        thing_labels (set[int]): Labels of thing classes.
        ignore_index (int, optional): Another VOID label.

    Returns:
        STQStats: The video's confusion matrix and AQ terms.
    """
    gt = np.asarray(gt).astype(np.int64)
    pred = np.asarray(pred).astype(np.int64)
    if gt.shape != pred.shape:
        raise ValueError(f'gt {gt.shape} and pred {pred.shape} differ')
    c = num_classes + 1
    gt_sem = _semantic(gt, num_classes, ignore_index)
    pred_sem = _semantic(pred, num_classes, ignore_index)
    confusion = np.bincount(
        (gt_sem * c + pred_sem).ravel(), minlength=c * c).reshape(c, c)

    things = np.asarray(sorted(thing_labels), np.int64)
    gt_thing = np.isin(gt_sem, things)
    crowd = gt_thing & (gt // INSTANCE_OFFSET == 0)
    gt_tube = gt_thing & ~crowd
    pred_tube = np.isin(pred_sem, things) & ~crowd
    gt_sizes = _counts(gt[gt_tube])
    pred_sizes = _counts(pred[pred_tube])
    both = gt_tube & pred_tube
    base = int(pred.max()) + 1
    inter = _counts(gt[both] * base + pred[both])
    aq_terms = {g: 0. for g in gt_sizes}
    for code, tpa in inter.items():
        g, p = divmod(code, base)
        union = gt_sizes[g] + pred_sizes[p] - tpa
        aq_terms[g] += tpa * tpa / union
    aq_sum = sum(aq_terms[g] / gt_sizes[g] for g in gt_sizes)
    return STQStats(confusion, aq_sum, len(gt_sizes))


def stq_summary(stats: Iterable[STQStats]) -> Dict[str, float]:
    """STQ, AQ and SQ (fractions) of accumulated statistics.

    Args:
        stats (Iterable[STQStats]): Per video (or partial sums).

    Returns:
        dict[str, float]: ``STQ``, ``AQ`` and ``SQ`` (mean IoU). AQ is 0
        without ground-truth tubes; SQ is 0 without labelled pixels.
    """
    stats = list(stats)
    if not stats:
        raise ValueError('stq_summary needs statistics of one video or more')
    total = STQStats(np.zeros_like(stats[0].confusion))
    for s in stats:
        total += s
    confusion = total.confusion.copy()
    confusion[-1, :] = 0  # predictions on ground-truth VOID do not count
    tp = np.diag(confusion)[:-1].astype(np.float64)
    fp = confusion[:, :-1].sum(0) - tp
    fn = confusion[:-1, :].sum(1) - tp
    union = tp + fp + fn
    sq = float((tp[union > 0] / union[union > 0]).mean()) \
        if (union > 0).any() else 0.
    aq = total.aq_sum / total.num_tubes if total.num_tubes else 0.
    return dict(STQ=float(np.sqrt(aq * sq)), AQ=float(aq), SQ=sq)
