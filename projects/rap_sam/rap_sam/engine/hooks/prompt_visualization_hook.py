"""Test-time drawings of prompt predictions (and of everything else)."""
import os.path as osp
from typing import Sequence

import mmcv
import numpy as np
from mmengine.fileio import get
from mmengine.registry import HOOKS
from mmengine.utils import mkdir_or_exist

from mmdet.engine.hooks import DetVisualizationHook
from ...evaluation.interactive_metric import prompt_modes
from ...evaluation.sample_fields import get_field, to_array, to_numpy_masks


@HOOKS.register_module()
class PromptVisualizationHook(DetVisualizationHook):
    """:class:`DetVisualizationHook` that also draws visual prompts.

    A test sample with ``pred_prompt_instances`` is drawn by
    :func:`overlay_masks`: one image per prompt mode (``<name>_point.jpg``,
    ``<name>_box.jpg``, ...), each with its predicted masks and the clicks
    or boxes (mapped back to original pixels) under ``test_out_dir``.
    Other samples (panoptic, instances) go to mmdet's drawing. Arguments
    as :class:`DetVisualizationHook`; ``tools/test.py --show-dir DIR``
    sets ``draw`` and ``test_out_dir``.
    """

    def _draw_prompts(self, sample, out_dir: str) -> None:
        from ...utils.visualization import overlay_masks
        img_path = sample.img_path
        img = mmcv.imfrombytes(
            get(img_path, backend_args=self.backend_args),
            channel_order='rgb')
        pred = sample.pred_prompt_instances
        masks = to_numpy_masks(pred.masks)
        prompts = get_field(sample, 'prompt_instances')
        modes = np.asarray(prompt_modes(prompts, len(masks)))
        scale_w, scale_h = sample.metainfo.get('scale_factor', (1., 1.))
        points = boxes = labels = None
        if prompts is not None and get_field(prompts, 'points') is not None:
            points = to_array(prompts.points) / np.array([scale_w, scale_h])
            labels = to_array(prompts.point_labels)
        if prompts is not None and get_field(prompts, 'boxes') is not None:
            boxes = to_array(prompts.boxes) / np.array([scale_w, scale_h] * 2)
        stem = osp.splitext(osp.basename(img_path))[0]
        for mode in dict.fromkeys(modes.tolist()):
            keep = modes == mode
            drawn_points = drawn_labels = drawn_boxes = None
            if points is not None and mode in ('point', 'point_box'):
                valid = labels[keep] >= 0
                drawn_points = points[keep][valid]
                drawn_labels = labels[keep][valid]
            if boxes is not None and mode in ('box', 'point_box'):
                drawn_boxes = boxes[keep]
            out = overlay_masks(
                img, masks[keep], points=drawn_points,
                point_labels=drawn_labels, boxes=drawn_boxes)
            mmcv.imwrite(out[..., ::-1],
                         osp.join(out_dir, f'{stem}_{mode}.jpg'))

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence) -> None:
        """Draw the batch's prompt samples here, the others as mmdet does.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index of the batch.
            data_batch (dict): Data from the dataloader.
            outputs (Sequence[DetDataSample]): Samples with predictions.
        """
        if self.draw is False:
            return
        prompt = [s for s in outputs if 'pred_prompt_instances' in s]
        others = [s for s in outputs if 'pred_prompt_instances' not in s]
        if others:
            super().after_test_iter(runner, batch_idx, data_batch, others)
        if not prompt or self.test_out_dir is None:
            return
        out_dir = osp.join(runner.work_dir, runner.timestamp,
                           self.test_out_dir)
        mkdir_or_exist(out_dir)
        for sample in prompt:
            self._draw_prompts(sample, out_dir)
