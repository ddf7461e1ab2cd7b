"""Filtering of annotations that keeps track ids aligned."""
from typing import Union

import numpy as np

from mmdet.datasets.transforms import FilterAnnotations
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import autocast_box_type


@TRANSFORMS.register_module()
class FilterTrackAnnotations(FilterAnnotations):
    """``FilterAnnotations`` that also filters ``gt_instances_ids``.

    mmdet's ``FilterAnnotations`` drops boxes, labels, masks and ignore
    flags but leaves the track ids of video frames as they were, so after a
    crop that removes an instance the ids no longer match the instances.
    Use this one on frames, e.g. inside a ``TransformBroadcaster`` (there
    with ``keep_empty=False``: a wrapped transform must not return None).

    Required Keys:

    - gt_bboxes (BaseBoxes[torch.float32])
    - gt_bboxes_labels (np.int64) (optional)
    - gt_masks (BitmapMasks | PolygonMasks) (optional)
    - gt_ignore_flags (bool) (optional)
    - gt_instances_ids (np.int32) (optional)

    Modified Keys: the required keys that are present.

    Args: see :class:`mmdet.datasets.transforms.FilterAnnotations`.
    """

    keys = ('gt_bboxes', 'gt_bboxes_labels', 'gt_masks', 'gt_ignore_flags',
            'gt_instances_ids')

    @autocast_box_type()
    def transform(self, results: dict) -> Union[dict, None]:
        """Drop the instances whose box or mask is too small.

        Args:
            results (dict): Result dict.

        Returns:
            dict | None: The filtered results; None when nothing is left
            and ``keep_empty`` is True.
        """
        gt_bboxes = results['gt_bboxes']
        if gt_bboxes.shape[0] == 0:
            return results
        keep = np.ones(gt_bboxes.shape[0], dtype=bool)
        if self.by_box:
            keep &= ((gt_bboxes.widths > self.min_gt_bbox_wh[0]) &
                     (gt_bboxes.heights > self.min_gt_bbox_wh[1])).numpy()
        if self.by_mask:
            keep &= results['gt_masks'].areas >= self.min_gt_mask_area
        if not keep.any() and self.keep_empty:
            return None
        for key in self.keys:
            if key in results:
                results[key] = results[key][keep]
        return results
