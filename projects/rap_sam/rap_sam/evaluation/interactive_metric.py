"""mIoU of prompt masks (COCO-SAM style interactive evaluation)."""
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmdet.registry import METRICS
from .interactive_clicks import mask_iou, noc_metrics
from .sample_fields import get_field, to_array, to_numpy_masks

PROMPT_MODES = ('point', 'box', 'point_box')


def prompt_modes(prompts: Any, num_prompts: int) -> List[str]:
    """Mode of each prompt: ``'point'``, ``'box'`` or ``'point_box'``.

    Args:
        prompts (InstanceData | dict | None): ``prompt_instances`` with
            ``points`` / ``point_labels`` (-1 is padding) and / or
            ``boxes`` / ``box_valid``.
        num_prompts (int): Number of prompts.

    Returns:
        list[str]: One mode per prompt; ``'unknown'`` without prompts.
    """
    if num_prompts == 0:
        return []
    has_click = np.zeros(num_prompts, bool)
    has_box = np.zeros(num_prompts, bool)
    labels = get_field(prompts, 'point_labels')
    if labels is not None:
        has_click = (to_array(labels) >= 0).reshape(num_prompts, -1).any(1)
    elif get_field(prompts, 'points') is not None:
        has_click[:] = True
    boxes = get_field(prompts, 'boxes')
    if boxes is not None:
        valid = get_field(prompts, 'box_valid')
        has_box = np.ones(num_prompts, bool) if valid is None else \
            to_array(valid).astype(bool)
    names = {(True, False): 'point', (False, True): 'box',
             (True, True): 'point_box', (False, False): 'unknown'}
    return [names[bool(c), bool(b)] for c, b in zip(has_click, has_box)]


@METRICS.register_module()
class InteractiveSegMetric(BaseMetric):
    """Mean IoU of the masks predicted for visual prompts.

    COCO-SAM style: every ground-truth segment gets one prompt (a click or
    its box) and the metric is the IoU of the prompt's mask with that
    segment, averaged over all prompts of the dataset, overall and per
    prompt mode (point, box, point and box).

    Each data sample carries ``pred_prompt_instances.masks`` (P, H, W)
    bool, ``gt_instances.masks`` (P, H, W): the segment of each prompt, in
    order (Tensor, ndarray or ``BitmapMasks``), and optionally
    ``prompt_instances`` (``points`` / ``point_labels`` / ``boxes`` /
    ``box_valid``) from which the mode of each prompt is read.

    Multi-click refinement: a sample may also carry ``click_ious``, per
    object the IoU after clicks 1..n (a sequence of arrays, e.g. from
    :func:`evaluate_clicks_batch` in :class:`InteractiveTestLoop`); the
    metric then adds ``NoC@85`` / ``NoC@90`` (mean clicks to reach the
    IoU, ``max_clicks`` when never reached), ``NoF@85`` / ``NoF@90``
    (objects that never reach it) and ``mIoU@k`` (see
    :func:`noc_metrics`). The loop reads ``max_clicks``,
    ``noc_thresholds`` and ``miou_clicks`` from here.

    Args:
        noc_thresholds (Sequence[float]): IoU levels of NoC. Defaults to
            (0.85, 0.9).
        max_clicks (int): Click budget per object. Defaults to 20.
        miou_clicks (Sequence[int]): k of the ``mIoU@k`` entries.
            Defaults to (1, 3, 5).
        collect_device (str): Device for collecting results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to 'cpu'.
        prefix (str, optional): Prefix of the metric names. Defaults to
            ``'interactive'``.
    """
    default_prefix: Optional[str] = 'interactive'

    def __init__(self,
                 noc_thresholds: Sequence[float] = (0.85, 0.9),
                 max_clicks: int = 20,
                 miou_clicks: Sequence[int] = (1, 3, 5),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if max_clicks < 1:
            raise ValueError(f'max_clicks must be >= 1, got {max_clicks}')
        self.noc_thresholds = tuple(noc_thresholds)
        self.max_clicks = max_clicks
        self.miou_clicks = tuple(miou_clicks)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store the IoU and mode of every prompt of the batch.

        Args:
            data_batch (Any): Unused.
            data_samples (Sequence[dict]): Samples with predictions.
        """
        for i, sample in enumerate(data_samples):
            pred = get_field(sample, 'pred_prompt_instances')
            gt = get_field(sample, 'gt_instances')
            if pred is None or get_field(pred, 'masks') is None:
                raise ValueError(f'data_samples[{i}] has no '
                                 'pred_prompt_instances.masks')
            if gt is None or get_field(gt, 'masks') is None:
                raise ValueError(f'data_samples[{i}] has no '
                                 'gt_instances.masks (one per prompt)')
            pred_masks = to_numpy_masks(get_field(pred, 'masks'))
            gt_masks = to_numpy_masks(get_field(gt, 'masks'))
            if pred_masks.shape != gt_masks.shape:
                raise ValueError(
                    f'data_samples[{i}]: pred_prompt_instances.masks '
                    f'{pred_masks.shape} and gt_instances.masks '
                    f'{gt_masks.shape} differ; give one ground-truth mask '
                    'per prompt at the prediction size')
            modes = prompt_modes(
                get_field(sample, 'prompt_instances'), len(pred_masks))
            # One result per sample: mmengine keeps ``size`` results.
            result = dict(
                ious=[mask_iou(p, g) for p, g in zip(pred_masks, gt_masks)],
                modes=modes)
            click_ious = get_field(sample, 'click_ious')
            if click_ious is not None:
                result['click_ious'] = [to_array(c) for c in click_ious]
            self.results.append(result)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """mIoU (percent) overall and per prompt mode present.

        Args:
            results (list[dict]): Per sample, ``ious`` and ``modes`` of
                its prompts.

        Returns:
            dict[str, float]: ``mIoU``, ``mIoU_<mode>`` and
            ``num_prompts``.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        by_mode = defaultdict(list)
        for r in results:
            for iou, mode in zip(r['ious'], r['modes']):
                by_mode[mode].append(iou)
        ious = [iou for r in results for iou in r['ious']]
        if not ious:
            logger.warning('InteractiveSegMetric: no prompts were evaluated')
            return dict(mIoU=0.0, num_prompts=0)
        metrics = dict(mIoU=100 * float(np.mean(ious)))
        for mode in PROMPT_MODES:
            if by_mode[mode]:
                metrics[f'mIoU_{mode}'] = 100 * float(np.mean(by_mode[mode]))
        metrics['num_prompts'] = len(ious)
        curves = [c for r in results for c in r.get('click_ious', [])]
        if curves:
            metrics.update(
                noc_metrics(curves, self.noc_thresholds, self.max_clicks,
                            self.miou_clicks))
            metrics['num_click_objects'] = len(curves)
        return metrics
