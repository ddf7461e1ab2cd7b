"""Turning a decoded clip into per-frame track instances."""
from typing import List

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData, PixelData
from torch import Tensor

from mmdet.evaluation.functional import INSTANCE_OFFSET
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
    num_classes = cls_logits.shape[1] - 1
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


def _frame_masks(mask_logits: Tensor, meta: dict, rescale: bool) -> Tensor:
    """Stride-4 logits (k, h, w) of one frame to the input (or original)
    image size, padding removed."""
    if len(mask_logits) == 0:
        size = meta['ori_shape'][:2] if rescale else meta['img_shape'][:2]
        return mask_logits.new_zeros(0, *size)
    masks = F.interpolate(
        mask_logits[None],
        size=meta['batch_input_shape'],
        mode='bilinear',
        align_corners=False)[0]
    h, w = meta['img_shape'][:2]
    masks = masks[:, :h, :w]
    if rescale:
        masks = F.interpolate(
            masks[None], size=meta['ori_shape'][:2], mode='bilinear',
            align_corners=False)[0]
    return masks


def clip_panoptic_frames(cls_probs: Tensor,
                         frame_mask_logits: Tensor,
                         frame_metas: List[dict],
                         num_things: int,
                         object_mask_thr: float = 0.8,
                         iou_thr: float = 0.8,
                         filter_low_score: bool = True,
                         rescale: bool = True) -> List[PixelData]:
    """Per-frame panoptic maps of a video whose queries are identities.

    MaskFormer's panoptic inference (as mmdet's ``MaskFormerFusionHead``)
    on every frame, with the keep decision and the class of each query
    taken once for the whole video: a query is kept when its best class is
    not background and scores above ``object_mask_thr``; every pixel goes
    to the kept query of highest ``score * mask probability``; a query
    whose pixels are less than ``iou_thr`` of its own mask (probability >=
    0.5) on a frame is dropped on that frame. A thing keeps the instance
    id ``query slot + 1`` on every frame (its track id), stuff has id 0.

    Args:
        cls_probs (Tensor): (N, K + 1) class probabilities of the video's
            query slots, background last.
        frame_mask_logits (Tensor): (N, T, h, w) stride-4 mask logits.
        frame_metas (list[dict]): Metainfo of each frame (``img_shape``,
            ``ori_shape``, ``batch_input_shape``).
        num_things (int): Labels below this are things.
        object_mask_thr (float): Score a query needs. Defaults to 0.8.
        iou_thr (float): Visible fraction a query's mask needs on a frame.
            Defaults to 0.8.
        filter_low_score (bool): Keep only the pixels of a query where its
            mask probability is >= 0.5. Defaults to True.
        rescale (bool): Maps at the original image size.

    Returns:
        list[PixelData]: For every frame, ``sem_seg`` (1, H, W) long in
        mmdet's encoding ``label + instance_id * INSTANCE_OFFSET``, VOID
        being ``K``.
    """
    num_classes = cls_probs.shape[1] - 1
    scores, labels = cls_probs.max(-1)
    keep = labels.ne(num_classes) & (scores > object_mask_thr)
    queries = keep.nonzero(as_tuple=True)[0]
    results = []
    for t, meta in enumerate(frame_metas):
        probs = _frame_masks(frame_mask_logits[queries, t], meta,
                             rescale).sigmoid()
        pan = torch.full(
            probs.shape[-2:], num_classes, dtype=torch.long,
            device=probs.device)
        if len(queries):
            owner = (scores[queries, None, None] * probs).argmax(0)
            for j, query in enumerate(queries.tolist()):
                label = int(labels[query])
                mask = owner == j
                area = int(mask.sum())
                own_area = int((probs[j] >= 0.5).sum())
                if filter_low_score:
                    mask = mask & (probs[j] >= 0.5)
                if area == 0 or own_area == 0 or area / own_area < iou_thr:
                    continue
                pan[mask] = label + (query + 1) * INSTANCE_OFFSET \
                    if label < num_things else label
        results.append(PixelData(sem_seg=pan[None]))
    return results
