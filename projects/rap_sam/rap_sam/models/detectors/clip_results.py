"""Turning a decoded clip into per-frame track instances."""
from typing import List

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.structures.mask import mask2bbox


def clip_track_instances(cls_logits: Tensor,
                         frame_mask_logits: Tensor,
                         frame_metas: List[dict],
                         max_per_video: int = 10,
                         rescale: bool = True) -> List[InstanceData]:
    """Top-scoring (query, class) pairs of a clip, as per-frame instances.

    Args:
        cls_logits (Tensor): (N, K + 1) class logits of the clip's queries.
        frame_mask_logits (Tensor): (N, T, h, w) stride-4 mask logits.
        frame_metas (list[dict]): Metainfo of each frame (``img_shape``,
            ``ori_shape``, ``batch_input_shape``).
        max_per_video (int): Instances kept. Defaults to 10.
        rescale (bool): Masks at the original image size.

    Returns:
        list[InstanceData]: For every frame: ``masks`` (k, H, W) bool,
        ``scores`` (k,), ``labels`` (k,), ``bboxes`` (k, 4) and
        ``instances_id`` (k,), the same id for the same object in every
        frame.
    """
    num_queries, num_classes = cls_logits.shape[0], cls_logits.shape[1] - 1
    scores = F.softmax(cls_logits, dim=-1)[:, :-1]
    k = min(max_per_video, scores.numel())
    top_scores, top_idx = scores.flatten().topk(k)
    labels = top_idx % num_classes
    queries = top_idx // num_classes
    results = []
    for t, meta in enumerate(frame_metas):
        masks = F.interpolate(
            frame_mask_logits[queries, t][None],
            size=meta['batch_input_shape'],
            mode='bilinear',
            align_corners=False)[0]
        h, w = meta['img_shape'][:2]
        masks = masks[:, :h, :w]
        if rescale:
            masks = F.interpolate(
                masks[None], size=meta['ori_shape'][:2], mode='bilinear',
                align_corners=False)[0]
        masks = masks > 0
        results.append(
            InstanceData(
                masks=masks,
                scores=top_scores,
                labels=labels,
                bboxes=mask2bbox(masks),
                instances_id=torch.arange(k, device=masks.device),
                query_index=queries))
    return results
