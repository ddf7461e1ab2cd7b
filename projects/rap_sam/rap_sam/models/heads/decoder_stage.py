"""One stage of RAP-SAM's pooling-based dynamic-convolution decoder."""
from typing import Optional, Tuple, Union

import torch.nn as nn
from mmcv.cnn.bricks.transformer import FFN
from mmseg.models.decode_heads.knet_head import KernelUpdator
from torch import Tensor

from .pixel_features import PixelFeatures
from .text_classifier import OpenVocabClassifier


def _fc_norm_relu(dims: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(dims, dims, bias=False), nn.LayerNorm(dims),
        nn.ReLU(inplace=True))


def _mlp(in_dims: int, hidden_dims: int, out_dims: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dims, hidden_dims), nn.ReLU(inplace=True),
        nn.Linear(hidden_dims, hidden_dims), nn.ReLU(inplace=True),
        nn.Linear(hidden_dims, out_dims))


class DynamicConvDecoderStage(nn.Module):
    """Mask pooling, gated kernel update, self-attention, FFN, predictions.

    The queries (kernels) pool the pixel features under their previous
    masks; a K-Net gated kernel update (mmseg's ``KernelUpdator``) folds the
    pooled features into the kernels; self-attention lets queries exchange
    information (prompt queries are masked from each other); an FFN follows.
    Three branches predict class logits (through
    :class:`OpenVocabClassifier`), new masks (query x pixel dot products)
    and the mask IoU.

    Args:
        embed_dims (int): Query and pixel feature dims. Defaults to 256.
        text_dims (int): Text embedding dims of the classifier.
        num_heads (int): Self-attention heads. Defaults to 8.
        ffn_channels (int): FFN hidden dims. Defaults to 2048.
        mask_threshold (float): Probability threshold of mask pooling.
        cls_temperature (float): The stage's class logits are the
            classifier's divided by it. Defaults to 0.1 (official: it
            sharpens the softmax of the per-stage losses; the adapter's
            logits, the published ones, have none).
    """

    def __init__(self,
                 embed_dims: int = 256,
                 text_dims: int = 768,
                 num_heads: int = 8,
                 ffn_channels: int = 2048,
                 mask_threshold: float = 0.5,
                 cls_temperature: float = 0.1) -> None:
        super().__init__()
        self.mask_threshold = mask_threshold
        self.cls_temperature = cls_temperature
        self.kernel_update = KernelUpdator(
            in_channels=embed_dims,
            feat_channels=embed_dims,
            out_channels=embed_dims)
        self.self_attn = nn.MultiheadAttention(
            embed_dims, num_heads, batch_first=True)
        self.self_attn_norm = nn.LayerNorm(embed_dims)
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=ffn_channels,
            act_cfg=dict(type='ReLU', inplace=True))
        self.ffn_norm = nn.LayerNorm(embed_dims)
        self.cls_fcs = _fc_norm_relu(embed_dims)
        self.cls_proj = _mlp(embed_dims, embed_dims, text_dims)
        self.mask_fcs = _fc_norm_relu(embed_dims)
        self.mask_proj = nn.Linear(embed_dims, embed_dims)
        self.iou_head = _mlp(embed_dims, embed_dims, 1)

    def forward(
        self,
        features: Union[Tensor, PixelFeatures],
        kernels: Tensor,
        mask_logits: Tensor,
        classifier: OpenVocabClassifier,
        attn_mask: Optional[Tensor] = None,
        num_classified: Optional[int] = None,
        num_masked: Optional[int] = None,
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Run the stage.

        Args:
            features (Tensor | PixelFeatures): (B, C, H, W) pixel
                features.
            kernels (Tensor): (B, N, C) queries.
            mask_logits (Tensor): (B, N, H, W) masks of the previous stage.
            classifier (OpenVocabClassifier): Scores projected queries.
            attn_mask (Tensor, optional): (N, N) bool, True where query i
                may not attend to query j.
            num_classified (int, optional): Classify only the first
                queries (the object queries: prompts have no class).
                Defaults to all.
            num_masked (int, optional): Predict the masks of only the
                first queries (those a later layer pools with). Defaults
                to all.

        Returns:
            tuple[Tensor]: class logits (B, N_cls, K + 1), mask logits
            (B, N_mask, H, W), IoU logits (B, N) and updated queries
            (B, N, C).
        """
        b, n, c = kernels.shape
        pixels = PixelFeatures.of(features)
        pooled = pixels.pool(mask_logits, self.mask_threshold)
        kernels = self.kernel_update(pooled, kernels).reshape(b, n, c)
        attended = self.self_attn(
            kernels, kernels, kernels, attn_mask=attn_mask,
            need_weights=False)[0]
        kernels = self.self_attn_norm(kernels + attended)
        kernels = self.ffn_norm(self.ffn(kernels))
        cls_logits = classifier(self.cls_proj(
            self.cls_fcs(kernels[:, :num_classified]))) / self.cls_temperature
        mask_embeds = self.mask_fcs(kernels)
        mask_logits = pixels.mask_logits(
            self.mask_proj(mask_embeds[:, :num_masked]))
        iou_logits = self.iou_head(mask_embeds).squeeze(-1)
        return cls_logits, mask_logits, iou_logits, kernels
