"""Mapping a dataset's labels into the label space of a merged vocabulary."""
from typing import List, Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform

from mmdet.registry import TRANSFORMS
from ..class_names import get_vocabulary, merge_vocabularies

ArrayOrFrames = Union[np.ndarray, List[np.ndarray]]


@TRANSFORMS.register_module()
class MapToMergedVocabulary(BaseTransform):
    """Map the labels of one source into a merged vocabulary's indices.

    Datasets with different label sets train one open-vocabulary classifier
    once their vocabularies are merged (:func:`merge_vocabularies`: the
    classes of the first vocabulary, then the new classes of each next
    one). With the default ``('coco_panoptic', 'ytvis2019')`` the merged
    space is [80 COCO things, 53 COCO stuff, 21 YouTube-VIS-only classes],
    the order of the built-in ``coco_ytvis2019`` vocabulary: COCO labels
    keep their values and YouTube-VIS's move (``'sedan'`` -> COCO's
    ``'car'``, ``'giant_panda'`` -> 133, ...). A model trained on it has
    ``num_things_classes=80`` and ``num_stuff_classes=53 + 21``, so the
    stuff labels of COCO's semantic maps stay in the stuff range.

    Works on images (arrays) and on clips (lists of per-frame arrays, the
    layout of mmdet's frame samplers), so it can go before or inside a
    ``TransformBroadcaster``.

    Required Keys:

    - gt_bboxes_labels (np.int64) (optional)
    - gt_seg_map (np.uint8) (optional)

    Modified Keys: the required keys that are present.

    Args:
        source (str): Vocabulary of the dataset's labels, one of
            ``vocabularies``, e.g. ``'ytvis2019'``.
        vocabularies (Sequence[str]): Built-in vocabularies (keys of
            ``rap_sam.datasets.class_names.VOCABULARIES``) in merge order.
            Defaults to ``('coco_panoptic', 'ytvis2019')``.
        ignore_index (int): Value of ``gt_seg_map`` left as it is.
            Defaults to 255.
    """

    def __init__(self,
                 source: str,
                 vocabularies: Sequence[str] = ('coco_panoptic', 'ytvis2019'),
                 ignore_index: int = 255) -> None:
        vocabularies = list(vocabularies)
        if source not in vocabularies:
            raise ValueError(f'source {source!r} is not one of the merged '
                             f'vocabularies {vocabularies}')
        merged, mappings = merge_vocabularies(
            *[get_vocabulary(name) for name in vocabularies])
        mapping = np.asarray(
            mappings[vocabularies.index(source)], dtype=np.int64)
        if ignore_index < len(merged):
            raise ValueError(f'ignore_index {ignore_index} collides with '
                             f'the {len(merged)} merged classes')
        self.source = source
        self.vocabularies = vocabularies
        self.ignore_index = ignore_index
        self.num_classes = len(merged)
        self.mapping = mapping
        # Look-up table of semantic maps: labels move, ignore stays.
        self.seg_lut = np.arange(ignore_index + 1, dtype=np.int64)
        self.seg_lut[:len(mapping)] = mapping

    def _map_labels(self, labels: np.ndarray) -> np.ndarray:
        if len(labels) and (labels.min() < 0
                            or labels.max() >= len(self.mapping)):
            raise ValueError(
                f'labels must be in [0, {len(self.mapping)}) of '
                f'{self.source!r}, got {labels.min()} .. {labels.max()}')
        return self.mapping[labels].astype(labels.dtype)

    def _map_seg(self, seg: np.ndarray) -> np.ndarray:
        return self.seg_lut[seg].astype(seg.dtype)

    @staticmethod
    def _apply(fn, value: ArrayOrFrames) -> ArrayOrFrames:
        if isinstance(value, list):
            return [fn(v) for v in value]
        return fn(value)

    def transform(self, results: dict) -> dict:
        """Map labels and semantic maps.

        Args:
            results (dict): Results of an image or a clip.

        Returns:
            dict: The results with merged-space labels.
        """
        if results.get('gt_bboxes_labels') is not None:
            results['gt_bboxes_labels'] = self._apply(
                self._map_labels, results['gt_bboxes_labels'])
        if results.get('gt_seg_map') is not None:
            results['gt_seg_map'] = self._apply(self._map_seg,
                                                results['gt_seg_map'])
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(source={self.source!r}, '
                f'vocabularies={self.vocabularies}, '
                f'ignore_index={self.ignore_index})')
