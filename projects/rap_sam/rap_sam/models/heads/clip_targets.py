"""Ground truth of a video clip, laid out like the clip's stacked features."""
from typing import List, Union

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.utils import preprocess_panoptic_gt
from mmdet.structures import TrackDataSample
from ..layers import FactoredMap

# Stuff segments carry no track id; they get one from their class.
STUFF_ID_OFFSET = 1 << 30


def frames_to_clip(x: Union[Tensor, FactoredMap],
                   num_frames: int) -> Union[Tensor, FactoredMap]:
    """Stack the frames of each clip vertically into one tall map.

    Every query then pools, attends and predicts over the whole clip, so one
    query is one object across the clip's frames (its identity).

    Args:
        x (Tensor | FactoredMap): (N * T, C, H, W) per-frame maps (a
            factored map: its basis is stacked).
        num_frames (int): T.

    Returns:
        Tensor | FactoredMap: (N, C, T * H, W).
    """
    if isinstance(x, FactoredMap):
        return x.map_basis(lambda basis: frames_to_clip(basis, num_frames))
    nt, c, h, w = x.shape
    n = nt // num_frames
    return x.view(n, num_frames, c, h, w).transpose(1, 2).reshape(
        n, c, num_frames * h, w)


def clip_to_frames(x: Tensor, num_frames: int) -> Tensor:
    """Inverse of :func:`frames_to_clip` for masks.

    Args:
        x (Tensor): (N, Q, T * H, W).
        num_frames (int): T.

    Returns:
        Tensor: (N, Q, T, H, W).
    """
    n, q, th, w = x.shape
    return x.view(n, q, num_frames, th // num_frames, w)


def clip_targets(track_sample: TrackDataSample, num_things: int,
                 num_stuff: int) -> InstanceData:
    """Per-clip targets: one mask per identity over all frames.

    Things are identified by ``gt_instances.instances_ids``; stuff classes
    (from ``gt_sem_seg`` when present) by their class. An identity absent
    from a frame has an empty mask there.

    Args:
        track_sample (TrackDataSample): Frames with ``gt_instances``
            (``labels``, ``masks``, ``instances_ids``) and optional
            ``gt_sem_seg``, padded to the batch input shape.
        num_things (int): Thing classes of the training vocabulary.
        num_stuff (int): Stuff classes of the training vocabulary.

    Returns:
        InstanceData: ``labels`` (n,), ``masks`` (n, T * H, W) long and
        ``instances_ids`` (n,).
    """
    frame_labels, frame_masks, frame_ids = [], [], []
    for frame in track_sample:
        gt = frame.gt_instances
        sem_seg = frame.gt_sem_seg.sem_seg if 'gt_sem_seg' in frame else None
        labels, masks = preprocess_panoptic_gt(gt.labels, gt.masks, sem_seg,
                                               num_things, num_stuff)
        ids = gt.instances_ids if 'instances_ids' in gt else torch.arange(
            len(gt.labels), device=labels.device)
        stuff_ids = labels[len(ids):] + STUFF_ID_OFFSET
        frame_labels.append(labels)
        frame_masks.append(masks.bool())
        frame_ids.append(torch.cat([ids.to(labels.device), stuff_ids]))
    height, width = frame_masks[0].shape[-2:]
    all_ids = torch.cat(frame_ids).unique()
    num_frames = len(frame_masks)
    device = frame_masks[0].device
    masks = torch.zeros(len(all_ids), num_frames, height, width,
                        dtype=torch.bool, device=device)
    labels = torch.full((len(all_ids), ), -1, dtype=torch.long, device=device)
    for t, (ids, lbls, msks) in enumerate(
            zip(frame_ids, frame_labels, frame_masks)):
        rows = torch.searchsorted(all_ids, ids)
        masks[rows, t] = msks
        labels[rows] = lbls
    return InstanceData(
        labels=labels,
        masks=masks.reshape(len(all_ids), num_frames * height, width).long(),
        instances_ids=all_ids)


def batch_clip_targets(track_samples: List[TrackDataSample], num_things: int,
                       num_stuff: int) -> List[InstanceData]:
    """:func:`clip_targets` for every clip of a batch."""
    return [clip_targets(s, num_things, num_stuff) for s in track_samples]
