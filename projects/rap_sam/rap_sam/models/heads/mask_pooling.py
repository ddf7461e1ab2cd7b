"""Mask pooling: the per-query feature that drives the dynamic kernels."""
import torch
from torch import Tensor


def hard_mask_pool(features: Tensor,
                   mask_logits: Tensor,
                   threshold: float = 0.5) -> Tensor:
    """Sum the features under each query's binarised mask.

    Args:
        features (Tensor): (B, C, H, W) pixel features.
        mask_logits (Tensor): (B, N, H, W) mask logits of the queries.
        threshold (float): Probability above which a pixel belongs to the
            mask. Defaults to 0.5.

    Returns:
        Tensor: (B, N, C) pooled features. No gradient flows into the masks.
    """
    hard_masks = (mask_logits.detach().sigmoid() > threshold).to(
        features.dtype)
    return torch.einsum('bnhw,bchw->bnc', hard_masks, features)
