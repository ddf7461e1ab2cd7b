"""Evaluate a model on small datasets in-process (demo, learning checks).

Each function runs the model over a dataset built from a config dict and
feeds mmdet / rap_sam metrics through mmengine's ``Evaluator``, as the test
loop of ``tools/test.py`` does, and also returns the predictions for
visualisation.
"""
from typing import Dict, List, Tuple

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.structures import InstanceData

from mmdet.registry import DATASETS, METRICS
from mmdet.structures import DetDataSample
from .interactive_clicks import first_click


def _run(model, dataset, evaluator: Evaluator, prepare=None,
         rescale: bool = True) -> Tuple[Dict[str, float], list]:
    outputs = []
    model.eval()
    for i in range(len(dataset)):
        batch = pseudo_collate([dataset[i]])
        if prepare is not None:
            prepare(batch)
        with torch.no_grad():
            data = model.data_preprocessor(batch, False)
            out = model.predict(data['inputs'], data['data_samples'],
                                rescale=rescale)
        outputs.extend(out)
        evaluator.process(data_samples=out, data_batch=batch)
    return evaluator.evaluate(len(dataset)), outputs


def evaluate_panoptic(model, dataset_cfg: dict,
                      metric_cfg: dict) -> Tuple[Dict[str, float], list]:
    """PQ of a model (``CocoPanopticMetric`` or any panoptic metric).

    Returns:
        tuple: metrics and the predicted data samples.
    """
    dataset = DATASETS.build(dataset_cfg)
    evaluator = Evaluator(METRICS.build(metric_cfg))
    evaluator.dataset_meta = dataset.metainfo
    return _run(model, dataset, evaluator)


def evaluate_video_instances(model, dataset_cfg: dict, metric_cfg: dict
                             ) -> Tuple[Dict[str, float], list]:
    """VIS mAP of a model over whole videos (``YouTubeVISCompatMetric``)."""
    return evaluate_panoptic(model, dataset_cfg, metric_cfg)


def _one_click_per_segment(batch: dict) -> None:
    """Turn each sample's ground-truth masks into one click each, placed at
    the mask's most interior pixel (COCO-SAM protocol)."""
    for sample in batch['data_samples']:
        masks = sample.gt_instances.masks
        masks = masks.to_ndarray() if hasattr(masks, 'to_ndarray') else \
            np.asarray(masks)
        points = [first_click(m.astype(bool)) for m in masks]
        sample.prompt_instances = InstanceData(
            points=torch.tensor(points, dtype=torch.float32).reshape(
                len(points), 1, 2),
            point_labels=torch.ones(len(points), 1, dtype=torch.long))


def _one_box_per_segment(batch: dict) -> None:
    """Turn each sample's ground-truth masks into one box prompt each: the
    tight box of the mask (COCO-SAM protocol)."""
    for sample in batch['data_samples']:
        masks = sample.gt_instances.masks
        masks = masks.to_ndarray() if hasattr(masks, 'to_ndarray') else \
            np.asarray(masks)
        boxes = []
        for mask in masks.astype(bool):
            ys, xs = np.nonzero(mask)
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        sample.prompt_instances = InstanceData(
            boxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))


def _evaluate_prompts(model, dataset_cfg: dict, prepare
                      ) -> Tuple[Dict[str, float], List[DetDataSample]]:
    dataset = DATASETS.build(dataset_cfg)
    evaluator = Evaluator(METRICS.build(dict(type='InteractiveSegMetric')))
    evaluator.dataset_meta = dataset.metainfo
    return _run(model, dataset, evaluator, prepare, rescale=False)


def evaluate_box_prompts(model, dataset_cfg: dict
                         ) -> Tuple[Dict[str, float], List[DetDataSample]]:
    """Box mIoU: one box (the mask's tight box) per ground-truth segment.

    The dataset is that of :func:`evaluate_point_prompts`.
    """
    return _evaluate_prompts(model, dataset_cfg, _one_box_per_segment)


def evaluate_point_prompts(model, dataset_cfg: dict
                           ) -> Tuple[Dict[str, float], List[DetDataSample]]:
    """1-click mIoU: one click per ground-truth segment (things and stuff).

    The dataset must give one gt mask per segment, things and stuff, e.g.
    the panoptic pipeline ending with ``SamplePrompts(num_prompts=1000,
    box_prob=0)`` + ``PackPromptInputs``; its random clicks are replaced by
    each mask's most interior pixel. Scored at the input resolution.
    """
    return _evaluate_prompts(model, dataset_cfg, _one_click_per_segment)
