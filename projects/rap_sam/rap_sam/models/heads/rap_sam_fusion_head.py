"""Panoptic and instance post-processing that upsamples only used masks."""
from typing import Callable, List, Optional

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData, PixelData
from torch import Tensor

from mmdet.models.seg_heads.panoptic_fusion_heads import MaskFormerFusionHead
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.structures.mask import mask2bbox

MaskLookup = Callable[[Tensor], Tensor]


@MODELS.register_module()
class RapSAMFusionHead(MaskFormerFusionHead):
    """MaskFormer's post-processing on RAP-SAM's stride-4 masks.

    :class:`MaskFormerFusionHead` takes every query's mask upsampled to the
    padded input and, with ``rescale``, resizes all of them again to the
    original image: 100 full-resolution maps, when the panoptic result uses
    only the queries above ``object_mask_thr`` and the instance result only
    the queries of its top-k (query, class) pairs. This head takes the
    masks at any resolution (the decoder's stride 4, or already at the
    padded input size), picks the queries each result needs and upsamples
    only those, through the same resizes (bilinear to the padded input,
    crop to ``img_shape``, bilinear to ``ori_shape``): the panoptic map,
    instance masks, boxes and labels are those of
    :class:`MaskFormerFusionHead` bit for bit, the instance scores up to
    the order of a float sum (relative 1e-7). A resize to the size a mask
    already has is an identity and is skipped. The panoptic map is painted
    in one pass instead of one pass per kept query.

    Args:
        See :class:`MaskFormerFusionHead`.
    """

    @staticmethod
    def _resizer(masks: Tensor, meta: dict, rescale: bool) -> MaskLookup:
        """Return ``f(query_indices) -> (n, H, W)`` full-size mask logits."""
        pad_shape = tuple(meta['batch_input_shape'][:2])
        img_h, img_w = meta['img_shape'][:2]
        ori_shape = tuple(meta['ori_shape'][:2])

        def lookup(index: Tensor) -> Tensor:
            if len(index) == 0:
                h, w = ori_shape if rescale else (min(img_h, pad_shape[0]),
                                                  min(img_w, pad_shape[1]))
                return masks.new_zeros(0, h, w)
            out = masks[index]
            if tuple(out.shape[-2:]) != pad_shape:
                out = F.interpolate(
                    out[:, None], size=pad_shape, mode='bilinear',
                    align_corners=False)[:, 0]
            out = out[:, :img_h, :img_w]
            if rescale and tuple(out.shape[-2:]) != ori_shape:
                out = F.interpolate(
                    out[:, None], size=ori_shape, mode='bilinear',
                    align_corners=False)[:, 0]
            return out

        return lookup

    def _panoptic_queries(self, mask_cls: Tensor) -> Tensor:
        """Indices of the queries :meth:`panoptic_postprocess` keeps."""
        object_mask_thr = self.test_cfg.get('object_mask_thr', 0.8)
        scores, labels = F.softmax(mask_cls, dim=-1).max(-1)
        keep = labels.ne(self.num_classes) & (scores > object_mask_thr)
        return keep.nonzero()[:, 0]

    def panoptic_postprocess(self, mask_cls: Tensor,
                             mask_pred: Tensor) -> PixelData:
        """:meth:`MaskFormerFusionHead.panoptic_postprocess`, vectorised.

        The same decisions, made from per-query pixel counts (one
        ``bincount`` of the argmax map, one sum of the thresholded masks)
        instead of full-size comparisons per query; the map is painted with
        one lookup. Identical output, including the instance ids: a query
        whose argmax region or thresholded mask is empty paints nothing and
        takes no id.

        Args:
            mask_cls (Tensor): (num_queries, num_classes + 1) logits.
            mask_pred (Tensor): (num_queries, H, W) mask logits.

        Returns:
            :obj:`PixelData`: ``sem_seg`` (1, H, W) int32,
            ``label + instance_id * INSTANCE_OFFSET``, ``num_classes`` void.
        """
        object_mask_thr = self.test_cfg.get('object_mask_thr', 0.8)
        iou_thr = self.test_cfg.get('iou_thr', 0.8)
        filter_low_score = self.test_cfg.get('filter_low_score', False)

        scores, labels = F.softmax(mask_cls, dim=-1).max(-1)
        keep = labels.ne(self.num_classes) & (scores > object_mask_thr)
        cur_scores = scores[keep]
        cur_classes = labels[keep]
        cur_masks = mask_pred[keep].sigmoid()
        h, w = cur_masks.shape[-2:]
        void = self.num_classes
        if cur_masks.shape[0] == 0:
            return PixelData(sem_seg=torch.full(
                (1, h, w), void, dtype=torch.int32, device=mask_pred.device))

        num = cur_masks.shape[0]
        mask_ids = (cur_scores.view(-1, 1, 1) * cur_masks).argmax(0)
        mask_areas = torch.bincount(mask_ids.flatten(), minlength=num)
        above = cur_masks >= 0.5
        original_areas = above.flatten(1).sum(1)
        values = []
        instance_id = 1
        for pred_class, mask_area, original_area in zip(
                cur_classes.tolist(), mask_areas.tolist(),
                original_areas.tolist()):
            # An empty region paints nothing and takes no instance id.
            if mask_area == 0 or original_area == 0 or \
                    mask_area / original_area < iou_thr:
                values.append(void)
            elif pred_class >= self.num_things_classes:
                values.append(pred_class)
            else:
                values.append(pred_class + instance_id * INSTANCE_OFFSET)
                instance_id += 1
        values = torch.tensor(
            values, dtype=torch.int32, device=mask_pred.device)
        panoptic_seg = values[mask_ids]
        if filter_low_score:
            owner_above = above.gather(0, mask_ids[None])[0]
            panoptic_seg = torch.where(
                owner_above, panoptic_seg, panoptic_seg.new_tensor(void))
        return PixelData(sem_seg=panoptic_seg[None])

    def instance_from_lookup(self, mask_cls: Tensor,
                             lookup: MaskLookup) -> InstanceData:
        """:meth:`instance_postprocess` with masks fetched on demand.

        The steps are those of
        :meth:`MaskFormerFusionHead.instance_postprocess`, row by row; only
        the masks of the queries in the top-k are resized, scored and boxed
        (each query once).

        Args:
            mask_cls (Tensor): (num_queries, num_classes + 1) logits.
            lookup (Callable): Query indices -> full-size mask logits.

        Returns:
            :obj:`InstanceData`: ``bboxes``, ``labels``, ``scores`` and
            ``masks`` (n, H, W) bool.
        """
        max_per_image = self.test_cfg.get('max_per_image', 100)
        num_queries = mask_cls.shape[0]
        scores = F.softmax(mask_cls, dim=-1)[:, :-1]
        labels = torch.arange(self.num_classes, device=mask_cls.device).\
            unsqueeze(0).repeat(num_queries, 1).flatten(0, 1)
        scores_per_image, top_indices = scores.flatten(0, 1).topk(
            max_per_image, sorted=False)
        labels_per_image = labels[top_indices]
        query_indices = top_indices // self.num_classes

        is_thing = labels_per_image < self.num_things_classes
        scores_per_image = scores_per_image[is_thing]
        labels_per_image = labels_per_image[is_thing]
        query_indices = query_indices[is_thing]
        # A query can hold several of the top-k pairs: its mask, mask score
        # and box are computed once (row-wise ops) and then repeated.
        unique, inverse = torch.unique(query_indices, return_inverse=True)
        mask_pred = lookup(unique)

        mask_pred_binary = (mask_pred > 0).float()
        mask_scores_per_image = (mask_pred.sigmoid() *
                                 mask_pred_binary).flatten(1).sum(1) / (
                                     mask_pred_binary.flatten(1).sum(1) + 1e-6)
        det_scores = scores_per_image * mask_scores_per_image[inverse]
        mask_pred_binary = mask_pred_binary.bool()
        bboxes = mask2bbox(mask_pred_binary)

        results = InstanceData()
        results.bboxes = bboxes[inverse]
        results.labels = labels_per_image
        results.scores = det_scores
        results.masks = mask_pred_binary[inverse]
        return results

    def predict(self,
                mask_cls_results: Tensor,
                mask_pred_results: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = False,
                **kwargs) -> List[dict]:
        """Panoptic (and instance) results of a batch.

        Args:
            mask_cls_results (Tensor): (B, N, num_classes + 1) logits.
            mask_pred_results (Tensor): (B, N, h, w) mask logits at the
                decoder's resolution or at the padded input size.
            batch_data_samples (list[DetDataSample]): Samples with
                ``batch_input_shape``, ``img_shape`` and ``ori_shape``.
            rescale (bool): Results at the original image size.

        Returns:
            list[dict]: ``pan_results`` (:obj:`PixelData`) and, with
            ``test_cfg.instance_on``, ``ins_results`` (:obj:`InstanceData`)
            of each image, as :meth:`MaskFormerFusionHead.predict`.
        """
        panoptic_on = self.test_cfg.get('panoptic_on', True)
        semantic_on = self.test_cfg.get('semantic_on', False)
        instance_on = self.test_cfg.get('instance_on', False)
        assert not semantic_on, 'semantic segmentation results are not ' \
            'supported yet.'
        results = []
        for mask_cls, masks, sample in zip(mask_cls_results,
                                           mask_pred_results,
                                           batch_data_samples):
            lookup = self._resizer(masks, sample.metainfo, rescale)
            result = dict()
            if panoptic_on:
                keep = self._panoptic_queries(mask_cls)
                result['pan_results'] = self.panoptic_postprocess(
                    mask_cls[keep], lookup(keep))
            if instance_on:
                result['ins_results'] = self.instance_from_lookup(
                    mask_cls, lookup)
            results.append(result)
        return results

    def full_size_masks(self, masks: Tensor, meta: dict,
                        rescale: bool = True,
                        index: Optional[Tensor] = None) -> Tensor:
        """Resize mask logits as :meth:`predict` does.

        Args:
            masks (Tensor): (N, h, w) mask logits.
            meta (dict): Image meta (``batch_input_shape``, ``img_shape``,
                ``ori_shape``).
            rescale (bool): To the original image size.
            index (Tensor, optional): Queries to resize. Defaults to all.

        Returns:
            Tensor: (n, H, W) mask logits.
        """
        if index is None:
            index = torch.arange(len(masks), device=masks.device)
        return self._resizer(masks, meta, rescale)(index)
