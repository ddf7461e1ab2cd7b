"""Collecting the visual prompts of a batch of data samples."""
from typing import Dict, Optional, Sequence

import torch
from mmengine.structures import InstanceData
from torch import Tensor


def validate_prompts(prompts: InstanceData, input_shape: tuple,
                     name: str) -> None:
    """Check one sample's prompts; raise ``ValueError`` naming the field.

    Points must lie inside the padded input and have labels 1, 0 or -1
    (any dtype holding exactly those values); boxes must be ``x1 <= x2,
    y1 <= y2`` and overlap the input; ``box_valid`` is a bool per box.

    Args:
        prompts (InstanceData): ``points`` (P, K, 2), ``point_labels``
            (P, K), ``boxes`` (P, 4), ``box_valid`` (P,), all optional.
        input_shape (tuple): Padded input (H, W).
        name (str): How to call the sample in messages.
    """
    h, w = input_shape
    if 'points' in prompts:
        points = prompts.points
        if points.dim() != 3 or points.shape[-1] != 2:
            raise ValueError(f'{name}.points must have shape (P, K, 2), got '
                             f'{tuple(points.shape)}')
        if 'point_labels' not in prompts:
            raise ValueError(f'{name}.point_labels is missing')
        labels = prompts.point_labels
        if labels.shape != points.shape[:2]:
            raise ValueError(f'{name}.point_labels must have shape '
                             f'{tuple(points.shape[:2])}, got '
                             f'{tuple(labels.shape)}')
        allowed = (labels == 1) | (labels == 0) | (labels == -1)
        if not allowed.all():
            raise ValueError(f'{name}.point_labels must be 1 (positive), 0 '
                             '(negative) or -1 (padding), got '
                             f'{labels[~allowed][0].item():g}')
        used = labels >= 0
        xy = points[used]
        if not torch.isfinite(xy).all():
            raise ValueError(f'{name}.points has non-finite values')
        outside = (xy[:, 0] < 0) | (xy[:, 0] > w) | (xy[:, 1] < 0) | (
            xy[:, 1] > h)
        if outside.any():
            bad = xy[outside][0].tolist()
            raise ValueError(
                f'{name}.points: point {bad} lies outside the input image '
                f'(width {w}, height {h})')
    if 'boxes' in prompts:
        boxes = prompts.boxes
        if boxes.dim() != 2 or boxes.shape[-1] != 4:
            raise ValueError(f'{name}.boxes must have shape (P, 4), got '
                             f'{tuple(boxes.shape)}')
        valid = prompts.box_valid if 'box_valid' in prompts else \
            torch.ones(len(boxes), dtype=torch.bool, device=boxes.device)
        if valid.dtype != torch.bool or valid.shape != boxes.shape[:1]:
            raise ValueError(f'{name}.box_valid must be a bool tensor of '
                             f'shape ({len(boxes)},), got {valid.dtype} '
                             f'{tuple(valid.shape)}')
        b = boxes[valid]
        if not torch.isfinite(b).all():
            raise ValueError(f'{name}.boxes has non-finite values')
        if ((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])).any():
            raise ValueError(f'{name}.boxes must be (x1, y1, x2, y2) with '
                             'x1 <= x2 and y1 <= y2')
        if ((b[:, 2] < 0) | (b[:, 3] < 0) | (b[:, 0] > w) |
                (b[:, 1] > h)).any():
            raise ValueError(f'{name}.boxes: a box lies entirely outside the '
                             f'input image (width {w}, height {h})')


def collate_prompts(batch_prompts: Sequence[Optional[InstanceData]],
                    device: torch.device) -> Dict[str, Tensor]:
    """Pad the prompts of a batch to common (P, K) sizes.

    Args:
        batch_prompts (Sequence[InstanceData | None]): Per sample prompts;
            None or zero prompts are allowed.
        device (torch.device): Device of the result.

    Returns:
        dict[str, Tensor]: ``points`` (B, P, K, 2) or None, ``point_labels``
        (B, P, K) with -1 padding or None, ``boxes`` (B, P, 4) or None,
        ``box_valid`` (B, P) or None, and ``valid`` (B, P): which prompts
        exist.
    """
    counts = [0 if p is None else len(p) for p in batch_prompts]
    b, num_prompts = len(batch_prompts), max(counts, default=0)
    with_points = any(p is not None and 'points' in p for p in batch_prompts)
    with_boxes = any(p is not None and 'boxes' in p for p in batch_prompts)
    num_clicks = max((p.points.shape[1] for p in batch_prompts
                      if p is not None and 'points' in p),
                     default=0)
    out = dict(
        points=None, point_labels=None, boxes=None, box_valid=None,
        valid=torch.zeros(b, num_prompts, dtype=torch.bool, device=device))
    if with_points:
        out['points'] = torch.zeros(b, num_prompts, num_clicks, 2,
                                    device=device)
        out['point_labels'] = torch.full((b, num_prompts, num_clicks), -1,
                                         dtype=torch.long, device=device)
    if with_boxes:
        out['boxes'] = torch.zeros(b, num_prompts, 4, device=device)
        out['box_valid'] = torch.zeros(b, num_prompts, dtype=torch.bool,
                                       device=device)
    for i, prompts in enumerate(batch_prompts):
        n = counts[i]
        if n == 0:
            continue
        out['valid'][i, :n] = True
        if 'points' in prompts:
            k = prompts.points.shape[1]
            out['points'][i, :n, :k] = prompts.points.to(device).float()
            out['point_labels'][i, :n, :k] = prompts.point_labels.to(device)
        if 'boxes' in prompts:
            out['boxes'][i, :n] = prompts.boxes.to(device).float()
            out['box_valid'][i, :n] = prompts.box_valid.to(device) if \
                'box_valid' in prompts else True
    if with_points:
        # A prompt with neither a click nor a box would encode nothing.
        has_click = (out['point_labels'] >= 0).any(-1)
        has_box = out['box_valid'] if with_boxes else torch.zeros_like(
            has_click)
        empty = out['valid'] & ~has_click & ~has_box
        if empty.any():
            raise ValueError('a prompt has neither a click (point_labels '
                             '>= 0) nor a box')
    return out
