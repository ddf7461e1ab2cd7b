"""Precision 'int8': the backbone and the decoder's map products in int8."""
from typing import Iterable

import torch
import torch.nn as nn
from torch import Tensor

from ..models.heads.int8_pixels import int8_products_available
from .int8_backbone import quantize_backbone
from .int8_conv import Int8Conv2d, int8_conv_available


def quantize_model(model: nn.Module,
                   calibration: Iterable[Tensor]) -> nn.Module:
    """A RAP-SAM model in int8, in place (what is quantized stays so).

    - The backbone: an int8 ONNX Runtime graph, statically quantized on
      ``calibration`` (:class:`~rap_sam.inference.Int8Backbone`).
    - The decoder's products with the stride-4 map (mask logits and mask
      pooling of every layer): int8 GEMMs on the map quantized per image
      and channel when an image is decoded
      (:class:`~rap_sam.models.heads.int8_pixels.Int8Pixels`). Attention
      over the pixels and everything else stays in the autocast precision.
      Without ``torch._int_mm`` (older PyTorch) they stay in floating
      point.
    - The neck's 3x3 conv at stride 4 (``output_conv``, the largest
      convolution after the backbone): oneDNN's int8 convolution on its
      input quantized per image (:class:`~rap_sam.inference.Int8Conv2d`),
      where this PyTorch has it.

    The rest of the neck stays in floating point (its deformable
    convolutions have no int8 kernel; their ONNX ``GridSample`` is slower
    than torch's fp32).

    Args:
        model (nn.Module): A RAP-SAM model, in eval mode.
        calibration (Iterable[Tensor]): (1, 3, H, W) normalised images.

    Returns:
        nn.Module: ``model``.
    """
    quantize_backbone(model, calibration)
    if int8_products_available(torch.zeros(0)):
        model.panoptic_head.pixel_kernel = 'int8'
    neck_conv = getattr(model.neck, 'output_conv', None)
    if isinstance(neck_conv, nn.Conv2d) and int8_conv_available():
        model.neck.output_conv = Int8Conv2d(neck_conv)
    return model
