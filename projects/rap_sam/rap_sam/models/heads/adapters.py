"""The two asymmetric adapters that follow RAP-SAM's shared decoder."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
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

    The keys and values of the pixels depend on the image only: their
    projection (``2 C^2`` multiply-adds per stride-4 pixel, the largest
    cost of decoding a few prompts) is :meth:`pixel_kv`, which a predictor
    runs once per image and passes to :meth:`forward` for every new set of
    prompts. The attention is mmcv's ``MultiheadAttention`` computed with
    its own weights (``cross_attn``), so checkpoints are unchanged.

    Args:
        embed_dims (int): Query dims. Defaults to 256.
        num_heads (int): Attention heads. Defaults to 8.
    """

    def __init__(self, embed_dims: int = 256, num_heads: int = 8) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.cross_attn = MultiheadAttention(
            embed_dims, num_heads, batch_first=True)
        self.norm = nn.LayerNorm(embed_dims)
        self.iou_head = nn.Linear(embed_dims, 1)

    def pixel_kv(self, features: Tensor) -> Tuple[Tensor, Tensor]:
        """Keys and values of every pixel for the cross-attention.

        Args:
            features (Tensor): (B, C, H, W) pixel features.

        Returns:
            tuple[Tensor]: keys and values, each (B, heads, H * W,
            C / heads).
        """
        attn = self.cross_attn.attn
        c = self.embed_dims
        b = features.shape[0]
        kv = F.linear(
            features.flatten(2).transpose(1, 2), attn.in_proj_weight[c:],
            attn.in_proj_bias[c:])
        kv = kv.view(b, -1, 2, self.num_heads, c // self.num_heads)
        keys, values = kv.permute(2, 0, 3, 1, 4).contiguous().unbind(0)
        return keys, values

    def forward(
        self,
        features: Tensor,
        kernels: Tensor,
        pixel_kv: Optional[Tuple[Tensor, Tensor]] = None
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Refine prompt queries.

        Args:
            features (Tensor): (B, C, H, W) pixel features.
            kernels (Tensor): (B, P, C) prompt queries of the last stage.
            pixel_kv (tuple[Tensor], optional): :meth:`pixel_kv` of
                ``features``, when cached. Computed here otherwise.

        Returns:
            tuple[Tensor]: mask logits (B, P, H, W), IoU logits (B, P) and
            the refined queries (B, P, C).
        """
        if pixel_kv is None:
            pixel_kv = self.pixel_kv(features)
        keys, values = pixel_kv
        block = self.cross_attn
        attn = block.attn
        b, p, c = kernels.shape
        queries = F.linear(kernels, attn.in_proj_weight[:c],
                           attn.in_proj_bias[:c])
        queries = queries.view(b, p, self.num_heads, -1).transpose(1, 2)
        out = F.scaled_dot_product_attention(
            queries, keys.to(queries.dtype), values.to(queries.dtype),
            dropout_p=attn.dropout if self.training else 0.)
        out = attn.out_proj(out.transpose(1, 2).reshape(b, p, c))
        out = block.dropout_layer(block.proj_drop(out))
        kernels = self.norm(kernels + out)
        mask_logits = torch.einsum('bpc,bchw->bphw', kernels, features)
        return mask_logits, self.iou_head(kernels).squeeze(-1), kernels
