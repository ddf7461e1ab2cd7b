"""Batch memorisation: does each task's branch learn at all?

A model that cannot memorise one fixed batch of a task has a broken branch
(targets, losses, gradients, prompt encoding), whatever its data. The check
trains a fresh model on one batch for a fixed number of steps and measures
the masks it then predicts for that batch in eval mode:

- ``dice``: the Dice loss (1 - Dice coefficient of the sigmoid masks) of
  the matched masks, at the decoder's stride 4;
- ``iou``: the IoU of the matched binary masks (logit > 0);
- ``cls_acc``: for object queries, how many matched queries name the
  target's class.

Object queries are matched to the targets one to one by mask IoU
(Hungarian); prompt queries are paired with their own target.
"""
import time
from typing import Dict, List, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from ..models.heads.clip_targets import batch_clip_targets


def _mask_quality(logits: Tensor, targets: Tensor) -> Dict[str, Tensor]:
    """Dice loss and IoU of (M, h, w) logits and (M, H, W) targets."""
    targets = F.interpolate(
        targets[:, None].float(), logits.shape[-2:], mode='bilinear',
        align_corners=False)[:, 0]
    binary = targets > 0.5
    probs = logits.sigmoid()
    dice = 1 - (2 * (probs * targets).flatten(1).sum(1) + 1) / (
        probs.flatten(1).sum(1) + targets.flatten(1).sum(1) + 1)
    pred = logits > 0
    inter = (pred & binary).flatten(1).sum(1).float()
    union = (pred | binary).flatten(1).sum(1).float()
    return dict(dice=dice, iou=inter / union.clamp(min=1))


def _match_objects(cls_logits: Tensor, mask_logits: Tensor,
                   labels: Tensor, masks: Tensor) -> Dict[str, Tensor]:
    """Hungarian matching of queries to targets by mask IoU."""
    small = F.interpolate(
        masks[:, None].float(), mask_logits.shape[-2:], mode='bilinear',
        align_corners=False)[:, 0] > 0.5
    pred = (mask_logits > 0).flatten(1).float()
    small = small.flatten(1).float()
    inter = small @ pred.T
    union = small.sum(1, keepdim=True) + pred.sum(1) - inter
    iou = (inter / union.clamp(min=1)).cpu().numpy()
    rows, cols = linear_sum_assignment(-iou)
    quality = _mask_quality(mask_logits[cols], masks[rows])
    quality['cls_acc'] = (cls_logits[cols].argmax(-1) == labels[rows]).float()
    return quality


@torch.no_grad()
def batch_quality(model: torch.nn.Module, batch: dict) -> Dict[str, float]:
    """Mean ``dice``, ``iou`` (and ``cls_acc``) of a model on one batch.

    Args:
        model (nn.Module): A RAP-SAM model.
        batch (dict): A collated batch (``inputs``, ``data_samples``) of one
            task: images with prompts, images or clips.

    Returns:
        dict[str, float]: The means over the batch's targets.
    """
    model.eval()
    head = model.panoptic_head
    data = model.data_preprocessor(batch, True)
    inputs, samples = data['inputs'], data['data_samples']
    parts: List[Dict[str, Tensor]] = []
    if inputs.dim() == 5:
        num_frames = inputs.shape[1]
        objects = head.predict_video(
            model.extract_feat(inputs.flatten(0, 1)), num_frames)
        targets = batch_clip_targets(samples, head.num_things_classes,
                                     head.num_stuff_classes)
        for i, target in enumerate(targets):
            parts.append(
                _match_objects(objects.cls_logits[i],
                               objects.mask_logits[i], target.labels,
                               target.masks))
    elif any('prompt_instances' in s for s in samples):
        prompts = head.predict(
            model.extract_feat(inputs), samples, with_objects=False).prompts
        for i, sample in enumerate(samples):
            masks = sample.gt_instances.masks
            if not isinstance(masks, Tensor):
                masks = masks.to_tensor(torch.bool, inputs.device)
            parts.append(
                _mask_quality(prompts.mask_logits[i][prompts.valid[i]],
                              masks))
    else:
        objects = head.predict(model.extract_feat(inputs), samples).objects
        targets = head.preprocess_gt(
            [s.gt_instances for s in samples],
            [s.get('gt_sem_seg', None) for s in samples])
        for i, target in enumerate(targets):
            parts.append(
                _match_objects(objects.cls_logits[i],
                               objects.mask_logits[i], target.labels,
                               target.masks))
    return {
        key: float(torch.cat([p[key] for p in parts]).mean())
        for key in parts[0]
    }


def memorise(model: torch.nn.Module,
             batch: dict,
             steps: int,
             lr: float = 2e-4,
             log_every: int = 0) -> Dict[str, object]:
    """Train on one fixed batch; return its quality before and after.

    Args:
        model (nn.Module): A RAP-SAM model (trained in place).
        batch (dict): A collated batch of one task.
        steps (int): AdamW steps on the batch.
        lr (float): Learning rate. Defaults to 2e-4.
        log_every (int): Also measure the quality every so many steps.

    Returns:
        dict: ``before`` and ``after`` (:func:`batch_quality`), ``losses``
        (total loss per step), ``curve`` [(step, quality)] and
        ``seconds`` (training time).
    """
    optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.)
    before = batch_quality(model, batch)
    losses: List[float] = []
    curve = []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        model.train()
        data = model.data_preprocessor(batch, True)
        loss_dict = model(**data, mode='loss')
        loss = sum(v for k, v in loss_dict.items() if 'loss' in k)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(float(loss.detach()))
        if log_every and step % log_every == 0 and step < steps:
            curve.append((step, batch_quality(model, batch)))
    seconds = time.perf_counter() - start
    after = batch_quality(model, batch)
    curve.append((steps, after))
    return dict(before=before, after=after, losses=losses, curve=curve,
                seconds=seconds)


def summarise(results: Dict[str, Dict[str, object]],
              max_dice: float = 0.3,
              min_iou: float = 0.75) -> Sequence[str]:
    """Markdown rows: task, steps, seconds, dice / iou before and after."""
    rows = ['| task | steps | seconds | Dice loss before -> after | '
            'mask IoU before -> after | class acc. after | memorised |',
            '|---|---|---|---|---|---|---|']
    for task, res in results.items():
        b, a = res['before'], res['after']
        ok = a['dice'] < max_dice and a['iou'] > min_iou
        acc = f"{a['cls_acc']:.2f}" if 'cls_acc' in a else '-'
        rows.append(
            f"| {task} | {len(res['losses'])} | {res['seconds']:.0f} | "
            f"{b['dice']:.3f} -> {a['dice']:.3f} | "
            f"{100 * b['iou']:.1f} -> {100 * a['iou']:.1f} % | {acc} | "
            f"{'yes' if ok else 'NO'} |")
    return rows


def stack_samples(dataset, indices: Sequence[int]) -> dict:
    """A fixed batch: ``pseudo_collate`` of the dataset's items."""
    from mmengine.dataset import pseudo_collate
    return pseudo_collate([dataset[int(i)] for i in np.atleast_1d(indices)])
