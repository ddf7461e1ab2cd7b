"""SAM-style visual prompts (clicks, boxes) sampled from panoptic masks."""
from typing import Callable, Optional, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks

PROMPT_KEYS = ('prompt_points', 'prompt_point_labels', 'prompt_boxes',
               'prompt_box_valid')


@TRANSFORMS.register_module()
class SamplePrompts(BaseTransform):
    """Sample class-agnostic point and box prompts from panoptic segments.

    The candidate segments of an image are its thing instances
    (``gt_masks``) and its stuff regions (one per stuff label of
    ``gt_seg_map``, COCO panoptic having one segment per stuff class and
    image). Up to ``num_prompts`` of those with at least ``min_mask_area``
    pixels are drawn without replacement (an image with fewer segments
    gives fewer prompts: a repeated segment adds no new target and would
    weigh more in the loss). Each prompt is, with probability
    ``box_prob``, a box, else clicks:

    - clicks: ``num_points`` positive clicks drawn uniformly among the
      pixels of the mask, at pixel centres (pixel (row r, column c) covers
      ``[c, c + 1) x [r, r + 1)``; its click is ``(c + 0.5, r + 0.5)``);
    - box: the mask's tight box ``(x1, y1, x2 + 1, y2 + 1)`` with Gaussian
      noise on each side (std ``box_noise_scale`` times the box's width or
      height, at most ``box_noise_max`` pixels, as in SAM), clipped to the
      image.

    Run it after the geometric augmentation, so that the coordinates are
    input pixels. The sampled masks replace the ground truth, in prompt
    order and class-agnostic (label 0); ``PackPromptInputs`` packs them.

    Required Keys:

    - img
    - gt_masks (BitmapMasks) (optional)
    - gt_seg_map (np.uint8) (optional)

    Modified Keys:

    - gt_masks: the P prompt masks
    - gt_bboxes: their tight boxes
    - gt_bboxes_labels: zeros
    - gt_ignore_flags: all False
    - gt_seg_map: removed

    Added Keys:

    - prompt_points (np.float32): (P, K, 2) clicks (x, y)
    - prompt_point_labels (np.int64): (P, K) 1 positive, -1 padding (all
      -1 for box prompts)
    - prompt_boxes (np.float32): (P, 4) boxes (x1, y1, x2, y2)
    - prompt_box_valid (bool): (P, ) which prompts are boxes

    Args:
        num_prompts (int): Most prompts per image. Defaults to 30.
        num_points (int | tuple[int, int]): Clicks of a point prompt, or
            the (min, max) range it is drawn from per prompt (padded with
            label -1 to the max). Defaults to 1.
        box_prob (float): Probability of a box prompt. Defaults to 0.5.
        prompt_type_per (str): ``'prompt'`` draws the type of each prompt,
            ``'image'`` one type for all prompts of the image.
            Defaults to ``'prompt'``.
        box_noise_scale (float): Std of the box noise relative to the box
            side. Defaults to 0.1.
        box_noise_max (float): Largest std of the box noise, in pixels.
            Defaults to 20.
        min_mask_area (int): Segments with fewer pixels are not prompted.
            Defaults to 16.
        num_things_classes (int): Labels of ``gt_seg_map`` below this are
            things (their instances come from ``gt_masks``). Defaults to 80.
        ignore_index (int): Unlabelled value of ``gt_seg_map``.
            Defaults to 255.
        skip_empty (bool): Return None (the dataset then draws another
            image) when an image has no segment to prompt. Defaults to True.
    """

    def __init__(self,
                 num_prompts: int = 30,
                 num_points: Union[int, Tuple[int, int]] = 1,
                 box_prob: float = 0.5,
                 prompt_type_per: str = 'prompt',
                 box_noise_scale: float = 0.1,
                 box_noise_max: float = 20.,
                 min_mask_area: int = 16,
                 num_things_classes: int = 80,
                 ignore_index: int = 255,
                 skip_empty: bool = True) -> None:
        if isinstance(num_points, int):
            num_points = (num_points, num_points)
        num_points = tuple(num_points)
        if len(num_points) != 2 or not 1 <= num_points[0] <= num_points[1]:
            raise ValueError('num_points must be a positive int or a '
                             f'(min, max) range, got {num_points}')
        if num_prompts < 1:
            raise ValueError(f'num_prompts must be >= 1, got {num_prompts}')
        if not 0. <= box_prob <= 1.:
            raise ValueError(f'box_prob must be in [0, 1], got {box_prob}')
        if prompt_type_per not in ('prompt', 'image'):
            raise ValueError("prompt_type_per must be 'prompt' or 'image', "
                             f'got {prompt_type_per!r}')
        self.num_prompts = num_prompts
        self.num_points = num_points
        self.box_prob = box_prob
        self.prompt_type_per = prompt_type_per
        self.box_noise_scale = box_noise_scale
        self.box_noise_max = box_noise_max
        self.min_mask_area = min_mask_area
        self.num_things_classes = num_things_classes
        self.ignore_index = ignore_index
        self.skip_empty = skip_empty

    def _segments(self, results: dict, height: int,
                  width: int) -> Tuple[np.ndarray, Callable]:
        """The image's segments: their areas and a way to get their masks.

        Returns:
            tuple: ``areas`` (S, ) of the thing instances then the stuff
            regions, and ``masks(indices)`` -> (len(indices), H, W) uint8,
            so that only the sampled masks are materialised.
        """
        gt_masks = results.get('gt_masks')
        if gt_masks is not None and not isinstance(gt_masks, BitmapMasks):
            raise TypeError('SamplePrompts needs BitmapMasks gt_masks, got '
                            f'{type(gt_masks).__name__}')
        things = np.zeros((0, height, width), dtype=np.uint8)
        if gt_masks is not None and len(gt_masks):
            things = gt_masks.masks[:, :height, :width]
        seg = results.get('gt_seg_map')
        stuff_labels = np.zeros(0, dtype=np.int64)
        stuff_areas = np.zeros(0, dtype=np.int64)
        if seg is not None:
            seg = seg[:height, :width]
            counts = np.bincount(seg.ravel().astype(np.int64))
            labels = np.flatnonzero(counts)
            stuff_labels = labels[(labels >= self.num_things_classes)
                                  & (labels != self.ignore_index)]
            stuff_areas = counts[stuff_labels]
        thing_areas = things.reshape(len(things), height * width).sum(1)
        areas = np.concatenate([thing_areas, stuff_areas])

        def masks(indices: np.ndarray) -> np.ndarray:
            out = np.empty((len(indices), height, width), dtype=np.uint8)
            for i, index in enumerate(indices):
                if index < len(things):
                    out[i] = things[index]
                else:
                    out[i] = seg == stuff_labels[index - len(things)]
            return out

        return areas, masks

    def _prompt_types(self, num: int) -> np.ndarray:
        """(num, ) bool, True for a box prompt."""
        if self.prompt_type_per == 'image':
            return np.full(num, np.random.rand() < self.box_prob)
        return np.random.rand(num) < self.box_prob

    def _clicks(self, mask: np.ndarray) -> np.ndarray:
        """(k, 2) clicks (x, y) drawn uniformly inside ``mask``."""
        k = np.random.randint(self.num_points[0], self.num_points[1] + 1)
        ys, xs = np.nonzero(mask)
        pick = np.random.choice(len(xs), k, replace=len(xs) < k)
        return np.stack([xs[pick], ys[pick]], axis=1) + 0.5

    def _jitter(self, box: np.ndarray, height: int, width: int) -> np.ndarray:
        """Noisy copy of one (4, ) box, clipped, with x1 <= x2, y1 <= y2."""
        side = np.array([box[2] - box[0], box[3] - box[1]] * 2)
        std = np.minimum(self.box_noise_scale * side, self.box_noise_max)
        noisy = box + np.random.randn(4) * std
        noisy[0::2] = np.clip(noisy[0::2], 0, width)
        noisy[1::2] = np.clip(noisy[1::2], 0, height)
        x1, x2 = sorted(noisy[0::2])
        y1, y2 = sorted(noisy[1::2])
        return np.array([x1, y1, x2, y2])

    def transform(self, results: dict) -> Optional[dict]:
        """Sample the prompts of one image.

        Args:
            results (dict): Results after the geometric augmentation.

        Returns:
            dict | None: Results with the prompts and their masks; None if
            the image has no segment and ``skip_empty`` is True.
        """
        height, width = results['img'].shape[:2]
        areas, get_masks = self._segments(results, height, width)
        candidates = np.flatnonzero(areas >= max(self.min_mask_area, 1))
        if len(candidates) == 0 and self.skip_empty:
            return None
        num = min(self.num_prompts, len(candidates))
        chosen = np.random.choice(candidates, num, replace=False)
        masks = get_masks(chosen)

        max_clicks = self.num_points[1]
        points = np.zeros((num, max_clicks, 2), dtype=np.float32)
        point_labels = np.full((num, max_clicks), -1, dtype=np.int64)
        boxes = BitmapMasks(masks, height, width).get_bboxes(HorizontalBoxes)
        tight = boxes.numpy().astype(np.float32)
        prompt_boxes = tight.copy()
        is_box = self._prompt_types(num)
        for i in range(num):
            if is_box[i]:
                prompt_boxes[i] = self._jitter(tight[i], height, width)
            else:
                clicks = self._clicks(masks[i])
                points[i, :len(clicks)] = clicks
                point_labels[i, :len(clicks)] = 1
        prompt_boxes[~is_box] = 0

        results['gt_masks'] = BitmapMasks(masks, height, width)
        results['gt_bboxes'] = boxes
        results['gt_bboxes_labels'] = np.zeros(num, dtype=np.int64)
        results['gt_ignore_flags'] = np.zeros(num, dtype=bool)
        results.pop('gt_seg_map', None)
        results['prompt_points'] = points
        results['prompt_point_labels'] = point_labels
        results['prompt_boxes'] = prompt_boxes
        results['prompt_box_valid'] = is_box
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'num_prompts={self.num_prompts}, '
                f'num_points={self.num_points}, box_prob={self.box_prob}, '
                f'prompt_type_per={self.prompt_type_per!r}, '
                f'box_noise_scale={self.box_noise_scale}, '
                f'box_noise_max={self.box_noise_max}, '
                f'min_mask_area={self.min_mask_area}, '
                f'num_things_classes={self.num_things_classes}, '
                f'ignore_index={self.ignore_index}, '
                f'skip_empty={self.skip_empty})')
