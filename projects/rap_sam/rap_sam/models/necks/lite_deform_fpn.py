"""The lite deformable FPN of YOSO, as used by RAP-SAM."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig
from ..layers import FactoredMap, ModulatedDeformConv2d


class DeformUpsampleBlock(nn.Module):
    """Deformable 3x3 conv, then a x2 transposed-conv upsampling.

    ``deform conv -> norm -> ReLU -> deconv(4, stride 2) -> norm -> ReLU``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        norm_cfg (dict): Norm layer config (BN, or SyncBN across GPUs).
        deform_impl (str): Kernel of the deformable conv: ``'auto'``,
            ``'torchvision'``, ``'grid_sample'`` or ``'gather'`` (see
            :class:`ModulatedDeformConv2d`).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 norm_cfg: ConfigType,
                 deform_impl: str = 'auto') -> None:
        super().__init__()
        self.deform_conv = ModulatedDeformConv2d(
            in_channels, out_channels, impl=deform_impl)
        self.deform_norm = build_norm_layer(norm_cfg, out_channels)[1]
        self.upsample = nn.ConvTranspose2d(
            out_channels,
            out_channels,
            kernel_size=4,
            stride=2,
            padding=1,
            bias=False)
        self.upsample_norm = build_norm_layer(norm_cfg, out_channels)[1]
        self.relu = nn.ReLU(inplace=True)
        nn.init.kaiming_normal_(
            self.deform_conv.weight, mode='fan_out', nonlinearity='relu')

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, C_out, 2H, 2W)."""
        x = self.relu(self.deform_norm(self.deform_conv(x)))
        return self.relu(self.upsample_norm(self.upsample(x)))


@MODELS.register_module()
class LiteDeformFPN(BaseModule):
    """Lite deformable FPN: all pyramid levels fused into one stride-4 map.

    From YOSO (`You Only Segment Once <https://arxiv.org/abs/2303.14651>`_),
    the neck of RAP-SAM. A top-down path of 1x1 laterals and
    :class:`DeformUpsampleBlock` builds one map per level; each level is
    projected to ``agg_channels``, upsampled to stride 4 and summed; a 3x3
    conv, two coordinate channels and a 1x1 conv give the single
    ``out_channels`` map that every query of the decoder reads.

    Args:
        in_channels (Sequence[int]): Channels of the 4 backbone levels,
            strides 4, 8, 16, 32.
        inner_channels (Sequence[int], optional): Channels of each level in
            the top-down path. Defaults to half of ``in_channels``.
        agg_channels (int): Channels of the fused map. Defaults to 128.
        out_channels (int): Channels of the output map. Defaults to 256.
        norm_cfg (dict): Norm of the upsampling blocks. Defaults to BN; use
            SyncBN for multi-GPU training.
        deform_impl (str): Kernel of the deformable convs: 'auto' (default:
            torchvision's on CUDA, 'grid_sample' while tracing or exporting
            to ONNX, 'gather' otherwise), 'torchvision', 'grid_sample' or
            'gather'. See :class:`ModulatedDeformConv2d`.
        init_cfg (dict, optional): Initialization config.
    """

    #: ``forward(feats, factored=True)`` gives the map as a FactoredMap
    factors_map = True

    def __init__(self,
                 in_channels: Sequence[int] = (256, 512, 1024, 2048),
                 inner_channels: Optional[Sequence[int]] = None,
                 agg_channels: int = 128,
                 out_channels: int = 256,
                 norm_cfg: ConfigType = dict(type='BN', requires_grad=True),
                 deform_impl: str = 'auto',
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != 4:
            raise ValueError('LiteDeformFPN needs 4 input levels (strides 4, '
                             f'8, 16, 32), got in_channels={in_channels}')
        if inner_channels is None:
            inner_channels = [c // 2 for c in in_channels]
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.lateral_convs = nn.ModuleList(
            nn.Conv2d(c_in, c_inner, 1)
            for c_in, c_inner in zip(in_channels, inner_channels))
        # deform_blocks[i] upsamples level i + 1 onto level i.
        self.deform_blocks = nn.ModuleList(
            DeformUpsampleBlock(inner_channels[i + 1], inner_channels[i],
                                norm_cfg, deform_impl) for i in range(3))
        self.fuse_convs = nn.ModuleList(
            nn.Conv2d(c, agg_channels, 1, bias=False) for c in inner_channels)
        self.fuse_bias = nn.Parameter(torch.zeros(1, agg_channels, 1, 1))
        self.output_conv = nn.Conv2d(agg_channels, agg_channels, 3, padding=1)
        self.coord_conv = nn.Conv2d(agg_channels + 2, out_channels, 1)

    def init_weights(self) -> None:
        """Xavier-uniform 1x1 / 3x3 convs with zero biases (the official
        neck's), unless ``init_cfg`` says otherwise. The deformable convs
        keep their own initialisation (zero offsets)."""
        super().init_weights()
        if self.init_cfg is not None:
            return
        for conv in (*self.lateral_convs, *self.fuse_convs,
                     self.output_conv, self.coord_conv):
            nn.init.xavier_uniform_(conv.weight)
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)

    @staticmethod
    def coord_channels(x: Tensor) -> Tensor:
        """Normalised (x, y) coordinates in [-1, 1], shape (N, 2, H, W)."""
        n, _, h, w = x.shape
        xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype)
        ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing='ij')
        return torch.stack([grid_x, grid_y]).expand(n, 2, h, w)

    def forward(self,
                feats: Sequence[Tensor],
                factored: bool = False
                ) -> Tuple[Union[Tensor, FactoredMap]]:
        """Fuse the pyramid.

        Factored, the map is left as its ``agg_channels`` basis and the
        ``coord_conv`` that widens it (:class:`FactoredMap`): the basis is
        the fused map with three more channels, a constant 1 and the x and
        y coordinates (the bias' and the coordinates' columns of
        ``coord_conv``), and zeros up to a multiple of 8 channels (136 for
        128). The decoder's products with the map then take 136
        multiply-adds a pixel instead of 256, and the 256-channel map is
        never written.

        Args:
            feats (Sequence[Tensor]): Backbone levels, (N, C_i, H_i, W_i)
                with strides 4, 8, 16, 32.
            factored (bool): Return the map factored. Defaults to False.

        Returns:
            tuple[Tensor | FactoredMap]: One map of shape (N,
            out_channels, H_0, W_0).
        """
        fused = self._fuse(feats)
        if not factored:
            return (self._coord_projection(fused), )
        n, c, h, w = fused.shape
        width = -(-(c + 3) // 8) * 8
        extra = fused.new_zeros(h, w, width - c)  # (H, W, K - C)
        extra[..., 0] = 1
        extra[..., 1:3] = self.coord_channels(fused)[0].permute(1, 2, 0)
        if fused.is_contiguous(memory_format=torch.channels_last) and \
                not fused.is_contiguous():
            # one pass in the pixels' layout (a mixed-layout cat would
            # write NCHW: 1344x800, 38 against 5 ms)
            basis = torch.cat(
                [fused.permute(0, 2, 3, 1),
                 extra.expand(n, -1, -1, -1)], dim=-1).permute(0, 3, 1, 2)
        else:
            basis = torch.cat(
                [fused, extra.permute(2, 0, 1).expand(n, -1, -1, -1)], dim=1)
        conv = self.coord_conv.weight.flatten(1)  # (out, C + 2)
        weight = conv.new_zeros(conv.shape[0], width)
        weight[:, :c] = conv[:, :c]
        weight[:, c] = self.coord_conv.bias
        weight[:, c + 1:c + 3] = conv[:, c:]
        return (FactoredMap(basis, weight), )

    def _fuse(self, feats: Sequence[Tensor]) -> Tensor:
        """The top-down path, the levels summed at stride 4 and
        ``output_conv``: (N, agg_channels, H_0, W_0)."""
        levels: List[Tensor] = [None] * 4
        x = self.lateral_convs[3](feats[3])
        levels[3] = x
        for i in (2, 1, 0):
            lateral = self.lateral_convs[i](feats[i])
            up = self.deform_blocks[i](x)
            if up.shape[-2:] != lateral.shape[-2:]:
                up = F.interpolate(
                    up, lateral.shape[-2:], mode='bilinear',
                    align_corners=False)
            x = lateral + up
            levels[i] = x
        size = levels[0].shape[-2:]
        # The fused bias as the first conv's bias and the levels summed in
        # place: two passes over the stride-4 map fewer, the same fp32
        # values (R18 1344x800, 2 threads, Intel Xeon: neck 168 -> 161 ms).
        # Under bf16 autocast all of it stays bf16 (mixed-dtype adds took
        # 19 ms each against 0.7).
        fused = F.conv2d(levels[0], self.fuse_convs[0].weight,
                         self.fuse_bias.flatten())
        for i in (1, 2, 3):
            fused.add_(
                F.interpolate(
                    self.fuse_convs[i](levels[i]),
                    size=size,
                    mode='bilinear',
                    align_corners=False))
        return self.output_conv(fused)

    def _coord_projection(self, fused: Tensor) -> Tensor:
        """``coord_conv`` of ``fused`` with the coordinate channels.

        The same 1x1 conv as on ``cat([fused, coords])``, without the
        (N, C + 2, H, W) concatenation: the coordinates' share (their
        weights times the coordinates, plus the bias) depends on the size
        only and is added to ``fused``'s share.

        - An fp32 channels-last ``fused`` (a channels-last model on the
          CPU) gives a channels-last map, through oneDNN's 1x1 conv and two
          broadcast adds (R18 1344x800, 2 threads: 34 -> 12 ms); the
          decoder packs fp32 maps from either layout.
        - Otherwise the map comes out NCHW-contiguous, through ``addmm``
          (the layout the decoder's plain products read: they would copy a
          channels-last map).

        Args:
            fused (Tensor): (N, C, H, W), either memory format.

        Returns:
            Tensor: (N, out_channels, H, W).
        """
        n, c, h, w = fused.shape
        weight = self.coord_conv.weight.flatten(1)  # (out, C + 2)
        if fused.dtype == torch.float32 and fused.is_contiguous(
                memory_format=torch.channels_last) and not \
                fused.is_contiguous():
            out = F.conv2d(fused, self.coord_conv.weight[:, :c],
                           self.coord_conv.bias)
            coords = self.coord_channels(fused)[0]  # (2, H, W)
            xs, ys = coords[0, 0], coords[1, :, 0]
            rows = out.permute(0, 2, 3, 1)  # (N, H, W, out), no copy
            rows.add_(xs[:, None] * weight[:, c]).add_(
                ys[:, None, None] * weight[:, c + 1])
            return out
        coords = self.coord_channels(fused)[0].flatten(1)  # (2, H * W)
        base = torch.addmm(self.coord_conv.bias[:, None], weight[:, c:],
                           coords)
        maps = [
            torch.addmm(base, weight[:, :c], image.flatten(1))
            for image in fused
        ]
        out = maps[0][None] if n == 1 else torch.stack(maps)
        return out.view(n, -1, h, w)
