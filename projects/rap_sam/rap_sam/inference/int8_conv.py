"""A convolution in int8 through oneDNN, with its input quantized per call."""
from typing import Tuple

import torch
import torch.nn as nn
from torch import Tensor

from ..models.utils.quantize import quantize_rows


def int8_conv_available() -> bool:
    """Whether this PyTorch has oneDNN's int8 convolution with a float
    output and tensor quantization parameters
    (``torch.ops.onednn.qconv2d_pointwise.tensor``, recent PyTorch built
    with oneDNN)."""
    try:
        ops = torch.ops.onednn
        return (torch.backends.mkldnn.is_available()
                and hasattr(ops, 'qconv_prepack')
                and hasattr(ops.qconv2d_pointwise, 'tensor'))
    except (AttributeError, RuntimeError):
        return False


def _quantize_uint8(x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """A channels-last fp32 ``x`` as uint8 over its whole range.

    Returns:
        tuple[Tensor]: uint8 (N, C, H, W) channels-last, the scale and the
        zero point (0-dim): ``x ~= scale * (q - zero_point)``, 0 exactly
        representable (the padding's value).
    """
    n, c, h, w = x.shape
    pixels = x.permute(0, 2, 3, 1).reshape(-1, c)  # a view: channels-last
    # over the flat memory: over the 4-D channels-last view torch's
    # aminmax runs 17x slower (2M values: 4.2 against 0.25 ms)
    lo, hi = torch.aminmax(pixels.view(-1))
    lo, hi = lo.clamp(max=0), hi.clamp(min=0)
    scale = ((hi - lo) / 255).clamp(min=1e-12)
    zero_point = torch.round(-lo / scale)
    quantized = torch.empty((n, h, w, c), dtype=torch.uint8)
    quantize_rows(pixels, scale.reciprocal(), quantized.view(-1, c),
                  zero_point)
    return (quantized.permute(0, 3, 1, 2), scale,
            zero_point.to(torch.int32))


class Int8Conv2d(nn.Module):
    """An ``nn.Conv2d`` run in int8 by oneDNN (VNNI), for inference.

    Post-training and dynamic: the weights are int8 per output channel
    (symmetric), packed once; each call quantizes its input to uint8 over
    the tensor's range (asymmetric) and gets the convolution back in the
    input's float dtype, channels-last, with int32 sums. No calibration,
    so frames of any content and size keep their own range.

    The neck's 3x3 conv at stride 4 (128 channels, 640x384 input, the
    largest convolution after the backbone) on the Intel Xeon of this
    project, 2 threads: 17.4 ms in fp32, 7.0 ms in int8 with the
    quantization of the input (0.25 ms for the range, 1.5 ms to quantize:
    :func:`~rap_sam.models.utils.quantize.quantize_rows`),
    1.2 % relative error.

    Args:
        conv (nn.Conv2d): The float convolution (groups 1, zero padding).
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if not isinstance(conv, nn.Conv2d) or conv.groups != 1 or \
                conv.padding_mode != 'zeros' or isinstance(conv.padding, str):
            raise ValueError('Int8Conv2d takes an nn.Conv2d with groups 1 '
                             f'and numeric zero padding, got {conv}')
        if not int8_conv_available():
            raise RuntimeError(
                "this PyTorch has no oneDNN int8 convolution "
                "(torch.ops.onednn.qconv2d_pointwise)")
        weight = conv.weight.detach().float()
        self.w_scales = (weight.abs().amax((1, 2, 3)) / 127).clamp(min=1e-12)
        w_int8 = torch.round(weight / self.w_scales[:, None, None, None]
                             ).clamp(-127, 127).to(torch.int8)
        self.w_zero_points = torch.zeros_like(self.w_scales,
                                              dtype=torch.int64)
        self.bias = None if conv.bias is None else conv.bias.detach().float()
        self.stride = list(conv.stride)
        self.padding = list(conv.padding)
        self.dilation = list(conv.dilation)
        self.out_channels = conv.out_channels
        # the input scale and shape are hints to oneDNN's packing only
        self.packed_weight = torch.ops.onednn.qconv_prepack(
            w_int8, self.w_scales, 1.0, 0, self.stride, self.padding,
            self.dilation, 1, None)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) float, either layout -> (N, out, H', W') in
        ``x``'s dtype (fp32 or bf16), channels-last."""
        dtype = x.dtype if x.dtype in (torch.float32,
                                       torch.bfloat16) else torch.float32
        x = x.float().contiguous(memory_format=torch.channels_last)
        quantized, scale, zero_point = _quantize_uint8(x)
        return torch.ops.onednn.qconv2d_pointwise.tensor(
            quantized, scale, zero_point, self.packed_weight, self.w_scales,
            self.w_zero_points, self.bias, self.stride, self.padding,
            self.dilation, 1, 1.0, 0, dtype, 'none', [], '')

    def extra_repr(self) -> str:
        return (f'out_channels={self.out_channels}, stride={self.stride}, '
                f'padding={self.padding}, int8')
