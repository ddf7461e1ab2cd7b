"""The decoder's stride-4 map and the two products its layers take with it."""
from typing import List, Optional, Union

import torch
from torch import Tensor

from .mask_pooling import binary_masks


def onednn_packing_available(features: Tensor) -> bool:
    """Whether :class:`PixelFeatures` can pack ``features`` for oneDNN."""
    return (features.device.type == 'cpu'
            and features.dtype in (torch.float32, torch.bfloat16)
            and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, '_reorder_linear_weight'))


def onednn_linear(inputs: Tensor, weight: Tensor) -> Tensor:
    """(M, K) inputs times a packed (N, K) oneDNN weight: (M, N)."""
    return torch.ops.mkldnn._linear_pointwise(inputs, weight, None, 'none',
                                              [], '')


def _packed_matmul(inputs: Tensor, weights: List[Tensor]) -> Tensor:
    """(B, M, K) inputs times each image's packed (N, K) weight:
    (B, M, N)."""
    products = [onednn_linear(x, w) for x, w in zip(inputs, weights)]
    # one image: a view, no stacking copy of the (M, N) product
    return products[0][None] if len(products) == 1 else torch.stack(products)


class PixelFeatures:
    """A (B, C, H, W) map as every decoder layer multiplies it.

    Each layer takes two products with the map: mask logits (queries x
    pixels, :meth:`mask_logits`) and mask pooling (binary masks x pixels,
    :meth:`pool`). Plain, they are an ``einsum`` and a ``bmm``. Packed
    (``pack=True``), the map is laid out once in oneDNN's blocked format as
    the weight of both products, and each product is one oneDNN GEMM with
    nothing repacked: the same values (bf16: bit for bit; fp32: up to the
    order of the sums), and on this project's CPU (AMD EPYC, AVX-512, 2
    threads, 65k pixels, 10 queries) mask logits 2.4 -> 0.7 ms in bf16 and
    11.2 -> 1.6 ms in fp32 (MKL's fp32 GEMM runs its AVX2 code on AMD
    CPUs, oneDNN AVX-512). Packing costs about 22 ms (bf16) or 25 ms (fp32)
    per image: in bf16 it pays where an image is decoded again and again
    (a predictor's re-prompts), in fp32 within one pass (see
    :func:`decoder_features`).

    Args:
        features (Tensor): (B, C, H, W) in the dtype the products run in:
            NCHW-contiguous, or, packed, also channels-last (a channels-last
            map is packed as fast: it is transposed for the pooling weight
            instead of the mask weight).
        pack (bool): Pack for oneDNN (CPU, fp32 or bf16; see
            :func:`onednn_packing_available`). Defaults to False.
    """

    def __init__(self, features: Tensor, pack: bool = False) -> None:
        self.tensor = features
        self._mask_weights: Optional[List[Tensor]] = None
        self._pool_weights: Optional[List[Tensor]] = None
        if pack:
            if not onednn_packing_available(features):
                raise ValueError(
                    'packing needs fp32 or bf16 features on a CPU with '
                    f'oneDNN, got {features.dtype} on {features.device}')
            reorder = torch.ops.mkldnn._reorder_linear_weight
            pixels = features.detach().flatten(2)  # (B, C, N)
            self._mask_weights = [reorder(p.t(), None) for p in pixels]
            self._pool_weights = [reorder(p, None) for p in pixels]

    @classmethod
    def of(cls, features: Union[Tensor, 'PixelFeatures']) -> 'PixelFeatures':
        """``features`` as :class:`PixelFeatures` (unpacked if a tensor)."""
        if isinstance(features, PixelFeatures):
            return features
        return cls(features)

    @property
    def packed(self) -> bool:
        return self._mask_weights is not None

    @property
    def shape(self) -> torch.Size:
        return self.tensor.shape

    @property
    def device(self) -> torch.device:
        return self.tensor.device

    @property
    def dtype(self) -> torch.dtype:
        return self.tensor.dtype

    def mask_logits(self, queries: Tensor) -> Tensor:
        """Query x pixel dot products.

        Args:
            queries (Tensor): (B, N, C).

        Returns:
            Tensor: (B, N, H, W).
        """
        if not self.packed or queries.shape[1] == 0:
            return torch.einsum('bnc,bchw->bnhw', queries, self.tensor)
        b, c, h, w = self.tensor.shape
        return _packed_matmul(queries.to(self.tensor.dtype),
                              self._mask_weights).view(b, -1, h, w)

    def pool(self, mask_logits: Tensor, threshold: float = 0.5) -> Tensor:
        """Sum the features under each query's binarised mask.

        Args:
            mask_logits (Tensor): (B, N, H, W) mask logits of the queries.
            threshold (float): Probability above which a pixel belongs to
                the mask. Defaults to 0.5.

        Returns:
            Tensor: (B, N, C) pooled features. No gradient flows into the
            masks.
        """
        return self.weighted_sum(
            binary_masks(mask_logits, threshold, self.tensor.dtype))

    def weighted_sum(self, weights: Tensor) -> Tensor:
        """Pixel weights x pixels: each row's weighted sum of the features.

        Args:
            weights (Tensor): (B, M, H * W) weight of each pixel, in the
                features' dtype.

        Returns:
            Tensor: (B, M, C).
        """
        if not self.packed or weights.shape[1] == 0:
            return torch.bmm(weights, self.tensor.flatten(2).transpose(1, 2))
        return _packed_matmul(weights, self._pool_weights)


class PackedPixelKV:
    """The prompt adapter's pixel keys and values, packed per head for
    oneDNN: cross-attention of a few queries over many cached pixels as two
    small GEMMs per head, with nothing repacked.

    As plain matmuls (:meth:`PromptAdapter.attend_cached`) the scores run
    through MKL, whose fp32 GEMM runs its AVX2 code on AMD CPUs and is
    slow for a few rows. Packed once per image, the attention of 10 prompts
    over a 1024x1024 image's 65k pixels takes 10.3 -> 6.2 ms in fp32 and
    4.9 -> 4.1 ms in bf16 (100 prompts: 77 -> 32 and 27 -> 24 ms; one
    prompt: 3.0 -> 4.3 and 2.4 -> 2.4 ms); the same values (bf16: bit for
    bit; fp32: up to the order of the sums). A predictor's re-prompt of 10
    clicks, A/B in one process: fp32 37.1 -> 32.5 ms, bf16 25.1 -> 24.2.

    Args:
        keys (Tensor): (B, heads, N, D) pixel keys.
        values (Tensor): (B, heads, N, D) pixel values, best a transposed
            view of (B, heads, D, N) memory (:meth:`PromptAdapter.pixel_kv`
            in eval mode).
    """

    def __init__(self, keys: Tensor, values: Tensor) -> None:
        if not onednn_packing_available(keys):
            raise ValueError(
                'packing needs fp32 or bf16 keys on a CPU with oneDNN, got '
                f'{keys.dtype} on {keys.device}')
        reorder = torch.ops.mkldnn._reorder_linear_weight
        self.dtype = keys.dtype
        # per image and head: keys as the (N, D) weight of the scores,
        # values as the (D, N) weight of the attended sum
        self._keys = [[reorder(k.contiguous(), None) for k in image]
                      for image in keys.detach()]
        self._values = [[
            reorder(v.t().contiguous(), None) for v in image
        ] for image in values.detach().to(keys.dtype)]

    def attend(self, queries: Tensor) -> Tensor:
        """Scaled dot-product attention of the queries over the pixels.

        Args:
            queries (Tensor): (B, heads, P, D).

        Returns:
            Tensor: (B, heads, P, D) attended values, in the keys' dtype.
        """
        scaled = (queries * queries.shape[-1]**-0.5).to(self.dtype)
        out = []
        for image, keys, values in zip(scaled, self._keys, self._values):
            # head by head: one head's (P, N) weights stay in the cache
            out.append(torch.stack([
                onednn_linear(onednn_linear(q, k).softmax(-1), v)
                for q, k, v in zip(image, keys, values)
            ]))
        return torch.stack(out)
