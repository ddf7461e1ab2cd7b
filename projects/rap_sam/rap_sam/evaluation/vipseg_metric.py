"""VPQ and STQ of video panoptic segmentation (VIPSeg style)."""
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.logging import MMLogger

from mmdet.evaluation.metrics.base_video_metric import BaseVideoMetric
from mmdet.registry import METRICS
from .sample_fields import get_field, to_array
from .segmentation_tracking_quality import stq_summary, video_stq_stats
from .video_panoptic_quality import (merge_stats, pq_summary, segment_ids,
                                     video_window_stats)


def _panoptic_map(frame: Any, key: str, where: str) -> np.ndarray:
    """(H, W) int64 panoptic map of ``frame.<key>.sem_seg`` (1, H, W)."""
    seg = get_field(frame, key)
    sem_seg = None if seg is None else get_field(seg, 'sem_seg')
    if sem_seg is None:
        raise ValueError(f'{where} has no {key}.sem_seg')
    pan = to_array(sem_seg).astype(np.int64)
    return pan[0] if pan.ndim == 3 else pan


@METRICS.register_module()
class VideoPanopticMetric(BaseVideoMetric):
    """Video panoptic quality (VPQ) and STQ, as evaluated on VIPSeg.

    Each frame of a video carries ``pred_panoptic_seg.sem_seg`` and
    ``gt_panoptic_seg.sem_seg``, (1, H, W) maps in mmdet's encoding
    ``label + instance_id * INSTANCE_OFFSET`` where a thing keeps its
    instance (track) id through the video, stuff has id 0 and label
    ``num_classes`` (or ``ignore_index``) is VOID. A ground-truth thing
    pixel with instance id 0 is crowd. Classes and things come from
    ``dataset_meta['classes']`` and ``dataset_meta['thing_classes']``.

    VPQ_k matches tubes over every window of k consecutive frames (see
    :mod:`.video_panoptic_quality`) and VPQ is the mean of VPQ_k over the
    window sizes that some video is long enough for. The VIPSeg release
    evaluates windows of ``(1, 2, 4, 6, 8)`` frames; ``(1, 5, 10, 15)``
    is the default here. STQ is ``sqrt(AQ * SQ)`` (see
    :mod:`.segmentation_tracking_quality`). All values are percentages.

    Args:
        window_sizes (Sequence[int]): Frames per VPQ window. Defaults to
            (1, 5, 10, 15).
        ignore_index (int, optional): A VOID label besides
            ``num_classes``. Defaults to 255.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to 'cpu'.
        prefix (str, optional): Prefix of the metric names. Defaults to
            ``'vipseg'``.
    """
    default_prefix: Optional[str] = 'vipseg'

    def __init__(self,
                 window_sizes: Sequence[int] = (1, 5, 10, 15),
                 ignore_index: Optional[int] = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not window_sizes or min(window_sizes) < 1:
            raise ValueError(f'window_sizes must be positive, got '
                             f'{window_sizes}')
        self.window_sizes = tuple(window_sizes)
        self.ignore_index = ignore_index
        self._frames: Dict[Any, list] = defaultdict(list)

    def _classes(self):
        classes = self.dataset_meta['classes']
        things = set(self.dataset_meta.get('thing_classes', ()))
        return len(classes), {
            i for i, name in enumerate(classes) if name in things
        }

    def process_video(self, data_samples: Sequence[Any]) -> None:
        """Compute the statistics of one whole video.

        Args:
            data_samples (Sequence): The video's frames, in order.
        """
        num_classes, thing_labels = self._classes()
        gt = np.stack([
            _panoptic_map(f, 'gt_panoptic_seg', f'frame {t}')
            for t, f in enumerate(data_samples)
        ])
        pred = np.stack([
            _panoptic_map(f, 'pred_panoptic_seg', f'frame {t}')
            for t, f in enumerate(data_samples)
        ])
        if gt.shape != pred.shape:
            raise ValueError(f'ground truth {gt.shape} and prediction '
                             f'{pred.shape} of a video differ in shape')
        gt_ids = segment_ids(gt, num_classes, self.ignore_index)
        pred_ids = segment_ids(pred, num_classes, self.ignore_index)
        self.results.append(
            dict(
                vpq={
                    k: video_window_stats(gt_ids, pred_ids, k, thing_labels)
                    for k in self.window_sizes
                },
                windows={
                    k: max(0, len(gt) - k + 1)
                    for k in self.window_sizes
                },
                stq=video_stq_stats(gt, pred, num_classes, thing_labels,
                                    self.ignore_index)))

    def process_image(self, data_samples: Sequence[Any],
                      ori_video_len: int) -> None:
        """Collect frames given one by one until their video is complete.

        Args:
            data_samples (Sequence): One frame (a list of length 1).
            ori_video_len (int): Number of frames of the video.
        """
        for frame in data_samples:
            video_id = get_field(frame, 'video_id')
            self._frames[video_id].append(frame)
            if len(self._frames[video_id]) == ori_video_len:
                frames = sorted(self._frames.pop(video_id),
                                key=lambda f: get_field(f, 'frame_id'))
                self.process_video(frames)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """VPQ (overall, per window size, things, stuff) and STQ / AQ / SQ.

        Args:
            results (list[dict]): Per video statistics.

        Returns:
            dict[str, float]: ``VPQ``, ``VPQ_th``, ``VPQ_st``, ``VPQ@k``
            per window size, ``STQ``, ``AQ`` and ``SQ``, in percent.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        num_classes, thing_labels = self._classes()
        labels = range(num_classes)
        things = sorted(thing_labels)
        stuff = [i for i in labels if i not in thing_labels]
        metrics, per_k = {}, defaultdict(list)
        for k in self.window_sizes:
            if sum(r['windows'][k] for r in results) == 0:
                logger.warning(f'VPQ: no video has {k} frames; VPQ@{k} is '
                               'left out')
                continue
            stats = merge_stats(r['vpq'][k] for r in results)
            metrics[f'VPQ@{k}'] = 100 * pq_summary(stats, labels)['pq']
            per_k['VPQ'].append(metrics[f'VPQ@{k}'])
            per_k['VPQ_th'].append(100 * pq_summary(stats, things)['pq'])
            per_k['VPQ_st'].append(100 * pq_summary(stats, stuff)['pq'])
        for name, values in per_k.items():
            metrics[name] = float(np.mean(values))
        stq = stq_summary(r['stq'] for r in results)
        metrics.update({k: 100 * v for k, v in stq.items()})
        return metrics
