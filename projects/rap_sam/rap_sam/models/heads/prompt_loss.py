"""Losses of prompt queries: each paired with its own mask, no matching."""
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, reduce_mean
from ..utils import sample_uncertain_points


def dice_coefficient(point_logits: Tensor, point_targets: Tensor) -> Tensor:
    """Smoothed Dice coefficient (eps 1) of each mask on sampled points.

    Args:
        point_logits (Tensor): (M, num_points) mask logits.
        point_targets (Tensor): (M, num_points) targets in [0, 1].

    Returns:
        Tensor: (M,) ``(2 |p t| + 1) / (|p| + |t| + 1)``, p the sigmoid.
    """
    probs = point_logits.sigmoid()
    inter = (probs * point_targets).sum(-1)
    return (2 * inter + 1) / (probs.sum(-1) + point_targets.sum(-1) + 1)


def mask_iou(mask_logits: Tensor, targets: Tensor) -> Tensor:
    """IoU of binarised masks with their targets at the masks' size.

    Args:
        mask_logits (Tensor): (M, h, w) mask logits.
        targets (Tensor): (M, H, W) binary targets.

    Returns:
        Tensor: (M,) IoU.
    """
    small_targets = F.interpolate(
        targets.unsqueeze(1), mask_logits.shape[-2:],
        mode='nearest').squeeze(1) > 0.5
    pred = mask_logits > 0
    inter = (pred & small_targets).flatten(1).sum(-1).float()
    union = (pred | small_targets).flatten(1).sum(-1).float()
    return inter / union.clamp(min=1)


@MODELS.register_module()
class PromptLoss(BaseModule):
    """Mask BCE, Dice and IoU-regression losses of prompt queries.

    Every layer's prompt masks are compared with the prompt's own
    ground-truth mask on importance-sampled points (Mask2Former's point
    sampling, as the object queries' losses). The IoU output learns the
    quality of its mask: with ``bounded_iou`` False (official) the raw
    output is regressed onto the Dice coefficient of the mask on the
    sampled points; with True, its sigmoid onto the mask IoU at the masks'
    resolution.

    Args:
        loss_mask (dict): Mask BCE loss; :class:`RapSAMHead` passes its own
            (the object queries') unless the config sets one.
        loss_dice (dict): Dice loss; ditto.
        loss_iou (dict): IoU-prediction loss.
        num_points (int): Points sampled per mask. Defaults to 12544.
        oversample_ratio (float): See
            :func:`sample_uncertain_points`.
        importance_sample_ratio (float): Ditto.
        bounded_iou (bool): See above. Defaults to False.
    """

    def __init__(self,
                 loss_mask: ConfigType,
                 loss_dice: ConfigType,
                 loss_iou: ConfigType = dict(type='MSELoss', loss_weight=10.0),
                 num_points: int = 12544,
                 oversample_ratio: float = 3.0,
                 importance_sample_ratio: float = 0.75,
                 bounded_iou: bool = False) -> None:
        super().__init__()
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)
        self.loss_iou = MODELS.build(loss_iou)
        self.num_points = num_points
        self.oversample_ratio = oversample_ratio
        self.importance_sample_ratio = importance_sample_ratio
        self.bounded_iou = bounded_iou

    def scores(self, iou_logits: Tensor) -> Tensor:
        """The published IoU score: raw (official) or its sigmoid.

        Args:
            iou_logits (Tensor): (..., P) IoU outputs.

        Returns:
            Tensor: (..., P) scores.
        """
        return iou_logits.sigmoid() if self.bounded_iou else iou_logits

    def forward(self, all_mask_logits: List[Tensor],
                all_iou_logits: List[Tensor], valid: Tensor,
                batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses of every layer.

        Args:
            all_mask_logits (list[Tensor]): Per layer (B, P, H, W).
            all_iou_logits (list[Tensor]): Per layer (B, P).
            valid (Tensor): (B, P) which prompts exist.
            batch_data_samples (list[DetDataSample]): ``gt_instances.masks``
                holds one mask per prompt, at the padded input size.

        Returns:
            dict[str, Tensor]: ``loss_prompt_{mask,dice,iou}`` of the last
            layer and ``d{i}.loss_prompt_*`` of the earlier ones.

        Raises:
            ValueError: When a sample's number of masks is not its number
                of prompts.
        """
        targets = []
        for i, sample in enumerate(batch_data_samples):
            masks = sample.gt_instances.masks
            if not isinstance(masks, Tensor):
                masks = masks.to_tensor(dtype=torch.bool, device=valid.device)
            n = int(valid[i].sum())
            if len(masks) != n:
                raise ValueError(
                    f'data_samples[{i}]: {n} prompts but '
                    f'{len(masks)} gt_instances.masks; prompt training needs '
                    'one mask per prompt')
            targets.append(masks.float())
        targets = torch.cat(targets)
        losses = {}
        num_layers = len(all_mask_logits)
        for layer, (mask_logits, iou_logits) in enumerate(
                zip(all_mask_logits, all_iou_logits)):
            prefix = '' if layer == num_layers - 1 else f'd{layer}.'
            mask_loss, dice_loss, iou_loss = self._loss_single(
                mask_logits[valid], iou_logits[valid], targets)
            losses[f'{prefix}loss_prompt_mask'] = mask_loss
            losses[f'{prefix}loss_prompt_dice'] = dice_loss
            losses[f'{prefix}loss_prompt_iou'] = iou_loss
        return losses

    def _loss_single(self, mask_logits: Tensor, iou_logits: Tensor,
                     targets: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Losses of one layer for (M, H, W) masks paired with targets."""
        num_masks = reduce_mean(mask_logits.new_tensor([len(targets)]))
        num_masks = max(num_masks, 1)
        if len(targets) == 0:
            zero = mask_logits.sum() + iou_logits.sum()
            return zero, zero, zero
        point_logits, point_targets = sample_uncertain_points(
            mask_logits, targets, self.num_points, self.oversample_ratio,
            self.importance_sample_ratio)
        loss_dice = self.loss_dice(
            point_logits, point_targets, avg_factor=num_masks)
        loss_mask = self.loss_mask(
            point_logits.reshape(-1),
            point_targets.reshape(-1),
            avg_factor=num_masks * self.num_points)
        with torch.no_grad():
            if self.bounded_iou:
                iou_targets = mask_iou(mask_logits, targets)
            else:
                iou_targets = dice_coefficient(point_logits, point_targets)
        loss_iou = self.loss_iou(self.scores(iou_logits), iou_targets)
        return loss_mask, loss_dice, loss_iou
