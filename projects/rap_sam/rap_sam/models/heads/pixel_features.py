"""The decoder's stride-4 map and the two products its layers take with it."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from ..layers import FactoredMap
from ..utils.mask_threshold import above
from .int8_pixels import (Int8Pixels, int8_products_available,
                          stack_images)
from .mask_pooling import binary_masks, threshold_logit


def onednn_packing_available(features: Tensor) -> bool:
    """Whether :class:`PixelFeatures` can run its oneDNN kernels (and pack)
    on ``features``: fp32 or bf16 on a CPU with oneDNN."""
    return (features.device.type == 'cpu'
            and features.dtype in (torch.float32, torch.bfloat16)
            and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, '_reorder_linear_weight'))


def onednn_linear(inputs: Tensor, weight: Tensor) -> Tensor:
    """(M, K) inputs times an (N, K) weight through oneDNN: (M, N). The
    weight is a packed oneDNN weight or a strided tensor (read in place:
    a transposed view is not copied)."""
    return torch.ops.mkldnn._linear_pointwise(inputs, weight, None, 'none',
                                              [], '')


def _per_image_linear(inputs: Tensor,
                      weights: Union[Tensor, Sequence[Tensor]]) -> Tensor:
    """(B, M, K) inputs times each image's (N, K) oneDNN weight, packed or a
    strided view of the map: (B, M, N)."""
    return stack_images([
        onednn_linear(x.contiguous(), w) for x, w in zip(inputs, weights)
    ])


class _PerImageLinear(torch.autograd.Function):
    """:func:`_per_image_linear` of a strided (B, N, K) weight, with its
    backward through oneDNN too (torch's CPU matmuls in fp32 are MKL's,
    which runs its AVX2 code on AMD CPUs)."""

    @staticmethod
    def forward(ctx, inputs: Tensor, weights: Tensor) -> Tensor:
        inputs = inputs.contiguous()
        ctx.save_for_backward(inputs, weights)
        # stacked even for one image: an output that is a view could not
        # be modified in place by the autograd graph that follows
        return torch.stack([onednn_linear(x, w)
                            for x, w in zip(inputs, weights)])

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
        inputs, weights = ctx.saved_tensors
        grad_inputs = grad_weights = None
        if ctx.needs_input_grad[0]:  # (M, N) x (N, K)
            grad_inputs = torch.stack([
                onednn_linear(g.contiguous(), w.t())
                for g, w in zip(grad, weights)
            ])
        if ctx.needs_input_grad[1]:
            # (N, M) x (M, K) in the weights' layout, so that the gradients
            # of the two products add up as maps of one layout
            if weights[0].is_contiguous():
                grad_weights = torch.stack([
                    onednn_linear(g.t().contiguous(), x.t())
                    for g, x in zip(grad, inputs)
                ])
            else:
                grad_weights = torch.stack([
                    onednn_linear(x.t().contiguous(), g.t())
                    for g, x in zip(grad, inputs)
                ]).transpose(1, 2)
        return grad_inputs, grad_weights


KERNELS = ('torch', 'onednn', 'packed', 'int8')


class PixelFeatures:
    """A (B, C, H, W) map as every decoder layer multiplies it.

    Each layer takes two products with the map: mask logits (queries x
    pixels, :meth:`mask_logits`) and mask pooling (binary masks x pixels,
    :meth:`pool`). Three kernels compute them, with the same values up to
    the order of the sums (bf16: bit for bit):

    - ``'torch'``: an ``einsum`` and a ``bmm`` on an NCHW-contiguous map
      (tracing, export, GPUs). On CPUs their fp32 GEMM is MKL's, which
      runs its AVX2 code on AMD CPUs.
    - ``'onednn'``: one oneDNN GEMM per image and product that reads the
      map where it lies, either layout, as the (H * W, C) weight of the
      mask logits and its (C, H * W) transpose for pooling: no copy, no
      packing; their gradients are oneDNN GEMMs too.
    - ``'packed'``: the map laid out once per image in oneDNN's blocked
      format as the weight of both products; it pays where an image is
      decoded again and again (a predictor's re-prompts). No gradient
      flows into a packed map.
    - ``'int8'``: the map quantized per image and channel
      (:class:`Int8Pixels`), mask logits and mask pooling as int8 GEMMs,
      other weighted sums (attention) as ``'onednn'`` on the map itself:
      the values of a quantized map, not equal to fp32 (precision
      ``'int8'``). Inference only.

    Any kernel takes a :class:`FactoredMap` (the neck's basis and its 1x1
    projection, ``LiteDeformFPN(feats, factored=True)``) in place of the
    map: queries are projected onto the basis before the products
    (``q W``), sums over pixels projected back after them (``s W^T``), so
    that each product runs over the basis' K channels instead of the map's
    C, with the same values up to the order of the sums.

    On this project's CPU (AMD EPYC, AVX-512, 2 threads), 67200 pixels
    (1344x800) x 256 channels, fp32, per image: the mask logits of 110
    queries take 27.5 ('torch'), 11.7 ('onednn') or 8.2 ms ('packed'),
    those of 10 queries 4.0 ('onednn') or 1.5 ms ('packed'); packing takes
    30-50 ms, so one pass runs fastest unpacked (see
    :func:`~rap_sam.models.heads.default_kernel`), a predictor's
    re-prompts packed.

    Args:
        features (Tensor | FactoredMap): (B, C, H, W) in the dtype the
            products run in (a factored map: its basis in that dtype):
            NCHW-contiguous for ``'torch'``; NCHW or channels-last for the
            oneDNN kernels.
        kernel (str): One of :data:`KERNELS`; the oneDNN ones need fp32 or
            bf16 on a CPU (see :func:`onednn_packing_available`). Defaults
            to ``'torch'``.
    """

    def __init__(self,
                 features: Union[Tensor, FactoredMap],
                 kernel: str = 'torch') -> None:
        self.source = features
        #: (C, K) projection of a factored map, None for a plain one
        self.projection: Optional[Tensor] = None
        if isinstance(features, FactoredMap):
            self.projection = features.weight
            features = features.basis
        if kernel not in KERNELS:
            raise ValueError(f'kernel must be one of {KERNELS}, got '
                             f'{kernel!r}')
        if kernel != 'torch' and not onednn_packing_available(features):
            raise ValueError(
                f'the {kernel!r} kernel needs fp32 or bf16 features on a '
                f'CPU with oneDNN, got {features.dtype} on {features.device}')
        if kernel == 'int8' and not int8_products_available(features):
            raise ValueError("the 'int8' kernel needs torch._int_mm")
        #: (B, K, H, W) the tensor the products read: the map, or the basis
        #: of a factored one
        self.basis = features
        self._tensor: Optional[Tensor] = None if self.projection is not \
            None else features
        self.kernel = kernel
        self._int8 = Int8Pixels(features) if kernel == 'int8' else None
        self._full_precision: Optional['PixelFeatures'] = None
        # per image, (N, K) weights of the two products: the map's
        # (H * W, C) and (C, H * W) views, or their packed copies
        self._mask_weights: Optional[Union[Tensor, List[Tensor]]] = None
        self._pool_weights: Optional[Union[Tensor, List[Tensor]]] = None
        if kernel != 'torch':
            # (B, N, C): a view of either layout
            pixels = features.flatten(2).transpose(1, 2)
            self._mask_weights = pixels
            self._pool_weights = pixels.transpose(1, 2)
        if kernel == 'packed':
            reorder = torch.ops.mkldnn._reorder_linear_weight
            self._mask_weights = [
                reorder(p, None) for p in self._mask_weights.detach()
            ]
            self._pool_weights = [
                reorder(p, None) for p in self._pool_weights.detach()
            ]

    @classmethod
    def of(cls, features: Union[Tensor, FactoredMap, 'PixelFeatures']
           ) -> 'PixelFeatures':
        """``features`` as :class:`PixelFeatures` (``'torch'`` if a
        tensor or a factored map)."""
        if isinstance(features, PixelFeatures):
            return features
        return cls(features)

    def with_kernel(self, kernel: str) -> 'PixelFeatures':
        """The same map with products through another kernel."""
        return PixelFeatures(self.source, kernel)

    @property
    def tensor(self) -> Tensor:
        """(B, C, H, W) the map; a factored one computed on first use."""
        if self._tensor is None:
            self._tensor = self.source.materialize()
        return self._tensor

    @property
    def packed(self) -> bool:
        return self.kernel == 'packed'

    @property
    def full_precision(self) -> 'PixelFeatures':
        """These features with products in their own dtype: an
        ``'onednn'`` view of the map for ``'int8'``, else themselves (for
        attention scores, which the softmax would amplify the rounding
        of)."""
        if self.kernel != 'int8':
            return self
        if self._full_precision is None:
            self._full_precision = self.with_kernel('onednn')
        return self._full_precision

    def _check_no_grad(self, inputs: Tensor) -> None:
        # a packed map is a copy that takes no gradient; an int8 one is
        # not even the same values
        if torch.is_grad_enabled() and (
                inputs.requires_grad or self.kernel == 'int8'
                and self.basis.requires_grad):
            raise RuntimeError(
                f"no gradient flows through the {self.kernel!r} kernel; "
                "decode with the 'onednn' or 'torch' kernel to train")

    @property
    def shape(self) -> torch.Size:
        """(B, C, H, W), the map's."""
        return self.source.shape

    @property
    def device(self) -> torch.device:
        return self.basis.device

    @property
    def dtype(self) -> torch.dtype:
        return self.basis.dtype

    def _onto_basis(self, queries: Tensor) -> Tensor:
        """(B, N, C) queries of the map as (B, N, K) queries of the basis."""
        if self.projection is None:
            return queries
        return torch.matmul(queries, self.projection.to(queries.dtype))

    def _from_basis(self, sums: Tensor) -> Tensor:
        """(B, M, K) sums of basis pixels as (B, M, C) sums of the map's, in
        the map's dtype."""
        if self.projection is None:
            return sums
        return torch.matmul(sums.float(),
                            self.projection.t()).to(self.dtype)

    def linear(self, weight: Tensor, bias: Optional[Tensor] = None
               ) -> Tensor:
        """Every pixel through a linear layer: ``F.linear`` of the map's
        (B, H * W, C) rows, through the basis for a factored map.

        Args:
            weight (Tensor): (O, C).
            bias (Tensor, optional): (O,).

        Returns:
            Tensor: (B, H * W, O).
        """
        if self.projection is not None:
            weight = torch.matmul(weight, self.projection.to(weight.dtype))
        return F.linear(self.basis.flatten(2).transpose(1, 2), weight, bias)

    def _products(self, inputs: Tensor, weights: Union[Tensor, List[Tensor]]
                  ) -> Tensor:
        """(B, M, K) inputs times each image's (N, K) weight: (B, M, N)."""
        if not torch.is_grad_enabled():
            return _per_image_linear(inputs, weights)
        if self.kernel in ('packed', 'int8'):
            self._check_no_grad(inputs)
            return _per_image_linear(inputs, weights)
        return _PerImageLinear.apply(inputs, weights)

    def mask_logits(self, queries: Tensor) -> Tensor:
        """Query x pixel dot products.

        Args:
            queries (Tensor): (B, N, C).

        Returns:
            Tensor: (B, N, H, W).
        """
        queries = self._onto_basis(queries)
        if self.kernel == 'torch' or queries.shape[1] == 0:
            return torch.einsum('bnc,bchw->bnhw', queries, self.basis)
        b, c, h, w = self.basis.shape
        if self._int8 is not None:
            self._check_no_grad(queries)
            return self._int8.mask_logits(queries).view(b, -1, h, w).to(
                self.dtype)
        queries = queries.to(self.dtype)
        return self._products(queries, self._mask_weights).view(b, -1, h, w)

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
        if self._int8 is not None and mask_logits.shape[1]:
            self._check_no_grad(mask_logits)
            masks = above(mask_logits.detach(), threshold_logit(threshold))
            return self._from_basis(self._int8.pool(masks.flatten(2))).to(
                self.dtype)
        return self.weighted_sum(
            binary_masks(mask_logits, threshold, self.dtype))

    def weighted_sum(self, weights: Tensor) -> Tensor:
        """Pixel weights x pixels: each row's weighted sum of the features.

        Args:
            weights (Tensor): (B, M, H * W) weight of each pixel, in the
                features' dtype.

        Returns:
            Tensor: (B, M, C).
        """
        if self.kernel == 'torch' or weights.shape[1] == 0:
            sums = torch.bmm(weights, self.basis.flatten(2).transpose(1, 2))
        else:
            sums = self._products(weights, self._pool_weights)
        return self._from_basis(sums)


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
