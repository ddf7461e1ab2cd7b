"""STDC backbone with its stride-4 level exposed."""
from typing import Tuple

from mmseg.models.backbones import STDCNet
from torch import Tensor

from mmdet.registry import MODELS


@MODELS.register_module()
class STDCPyramid(STDCNet):
    """mmseg's :class:`STDCNet`, returning 4 levels (strides 4 to 32).

    mmseg's STDCNet drops its two shallow stages from the outputs; the lite
    deformable FPN also needs the stride-4 one. With the STDC1 settings
    (``channels=(32, 64, 256, 512, 1024)``) the levels have 64, 256, 512 and
    1024 channels. Parameter names are mmseg's, so its checkpoints load.
    """

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """(N, 3, H, W) -> 4 maps at strides 4, 8, 16, 32."""
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        if self.with_final_conv:
            outs[-1] = self.final_conv(outs[-1])
        return tuple(outs[self.num_shallow_features - 1:])
