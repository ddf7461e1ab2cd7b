"""Modulated deformable convolution (DCNv2) on ``torchvision.ops``."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import deform_conv2d


class ModulatedDeformConv2d(nn.Module):
    """DCNv2 with its own offset/mask predictor, on torchvision's kernel.

    A drop-in for ``mmcv.ops.ModulatedDeformConv2dPack`` that runs on any
    device torchvision supports (mmcv's compiled op has no CUDA kernel when
    mmcv is built on a CPU machine) and exports to ONNX (``DeformConv``,
    opset 19). The offset layout is the one of mmcv and the original DCN
    code: ``offset_conv`` predicts ``3 * k * k`` channels, split into
    ``(o1, o2, mask)``; ``cat(o1, o2)`` are the interleaved ``(dy, dx)``
    offsets and ``sigmoid(mask)`` the modulation.

    Two kernels compute the same function (equal up to float rounding):
    ``'torchvision'`` (``torchvision.ops.deform_conv2d``) and
    ``'grid_sample'`` (bilinear sampling of all kernel taps in one
    ``F.grid_sample``, then one matmul), which exports to ONNX as standard
    ops that onnxruntime runs and is the faster one on CPU, where
    torchvision's im2col runs on a single thread. ``'auto'`` picks
    torchvision's kernel on CUDA and ``grid_sample`` elsewhere.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Square kernel size. Defaults to 3.
        padding (int): Zero padding. Defaults to 1.
        bias (bool): Whether the deformable conv has a bias.
            Defaults to False.
        impl (str): ``'torchvision'``, ``'grid_sample'`` or ``'auto'``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 3,
                 padding: int = 1,
                 bias: bool = False,
                 impl: str = 'torchvision') -> None:
        super().__init__()
        if impl not in ('torchvision', 'grid_sample', 'auto'):
            raise ValueError(f'unknown deformable conv impl {impl!r}')
        self.impl = impl
        self.kernel_size = kernel_size
        self.padding = padding
        self.offset_conv = nn.Conv2d(
            in_channels,
            3 * kernel_size * kernel_size,
            kernel_size,
            padding=padding)
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-init the kernel; zero offsets and 0.5 modulation."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        nn.init.zeros_(self.offset_conv.weight)
        nn.init.zeros_(self.offset_conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the deformable convolution.

        Args:
            x (Tensor): Input of shape (N, C_in, H, W).

        Returns:
            Tensor: Output of shape (N, C_out, H, W).
        """
        offset_x, offset_y, mask = torch.chunk(self.offset_conv(x), 3, dim=1)
        offset = torch.cat((offset_x, offset_y), dim=1)
        impl = self.impl
        if impl == 'auto':
            impl = 'torchvision' if x.is_cuda else 'grid_sample'
        if impl == 'grid_sample':
            return self._grid_sample_forward(x, offset, mask.sigmoid())
        return deform_conv2d(
            x,
            offset,
            self.weight,
            self.bias,
            padding=(self.padding, self.padding),
            mask=mask.sigmoid())

    def _grid_sample_forward(self, x: Tensor, offset: Tensor,
                             mask: Tensor) -> Tensor:
        """DCNv2 as one bilinear sampling of all taps and one matmul.

        The k*k sampling grids are stacked along the height, so a single
        ``grid_sample`` call returns the columns already in the
        ``(c, tap)`` order of the flattened weight: (N, C, k*k*H, W) is
        (N, C*k*k, H*W) without a copy.
        """
        n, c, h, w = x.shape
        k = self.kernel_size
        taps = torch.arange(k * k, device=x.device, dtype=x.dtype)
        tap_y = (taps.div(k, rounding_mode='floor') - self.padding).view(
            1, -1, 1, 1)
        tap_x = (taps.remainder(k) - self.padding).view(1, -1, 1, 1)
        ys = torch.arange(h, device=x.device, dtype=x.dtype).view(1, 1, -1, 1)
        xs = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, 1, -1)
        offset = offset.view(n, k * k, 2, h, w)
        py = ys + tap_y + offset[:, :, 0]
        px = xs + tap_x + offset[:, :, 1]
        grid = torch.stack(
            (2 * px / max(w - 1, 1) - 1, 2 * py / max(h - 1, 1) - 1),
            dim=-1).view(n, k * k * h, w, 2)
        cols = F.grid_sample(
            x, grid, mode='bilinear', padding_mode='zeros',
            align_corners=True).view(n, c, k * k, h * w)
        cols = (cols * mask.reshape(n, 1, k * k, h * w)).view(
            n, c * k * k, h * w)
        out = self.weight.reshape(self.weight.shape[0], -1) @ cols
        out = out.view(n, -1, h, w)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1)
        return out
