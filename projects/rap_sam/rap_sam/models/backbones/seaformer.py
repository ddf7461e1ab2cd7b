"""SeaFormer backbone.

Implementation of `SeaFormer: Squeeze-enhanced Axial Transformer for Mobile
Semantic Segmentation <https://arxiv.org/abs/2301.13156>`_ (ICLR 2023),
written from the paper's description for MMDetection 3.x.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer
from mmcv.cnn.bricks import DropPath
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm


def conv_bn(in_channels: int,
            out_channels: int,
            norm_cfg: ConfigType,
            kernel_size: int = 1,
            stride: int = 1,
            groups: int = 1,
            act_cfg: OptConfigType = None) -> ConvModule:
    """Build a ``Conv2d -> Norm (-> Act)`` unit with 'same' padding.

    Args:
        in_channels (int): Number of input channels.
        out_channels (int): Number of output channels.
        norm_cfg (:obj:`ConfigDict` or dict): Config of the norm layer.
        kernel_size (int): Kernel size of the convolution. Defaults to 1.
        stride (int): Stride of the convolution. Defaults to 1.
        groups (int): Number of convolution groups. Defaults to 1.
        act_cfg (:obj:`ConfigDict` or dict, optional): Config of the
            activation appended after the norm. Defaults to None (linear).

    Returns:
        :obj:`ConvModule`: The conv unit.
    """
    return ConvModule(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=kernel_size // 2,
        groups=groups,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg)


class InvertedResidual(BaseModule):
    """MobileNetV2 inverted residual block.

    ``1x1 expand -> kxk depth-wise (strided) -> 1x1 linear projection``,
    with an identity shortcut when the shape is preserved.

    Args:
        in_channels (int): Number of input channels.
        out_channels (int): Number of output channels.
        kernel_size (int): Kernel size of the depth-wise convolution.
        expand_ratio (float): Ratio of hidden to input channels. No expand
            convolution is built when it is 1.
        stride (int): Stride of the depth-wise convolution (1 or 2).
        norm_cfg (:obj:`ConfigDict` or dict): Config of the norm layers.
        act_cfg (:obj:`ConfigDict` or dict): Config of the activations.
        init_cfg (:obj:`ConfigDict` or dict or list, optional): Init config.
            Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 expand_ratio: float,
                 stride: int,
                 norm_cfg: ConfigType,
                 act_cfg: ConfigType,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, got {stride}')
        hidden_channels = int(round(in_channels * expand_ratio))
        self.use_shortcut = stride == 1 and in_channels == out_channels

        layers = []
        if expand_ratio != 1:
            layers.append(
                conv_bn(
                    in_channels, hidden_channels, norm_cfg, act_cfg=act_cfg))
        layers += [
            conv_bn(
                hidden_channels,
                hidden_channels,
                norm_cfg,
                kernel_size=kernel_size,
                stride=stride,
                groups=hidden_channels,
                act_cfg=act_cfg),
            conv_bn(hidden_channels, out_channels, norm_cfg)
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Forward function.

        Args:
            x (Tensor): Input of shape (N, C_in, H, W).

        Returns:
            Tensor: Output of shape (N, C_out, H / stride, W / stride)
            (rounded up).
        """
        out = self.conv(x)
        if self.use_shortcut:
            out = out + x
        return out


class SqueezeAxialPositionalEmbedding(nn.Module):
    """Learnable 1D positional embedding for a squeezed axis.

    A fixed-length table is linearly resized to the actual length of the
    axis, so any input resolution is supported.

    Args:
        channels (int): Number of embedding channels.
        length (int): Length of the stored table. Defaults to 16.
    """

    def __init__(self, channels: int, length: int = 16) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, channels, length))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        """Add the resized embedding.

        Args:
            x (Tensor): Squeezed features of shape (N, C, L).

        Returns:
            Tensor: Features of shape (N, C, L).
        """
        pos_embed = F.interpolate(
            self.pos_embed,
            size=x.shape[-1],
            mode='linear',
            align_corners=False)
        return x + pos_embed


class DetailEnhancement(BaseModule):
    """Detail enhancement kernel of the SeaFormer attention.

    The concatenated query, key and value maps go through a 3x3 depth-wise
    convolution and a 1x1 point-wise convolution, recovering the local
    details that the squeezed axial attention discards.

    Args:
        in_channels (int): Channels of the concatenated q, k and v.
        out_channels (int): Number of output channels.
        norm_cfg (:obj:`ConfigDict` or dict): Config of the norm layers.
        act_cfg (:obj:`ConfigDict` or dict): Config of the activation.
        init_cfg (:obj:`ConfigDict` or dict or list, optional): Init config.
            Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 norm_cfg: ConfigType,
                 act_cfg: ConfigType,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.dw_conv = conv_bn(
            in_channels,
            in_channels,
            norm_cfg,
            kernel_size=3,
            groups=in_channels,
            act_cfg=act_cfg)
        self.pw_conv = conv_bn(in_channels, out_channels, norm_cfg)

    def forward(self, qkv: Tensor) -> Tensor:
        """Forward function.

        Args:
            qkv (Tensor): Concatenated q, k, v of shape (N, C_qkv, H, W).

        Returns:
            Tensor: Detail features of shape (N, C_out, H, W).
        """
        return self.pw_conv(self.dw_conv(qkv))


class SqueezeAxialAttention(BaseModule):
    """Squeeze-enhanced axial attention.

    Queries, keys and values are averaged along the horizontal (resp.
    vertical) axis, giving one row (resp. column) token per line; multi-head
    attention among those tokens costs O((H + W)^2) instead of O((HW)^2).
    The row and column results are broadcast back to (H, W), added to the
    values and projected. The output gates the :class:`DetailEnhancement`
    branch computed from the same q, k, v.

    Args:
        embed_dims (int): Number of input and output channels.
        key_dims (int): Channels of query/key per head.
        num_heads (int): Number of attention heads.
        attn_ratio (float): Ratio of value to key channels per head.
            Defaults to 2.
        norm_cfg (:obj:`ConfigDict` or dict): Config of the norm layers.
            Defaults to ``dict(type='BN')``.
        act_cfg (:obj:`ConfigDict` or dict): Config of the activations.
            Defaults to ``dict(type='ReLU')``.
        pos_length (int): Length of the axial positional tables.
            Defaults to 16.
        init_cfg (:obj:`ConfigDict` or dict or list, optional): Init config.
            Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 key_dims: int,
                 num_heads: int,
                 attn_ratio: float = 2,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 pos_length: int = 16,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_heads = num_heads
        self.key_dims = key_dims
        self.scale = key_dims**-0.5
        self.value_dims = int(attn_ratio * key_dims)
        qk_channels = key_dims * num_heads
        v_channels = self.value_dims * num_heads

        self.to_q = conv_bn(embed_dims, qk_channels, norm_cfg)
        self.to_k = conv_bn(embed_dims, qk_channels, norm_cfg)
        self.to_v = conv_bn(embed_dims, v_channels, norm_cfg)

        self.pos_row_q = SqueezeAxialPositionalEmbedding(
            qk_channels, pos_length)
        self.pos_row_k = SqueezeAxialPositionalEmbedding(
            qk_channels, pos_length)
        self.pos_col_q = SqueezeAxialPositionalEmbedding(
            qk_channels, pos_length)
        self.pos_col_k = SqueezeAxialPositionalEmbedding(
            qk_channels, pos_length)

        self.proj_row = nn.Sequential(
            build_activation_layer(act_cfg),
            conv_bn(v_channels, v_channels, norm_cfg))
        self.proj_col = nn.Sequential(
            build_activation_layer(act_cfg),
            conv_bn(v_channels, v_channels, norm_cfg))
        self.proj = nn.Sequential(
            build_activation_layer(act_cfg),
            conv_bn(v_channels, embed_dims, norm_cfg))

        self.detail = DetailEnhancement(
            2 * qk_channels + v_channels,
            embed_dims,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.gate = nn.Hardsigmoid()

    def _axial_attention(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Multi-head attention among squeezed tokens.

        Args:
            q (Tensor): Queries of shape (N, heads * key_dims, L).
            k (Tensor): Keys of shape (N, heads * key_dims, L).
            v (Tensor): Values of shape (N, heads * value_dims, L).

        Returns:
            Tensor: Output of shape (N, heads * value_dims, L).
        """
        batch_size, v_channels, length = v.shape
        q = q.reshape(batch_size, self.num_heads, self.key_dims, length)
        k = k.reshape(batch_size, self.num_heads, self.key_dims, length)
        v = v.reshape(batch_size, self.num_heads, self.value_dims, length)
        # (N, heads, L, L)
        attn = torch.matmul(q.transpose(-2, -1), k) * self.scale
        attn = attn.softmax(dim=-1)
        # (N, heads, value_dims, L)
        out = torch.matmul(v, attn.transpose(-2, -1))
        return out.reshape(batch_size, v_channels, length)

    def forward(self, x: Tensor) -> Tensor:
        """Forward function.

        Args:
            x (Tensor): Input of shape (N, C, H, W).

        Returns:
            Tensor: Output of shape (N, C, H, W).
        """
        q = self.to_q(x)
        k = self.to_k(x)
        v = self.to_v(x)

        # Squeeze along W: one token per row, (N, C', H).
        row = self._axial_attention(
            self.pos_row_q(q.mean(dim=-1)), self.pos_row_k(k.mean(dim=-1)),
            v.mean(dim=-1))
        # Squeeze along H: one token per column, (N, C', W).
        col = self._axial_attention(
            self.pos_col_q(q.mean(dim=-2)), self.pos_col_k(k.mean(dim=-2)),
            v.mean(dim=-2))
        row = self.proj_row(row.unsqueeze(-1))  # (N, C', H, 1)
        col = self.proj_col(col.unsqueeze(-2))  # (N, C', 1, W)
        context = self.proj(v + row + col)

        detail = self.detail(torch.cat([q, k, v], dim=1))
        return detail * self.gate(context)


class ConvFFN(BaseModule):
    """Feed-forward network with a depth-wise convolution.

    ``1x1 conv-BN -> 3x3 depth-wise conv -> act -> 1x1 conv-BN``.

    Args:
        embed_dims (int): Number of input and output channels.
        hidden_dims (int): Number of hidden channels.
        norm_cfg (:obj:`ConfigDict` or dict): Config of the norm layers.
        act_cfg (:obj:`ConfigDict` or dict): Config of the activation.
        init_cfg (:obj:`ConfigDict` or dict or list, optional): Init config.
            Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 hidden_dims: int,
                 norm_cfg: ConfigType,
                 act_cfg: ConfigType,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.fc1 = conv_bn(embed_dims, hidden_dims, norm_cfg)
        self.dw_conv = nn.Conv2d(
            hidden_dims, hidden_dims, 3, padding=1, groups=hidden_dims)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = conv_bn(hidden_dims, embed_dims, norm_cfg)

    def forward(self, x: Tensor) -> Tensor:
        """Forward function.

        Args:
            x (Tensor): Input of shape (N, C, H, W).

        Returns:
            Tensor: Output of shape (N, C, H, W).
        """
        return self.fc2(self.act(self.dw_conv(self.fc1(x))))


class SeaFormerBlock(BaseModule):
    """SeaFormer layer: squeeze axial attention and FFN, both residual.

    Args:
        embed_dims (int): Number of input and output channels.
        key_dims (int): Channels of query/key per head.
        num_heads (int): Number of attention heads.
        mlp_ratio (float): Ratio of FFN hidden to embedding channels.
        attn_ratio (float): Ratio of value to key channels per head.
        drop_path_rate (float): Stochastic depth rate of both branches.
        norm_cfg (:obj:`ConfigDict` or dict): Config of the norm layers.
        act_cfg (:obj:`ConfigDict` or dict): Config of the activations.
        init_cfg (:obj:`ConfigDict` or dict or list, optional): Init config.
            Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 key_dims: int,
                 num_heads: int,
                 mlp_ratio: float,
                 attn_ratio: float,
                 drop_path_rate: float,
                 norm_cfg: ConfigType,
                 act_cfg: ConfigType,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.attn = SqueezeAxialAttention(
            embed_dims,
            key_dims,
            num_heads,
            attn_ratio=attn_ratio,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.ffn = ConvFFN(
            embed_dims,
            int(embed_dims * mlp_ratio),
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.drop_path = DropPath(
            drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """Forward function.

        Args:
            x (Tensor): Input of shape (N, C, H, W).

        Returns:
            Tensor: Output of shape (N, C, H, W).
        """
        x = x + self.drop_path(self.attn(x))
        return x + self.drop_path(self.ffn(x))


class ContextFusion(BaseModule):
    """Fuse a low-resolution context map into a higher-resolution map.

    Follows the paper's fusion block: the high-resolution map goes through
    ``1x1 conv-BN``; the context map through ``1x1 conv-BN -> hard
    sigmoid``, is upsampled to the high-resolution size and gates it
    multiplicatively.

    Args:
        high_channels (int): Channels of the high-resolution input.
        low_channels (int): Channels of the low-resolution context.
        out_channels (int): Number of output channels.
        norm_cfg (:obj:`ConfigDict` or dict): Config of the norm layers.
        init_cfg (:obj:`ConfigDict` or dict or list, optional): Init config.
            Defaults to None.
    """

    def __init__(self,
                 high_channels: int,
                 low_channels: int,
                 out_channels: int,
                 norm_cfg: ConfigType,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.local_embed = conv_bn(high_channels, out_channels, norm_cfg)
        self.context_embed = conv_bn(low_channels, out_channels, norm_cfg)
        self.gate = nn.Hardsigmoid()

    def forward(self, high: Tensor, low: Tensor) -> Tensor:
        """Forward function.

        Args:
            high (Tensor): High-resolution map of shape (N, C_h, H, W).
            low (Tensor): Context map of shape (N, C_l, h, w), any h, w.

        Returns:
            Tensor: Fused map of shape (N, C_out, H, W).
        """
        gate = self.gate(self.context_embed(low))
        gate = F.interpolate(
            gate, size=high.shape[-2:], mode='bilinear', align_corners=False)
        return self.local_embed(high) * gate


@MODELS.register_module()
class SeaFormer(BaseModule):
    """SeaFormer backbone.

    `SeaFormer: Squeeze-enhanced Axial Transformer for Mobile Semantic
    Segmentation <https://arxiv.org/abs/2301.13156>`_.

    A stride-2 stem is followed by five MobileNetV2 stages ending at strides
    4, 8, 16, 32 and 64. SeaFormer blocks (squeeze-enhanced axial attention
    with detail enhancement, plus a convolutional FFN) are appended to the
    last two stages (last three for 'large'), as in the paper. To return
    four levels at strides 4, 8, 16 and 32, the stride-64 context map is
    fused into the stride-32 map with the paper's gated fusion
    block; the other levels are the raw stage outputs.

    Output channels of levels 0-3 (strides 4, 8, 16, 32):

    ======  =====================  =================  =========  ============
    arch    channels               stride-64 context  heads      SeaFormer
                                                                 depths
    ======  =====================  =================  =========  ============
    tiny    (16, 32, 64, 128)      160                4          (2, 2)
    small   (24, 48, 96, 160)      192                6          (3, 3)
    base    (32, 64, 128, 192)     256                8          (4, 4)
    large   (64, 128, 192, 256)    320                8          (3, 3, 3)
    ======  =====================  =================  =========  ============

    Args:
        arch (str): One of 'tiny', 'small', 'base' and 'large'.
            Defaults to 'small'.
        out_indices (Sequence[int]): Output levels, from 0 (stride 4) to 3
            (stride 32). Defaults to (0, 1, 2, 3).
        norm_cfg (:obj:`ConfigDict` or dict): Config of the norm layers.
            Defaults to ``dict(type='BN', requires_grad=True)``.
        act_cfg (:obj:`ConfigDict` or dict): Config of the activations.
            Defaults to ``dict(type='ReLU')``.
        drop_path_rate (float): Stochastic depth rate, increased linearly
            over the SeaFormer blocks. Defaults to 0.1.
        frozen_stages (int): Stages to freeze (parameters fixed and norm
            layers in eval mode). -1 freezes nothing, 0 the stem, and
            ``i >= 1`` the stem and the stages of levels 0 to ``i - 1``;
            the stage of level 3 includes the stride-64 stage and the
            fusion block. Defaults to -1.
        norm_eval (bool): Whether to keep all norm layers in eval mode
            (frozen running stats) during training. Defaults to False.
        init_cfg (:obj:`ConfigDict` or dict or list, optional): Init config.
            Defaults to None, i.e. Kaiming init for convolutions and
            constant init for norm layers.

    Example:
        >>> import torch
        >>> from rap_sam.models.backbones import SeaFormer
        >>> model = SeaFormer(arch='small').eval()
        >>> outs = model(torch.rand(1, 3, 224, 224))
        >>> [tuple(out.shape) for out in outs]
        [(1, 24, 56, 56), (1, 48, 28, 28), (1, 96, 14, 14), (1, 160, 7, 7)]
    """

    # Stage layers are [kernel, expand ratio, out channels, stride]; the
    # five stages end at strides 4, 8, 16, 32 and 64. SeaFormer blocks are
    # appended to the last ``len(depths)`` stages, whose channels are their
    # embedding dims.
    arch_settings = {
        'tiny':
        dict(
            stem_channels=16,
            stages=[[[3, 1, 16, 1], [3, 4, 16, 2], [3, 3, 16, 1]],
                    [[5, 3, 32, 2], [5, 3, 32, 1]],
                    [[3, 3, 64, 2], [3, 3, 64, 1]], [[5, 3, 128, 2]],
                    [[3, 6, 160, 2]]],
            depths=[2, 2],
            key_dims=[16, 24],
            mlp_ratios=[2, 4],
            num_heads=4),
        'small':
        dict(
            stem_channels=16,
            stages=[[[3, 1, 16, 1], [3, 4, 24, 2], [3, 3, 24, 1]],
                    [[5, 3, 48, 2], [5, 3, 48, 1]],
                    [[3, 3, 96, 2], [3, 3, 96, 1]], [[5, 4, 160, 2]],
                    [[3, 6, 192, 2]]],
            depths=[3, 3],
            key_dims=[16, 24],
            mlp_ratios=[2, 4],
            num_heads=6),
        'base':
        dict(
            stem_channels=16,
            stages=[[[3, 1, 16, 1], [3, 4, 32, 2], [3, 3, 32, 1]],
                    [[5, 3, 64, 2], [5, 3, 64, 1]],
                    [[3, 3, 128, 2], [3, 3, 128, 1]], [[5, 4, 192, 2]],
                    [[3, 6, 256, 2]]],
            depths=[4, 4],
            key_dims=[16, 24],
            mlp_ratios=[2, 4],
            num_heads=8),
        'large':
        dict(
            stem_channels=32,
            stages=[[[3, 3, 32, 1], [3, 4, 64, 2], [3, 4, 64, 1]],
                    [[5, 4, 128, 2], [5, 4, 128, 1]],
                    [[3, 4, 192, 2], [3, 4, 192, 1]], [[5, 4, 256, 2]],
                    [[3, 6, 320, 2]]],
            depths=[3, 3, 3],
            key_dims=[16, 20, 24],
            mlp_ratios=[2, 4, 6],
            num_heads=8),
    }
    attn_ratio = 2
    num_levels = 4

    def __init__(self,
                 arch: str = 'small',
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 norm_cfg: ConfigType = dict(type='BN', requires_grad=True),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 drop_path_rate: float = 0.1,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg: OptMultiConfig = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer='Conv2d'),
                dict(
                    type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
            ]
        super().__init__(init_cfg=init_cfg)
        if arch not in self.arch_settings:
            raise ValueError(f'Unsupported SeaFormer arch {arch!r}, '
                             f'expected one of '
                             f'{sorted(self.arch_settings)}')
        out_indices = tuple(out_indices)
        if not out_indices or any(
                i not in range(self.num_levels) for i in out_indices):
            raise ValueError('out_indices must be a non-empty subset of '
                             f'{tuple(range(self.num_levels))}, '
                             f'got {out_indices}')
        if frozen_stages not in range(-1, self.num_levels + 1):
            raise ValueError('frozen_stages must be in '
                             f'[-1, {self.num_levels}], got {frozen_stages}')

        setting = self.arch_settings[arch]
        self.arch = arch
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        stage_channels = [stage[-1][2] for stage in setting['stages']]
        self.out_channels: List[int] = stage_channels[:self.num_levels]

        self.stem = conv_bn(
            3,
            setting['stem_channels'],
            norm_cfg,
            kernel_size=3,
            stride=2,
            act_cfg=act_cfg)

        depths = setting['depths']
        first_attn_stage = len(setting['stages']) - len(depths)
        block_dprs = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        in_channels = setting['stem_channels']
        for i, stage_cfg in enumerate(setting['stages']):
            layers = []
            for kernel_size, expand_ratio, channels, stride in stage_cfg:
                layers.append(
                    InvertedResidual(
                        in_channels,
                        channels,
                        kernel_size,
                        expand_ratio,
                        stride,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg))
                in_channels = channels
            j = i - first_attn_stage
            if j >= 0:
                for _ in range(depths[j]):
                    layers.append(
                        SeaFormerBlock(
                            in_channels,
                            key_dims=setting['key_dims'][j],
                            num_heads=setting['num_heads'],
                            mlp_ratio=setting['mlp_ratios'][j],
                            attn_ratio=self.attn_ratio,
                            drop_path_rate=block_dprs.pop(0),
                            norm_cfg=norm_cfg,
                            act_cfg=act_cfg))
            self.add_module(f'layer{i + 1}', nn.Sequential(*layers))

        self.fusion = ContextFusion(
            stage_channels[-2],
            stage_channels[-1],
            self.out_channels[-1],
            norm_cfg=norm_cfg)
        self._freeze_stages()

    def _stage_modules(self, index: int) -> List[nn.Module]:
        """Modules of frozen stage ``index`` (0 is the stem)."""
        if index == 0:
            return [self.stem]
        if index < self.num_levels:
            return [getattr(self, f'layer{index}')]
        return [self.layer4, self.layer5, self.fusion]

    def _freeze_stages(self) -> None:
        """Fix the parameters and norm statistics of the frozen stages."""
        for index in range(self.frozen_stages + 1):
            for module in self._stage_modules(index):
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Forward function.

        Args:
            x (Tensor): Images of shape (N, 3, H, W), any H and W.

        Returns:
            tuple[Tensor]: The levels in ``out_indices``; level ``i`` has
            shape (N, out_channels[i], ceil(H / 2^(i + 2)),
            ceil(W / 2^(i + 2))).
        """
        x = self.stem(x)
        feats = []
        for i in range(max(self.out_indices) + 1):
            x = getattr(self, f'layer{i + 1}')(x)
            feats.append(x)
        if self.num_levels - 1 in self.out_indices:
            context = self.layer5(x)
            feats[-1] = self.fusion(x, context)
        return tuple(feats[i] for i in self.out_indices)

    def train(self, mode: bool = True) -> 'SeaFormer':
        """Set train mode, keeping frozen stages and, with ``norm_eval``,
        all norm layers in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
