"""The two asymmetric adapters that follow RAP-SAM's shared decoder."""
from typing import Tuple

import torch
import torch.nn as nn
from mmcv.cnn.bricks.transformer import MultiheadAttention
from mmseg.models.decode_heads.knet_head import KernelUpdator
from torch import Tensor

from .mask_pooling import hard_mask_pool
from .text_classifier import OpenVocabClassifier


class ObjectAdapter(nn.Module):
    """A_obj: one more pooling dynamic-conv update for object queries.

    Args:
        embed_dims (int): Query dims. Defaults to 256.
        text_dims (int): Text embedding dims of the classifier.
        mask_threshold (float): Probability threshold of mask pooling.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 text_dims: int = 768,
                 mask_threshold: float = 0.5) -> None:
        super().__init__()
        self.mask_threshold = mask_threshold
        self.kernel_update = KernelUpdator(
            in_channels=embed_dims,
            feat_channels=embed_dims,
            out_channels=embed_dims)
        self.cls_proj = nn.Sequential(nn.Linear(embed_dims, text_dims))

    def forward(self, features: Tensor, kernels: Tensor, mask_logits: Tensor,
                classifier: OpenVocabClassifier
                ) -> Tuple[Tensor, Tensor, Tensor]:
        """Refine object queries.

        Args:
            features (Tensor): (B, C, H, W) pixel features.
            kernels (Tensor): (B, N, C) object queries of the last stage.
            mask_logits (Tensor): (B, N, H, W) masks of the last stage.
            classifier (OpenVocabClassifier): Scores projected queries.

        Returns:
            tuple[Tensor]: class logits (B, N, K + 1), mask logits
            (B, N, H, W) and the refined queries (B, N, C).
        """
        b, n, c = kernels.shape
        pooled = hard_mask_pool(features, mask_logits, self.mask_threshold)
        kernels = self.kernel_update(pooled, kernels).reshape(b, n, c)
        cls_logits = classifier(self.cls_proj(kernels))
        mask_logits = torch.einsum('bnc,bchw->bnhw', kernels, features)
        return cls_logits, mask_logits, kernels


class PromptAdapter(nn.Module):
    """A_prompt: pixel-wise cross-attention of prompt queries.

    Each prompt query attends to every stride-4 pixel (residual, then
    LayerNorm); masks are query x pixel dot products and a linear layer
    predicts the IoU of each mask.

    Args:
        embed_dims (int): Query dims. Defaults to 256.
        num_heads (int): Attention heads. Defaults to 8.
    """

    def __init__(self, embed_dims: int = 256, num_heads: int = 8) -> None:
        super().__init__()
        self.cross_attn = MultiheadAttention(
            embed_dims, num_heads, batch_first=True)
        self.norm = nn.LayerNorm(embed_dims)
        self.iou_head = nn.Linear(embed_dims, 1)

    def forward(self, features: Tensor,
                kernels: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Refine prompt queries.

        Args:
            features (Tensor): (B, C, H, W) pixel features.
            kernels (Tensor): (B, P, C) prompt queries of the last stage.

        Returns:
            tuple[Tensor]: mask logits (B, P, H, W), IoU logits (B, P) and
            the refined queries (B, P, C).
        """
        pixels = features.flatten(2).transpose(1, 2)
        kernels = self.norm(
            self.cross_attn(query=kernels, key=pixels, value=pixels))
        mask_logits = torch.einsum('bpc,bchw->bphw', kernels, features)
        return mask_logits, self.iou_head(kernels).squeeze(-1), kernels
