"""The two asymmetric adapters that follow RAP-SAM's shared decoder."""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import MultiheadAttention
from mmseg.models.decode_heads.knet_head import KernelUpdator
from torch import Tensor

from .pixel_features import PackedPixelKV, PixelFeatures
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

    def forward(self, features: Union[Tensor, PixelFeatures],
                kernels: Tensor, mask_logits: Tensor,
                classifier: OpenVocabClassifier
                ) -> Tuple[Tensor, Tensor, Tensor]:
        """Refine object queries.

        Args:
            features (Tensor | PixelFeatures): (B, C, H, W) pixel features.
            kernels (Tensor): (B, N, C) object queries of the last stage.
            mask_logits (Tensor): (B, N, H, W) masks of the last stage.
            classifier (OpenVocabClassifier): Scores projected queries.

        Returns:
            tuple[Tensor]: class logits (B, N, K + 1), mask logits
            (B, N, H, W) and the refined queries (B, N, C).
        """
        b, n, c = kernels.shape
        pixels = PixelFeatures.of(features)
        pooled = pixels.pool(mask_logits, self.mask_threshold)
        kernels = self.kernel_update(pooled, kernels).reshape(b, n, c)
        cls_logits = classifier(self.cls_proj(kernels))
        mask_logits = pixels.mask_logits(kernels)
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
    prompts. Without them, in eval mode and for fewer than
    ``embed_dims / num_heads`` prompts, :meth:`attend_pixels` computes the
    same attention without projecting any pixel. The attention is mmcv's
    ``MultiheadAttention`` computed with its own weights (``cross_attn``),
    so checkpoints are unchanged.

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

    def pixel_kv(self, features: Union[Tensor, PixelFeatures]
                 ) -> Tuple[Tensor, Tensor]:
        """Keys and values of every pixel for the cross-attention.

        Args:
            features (Tensor | PixelFeatures): (B, C, H, W) pixel features
                (factored ones project their basis: K multiply-adds per
                output instead of C).

        Returns:
            tuple[Tensor]: keys and values, each (B, heads, H * W,
            C / heads). In eval mode the values are a transposed view of
            (B, heads, C / heads, H * W) memory, the layout in which
            :meth:`attend_cached` reads them without repacking.
        """
        attn = self.cross_attn.attn
        c = self.embed_dims
        b = features.shape[0]
        kv = PixelFeatures.of(features).linear(attn.in_proj_weight[c:],
                                               attn.in_proj_bias[c:])
        kv = kv.view(b, -1, 2, self.num_heads, c // self.num_heads)
        if self.training:
            keys, values = kv.permute(2, 0, 3, 1, 4).contiguous().unbind(0)
            return keys, values
        keys = kv[:, :, 0].permute(0, 2, 1, 3).contiguous()
        values = kv[:, :, 1].permute(0, 2, 3, 1).contiguous()
        return keys, values.transpose(2, 3)

    @staticmethod
    def attend_cached(queries: Tensor, keys: Tensor,
                      values: Tensor) -> Tensor:
        """Scaled dot-product attention as two matmuls and a softmax.

        On the CPU, for a few queries over many pixels, this is faster than
        ``F.scaled_dot_product_attention``, whose flash kernel repacks the
        keys and values block by block (1024x1024 image, 10 prompts, bf16:
        10.2 -> 5.8 ms; 100 prompts 67.9 -> 29.7 ms; the same masks within
        float rounding).

        Args:
            queries (Tensor): (B, heads, P, D).
            keys (Tensor): (B, heads, N, D).
            values (Tensor): (B, heads, N, D), best a transposed view of
                (B, heads, D, N) memory (:meth:`pixel_kv` in eval mode).

        Returns:
            Tensor: (B, heads, P, D) attended values.
        """
        scores = torch.matmul(queries * queries.shape[-1]**-0.5,
                              keys.to(queries.dtype).transpose(2, 3))
        return torch.matmul(scores.softmax(-1), values.to(queries.dtype))

    def attend_pixels(self, features: Union[Tensor, PixelFeatures],
                      queries: Tensor) -> Tensor:
        """The cross-attention of projected queries to the pixels, with no
        pixel projected.

        Per head h, ``q_h . (W_k,h f + b_k,h) = (W_k,h^T q_h) . f + const``:
        the constant does not change the softmax, so each query's scores
        are its key-side query times the raw features. The attention
        weights sum to 1, so the attended values are ``W_v,h`` times the
        attended features, plus ``b_v,h``. It costs ``4 heads P C``
        multiply-adds per pixel against ``4 C^2 + 4 P C`` for projecting
        the keys and values: fewer when ``heads P < C``, e.g. streaming
        video with a few tracked prompts (640x360, bf16: 8.6 -> 0.6 ms), or
        the first prompts of an image (1024x1024, 10 prompts, bf16: 69 ->
        24 ms).

        The two products with the pixels are those of every decoder layer
        (:class:`PixelFeatures`' ``mask_logits`` and ``weighted_sum``), so
        packed features serve them too (R18 1344x800, 10 prompts, fp32:
        23 + 16 -> 8.4 + 8.1 ms).

        Args:
            features (Tensor | PixelFeatures): (B, C, H, W) pixel features.
            queries (Tensor): (B, P, C) queries after the query projection.

        Returns:
            Tensor: (B, P, C) attended values, heads concatenated (the
            input of ``out_proj``), equal to scaled dot-product attention
            over :meth:`pixel_kv` up to float rounding.
        """
        pixels = PixelFeatures.of(features).full_precision
        attn = self.cross_attn.attn
        b, p, c = queries.shape
        heads = self.num_heads
        dims = c // heads
        key_weight = attn.in_proj_weight[c:2 * c].view(heads, dims, c)
        value_weight = attn.in_proj_weight[2 * c:].view(heads, dims, c)
        key_queries = torch.einsum('bphd,hdc->bhpc',
                                   queries.view(b, p, heads, dims),
                                   key_weight) * dims**-0.5
        scores = pixels.mask_logits(key_queries.reshape(b, heads * p, c))
        weights = scores.flatten(2).float().softmax(-1).to(pixels.dtype)
        attended = pixels.weighted_sum(weights)
        values = torch.einsum('bhpc,hdc->bphd', attended.view(
            b, heads, p, c), value_weight).reshape(b, p, c)
        return values + attn.in_proj_bias[2 * c:]

    def forward(
        self,
        features: Union[Tensor, PixelFeatures],
        kernels: Tensor,
        pixel_kv: Optional[Union[Tuple[Tensor, Tensor],
                                 PackedPixelKV]] = None
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Refine prompt queries.

        Args:
            features (Tensor | PixelFeatures): (B, C, H, W) pixel features.
            kernels (Tensor): (B, P, C) prompt queries of the last stage.
            pixel_kv (tuple[Tensor] | PackedPixelKV, optional):
                :meth:`pixel_kv` of ``features``, when cached (packed for
                oneDNN or not). Without it: :meth:`attend_pixels` when that
                costs less, :meth:`pixel_kv` otherwise.

        Returns:
            tuple[Tensor]: mask logits (B, P, H, W), IoU logits (B, P) and
            the refined queries (B, P, C).
        """
        pixels = PixelFeatures.of(features)
        block = self.cross_attn
        attn = block.attn
        b, p, c = kernels.shape
        queries = F.linear(kernels, attn.in_proj_weight[:c],
                           attn.in_proj_bias[:c])
        if pixel_kv is None and not self.training and \
                self.num_heads * p < c:
            out = self.attend_pixels(pixels, queries)
        else:
            if pixel_kv is None:
                pixel_kv = self.pixel_kv(pixels)
            queries = queries.view(b, p, self.num_heads, -1).transpose(1, 2)
            if isinstance(pixel_kv, PackedPixelKV):
                out = pixel_kv.attend(queries)
            elif self.training or queries.device.type != 'cpu':
                keys, values = pixel_kv
                out = F.scaled_dot_product_attention(
                    queries, keys.to(queries.dtype), values.to(queries.dtype),
                    dropout_p=attn.dropout if self.training else 0.)
            else:
                out = self.attend_cached(queries, *pixel_kv)
            out = out.transpose(1, 2).reshape(b, p, c)
        out = attn.out_proj(out)
        out = block.dropout_layer(block.proj_drop(out))
        kernels = self.norm(kernels + out)
        mask_logits = pixels.mask_logits(kernels)
        return mask_logits, self.iou_head(kernels).squeeze(-1), kernels
