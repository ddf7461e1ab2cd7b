"""Deterministic prompts from every ground-truth segment (COCO-SAM eval)."""
from typing import Optional, Sequence

import numpy as np

from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks
from ...utils.mask_geometry import first_click
from .prompt_sampling import SamplePrompts

PROMPT_MODES = ('point', 'box')


@TRANSFORMS.register_module()
class GTSegmentPrompts(SamplePrompts):
    """One point and / or one box prompt per ground-truth segment.

    The COCO-SAM interactive protocol: every segment of the panoptic
    ground truth, things (``gt_masks``, crowd regions excluded) and stuff
    (one region per stuff label of ``gt_seg_map``), is prompted

    - ``'point'``: by one positive click at its most interior pixel (the
      distance-transform maximum, :func:`first_click`), the first click of
      the multi-click protocol;
    - ``'box'``: by its tight box ``(x1, y1, x2 + 1, y2 + 1)``, no noise.

    Put it after ``Resize`` (and ``Pad``) and after
    ``LoadPanopticAnnotations``, loaded after the resize as in mmdet's test
    pipelines: the segments stay at the original image size, where the
    predictions are scored, and the prompts are mapped to input pixels
    with ``scale_factor`` (the click at the centre of its pixel). With
    several modes the prompts are ordered mode by mode (all points, then
    all boxes) and ``gt_masks`` repeats the segments in that order, for
    :class:`PackPromptInputs` and :class:`InteractiveSegMetric`.

    Required Keys:

    - img, scale_factor (optional), ori_shape
    - gt_masks (BitmapMasks) (optional), gt_seg_map (optional)

    Modified Keys: gt_masks, gt_bboxes (original pixels), gt_bboxes_labels
    (the segments' classes), gt_ignore_flags; gt_seg_map is removed.

    Added Keys: prompt_points, prompt_point_labels, prompt_boxes,
    prompt_box_valid (see :class:`SamplePrompts`).

    Args:
        modes (Sequence[str]): ``'point'`` and / or ``'box'``. Defaults to
            both.
        min_mask_area (int): Segments with fewer pixels (at the original
            size) are not prompted. Defaults to 1.
        max_segments (int, optional): Prompt at most this many segments,
            the largest first. Defaults to None (all).
        num_things_classes (int): Labels of ``gt_seg_map`` below this are
            things. Defaults to 80.
        ignore_index (int): Unlabelled value of ``gt_seg_map``.
            Defaults to 255.
    """

    def __init__(self,
                 modes: Sequence[str] = PROMPT_MODES,
                 min_mask_area: int = 1,
                 max_segments: Optional[int] = None,
                 num_things_classes: int = 80,
                 ignore_index: int = 255) -> None:
        modes = tuple(modes)
        if not modes or any(m not in PROMPT_MODES for m in modes) or len(
                set(modes)) != len(modes):
            raise ValueError(f'modes must be distinct values of '
                             f'{PROMPT_MODES}, got {modes}')
        super().__init__(
            min_mask_area=min_mask_area,
            num_things_classes=num_things_classes,
            ignore_index=ignore_index,
            skip_empty=False)
        self.modes = modes
        self.max_segments = max_segments

    def _labels(self, results: dict, chosen: np.ndarray,
                stuff_labels: np.ndarray) -> np.ndarray:
        """Class of each chosen segment (things first, then stuff); -1
        where unknown."""
        gt_masks = results.get('gt_masks')
        num_things = len(gt_masks) if gt_masks is not None else 0
        thing_labels = np.asarray(
            results.get('gt_bboxes_labels', np.zeros(0)), np.int64)
        flags = results.get('gt_ignore_flags')
        if flags is not None and len(flags) == len(thing_labels):
            # Crowd instances have a box and a label but no mask.
            thing_labels = thing_labels[~np.asarray(flags, bool)]
        labels = np.full(len(chosen), -1, np.int64)
        for i, index in enumerate(chosen):
            if index < num_things:
                if index < len(thing_labels):
                    labels[i] = thing_labels[index]
            else:
                labels[i] = stuff_labels[index - num_things]
        return labels

    def transform(self, results: dict) -> dict:
        """Prompt every segment of one image.

        Args:
            results (dict): Results with the resized image and the
                original-size annotations.

        Returns:
            dict: Results with the prompts and one mask per prompt.
        """
        ori_h, ori_w = results['ori_shape'][:2]
        img_h, img_w = results['img_shape'][:2] if 'img_shape' in \
            results else results['img'].shape[:2]
        scale_w, scale_h = results.get('scale_factor', (1., 1.))
        areas, get_masks = self._segments(results, ori_h, ori_w)
        seg = results.get('gt_seg_map')
        stuff_labels = np.zeros(0, np.int64)
        if seg is not None:
            # The stuff regions of ``_segments``, in its order.
            present = np.flatnonzero(
                np.bincount(seg[:ori_h, :ori_w].ravel().astype(np.int64)))
            stuff_labels = present[(present >= self.num_things_classes)
                                   & (present != self.ignore_index)]
        chosen = np.flatnonzero(areas >= max(self.min_mask_area, 1))
        if self.max_segments is not None:
            order = np.argsort(-areas[chosen], kind='stable')
            chosen = np.sort(chosen[order[:self.max_segments]])
        masks = get_masks(chosen)
        seg_labels = self._labels(results, chosen, stuff_labels)
        boxes = BitmapMasks(masks, ori_h, ori_w).get_bboxes(
            HorizontalBoxes).numpy().astype(np.float32)
        scale = np.array([scale_w, scale_h] * 2, np.float32)
        limit = np.array([img_w, img_h] * 2, np.float32)
        num = len(chosen)

        points, point_labels, prompt_boxes, box_valid = [], [], [], []
        for mode in self.modes:
            if mode == 'point':
                clicks = np.array([first_click(m) for m in masks],
                                  np.float32).reshape(num, 2)
                points.append((clicks + 0.5) * scale[:2])
                point_labels.append(np.ones(num, np.int64))
                prompt_boxes.append(np.zeros((num, 4), np.float32))
                box_valid.append(np.zeros(num, bool))
            else:
                points.append(np.zeros((num, 2), np.float32))
                point_labels.append(np.full(num, -1, np.int64))
                prompt_boxes.append(np.minimum(boxes * scale, limit))
                box_valid.append(np.ones(num, bool))
        repeat = len(self.modes)
        results['gt_masks'] = BitmapMasks(
            np.concatenate([masks] * repeat), ori_h, ori_w)
        results['gt_bboxes'] = HorizontalBoxes(
            np.concatenate([boxes] * repeat))
        results['gt_bboxes_labels'] = np.concatenate([seg_labels] * repeat)
        results['gt_ignore_flags'] = np.zeros(num * repeat, bool)
        results.pop('gt_seg_map', None)
        results['prompt_points'] = np.concatenate(points)[:, None]
        results['prompt_point_labels'] = np.concatenate(point_labels)[:,
                                                                      None]
        results['prompt_boxes'] = np.concatenate(prompt_boxes)
        results['prompt_box_valid'] = np.concatenate(box_valid)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(modes={self.modes}, '
                f'min_mask_area={self.min_mask_area}, '
                f'max_segments={self.max_segments}, '
                f'num_things_classes={self.num_things_classes}, '
                f'ignore_index={self.ignore_index})')
