"""Batch norm with statistics over every process, for CPU (gloo) training."""
import torch
import torch.distributed as dist
from torch import Tensor
from torch.distributed.nn.functional import all_reduce
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet.registry import MODELS


@MODELS.register_module('SyncBNCPU')
class SyncBatchNormCPU(_BatchNorm):
    """``SyncBN`` for processes that train on the CPU.

    torch's ``SyncBatchNorm`` refuses CPU tensors, so a multi-process CPU
    run (``torchrun`` with gloo) would otherwise normalise each process's
    part of the batch alone, and its result would depend on the number of
    processes. This layer normalises with the mean and (biased) variance of
    the whole batch across the processes, computed in two passes with
    autograd-aware all-reduces, so gradients flow across processes as in
    ``SyncBatchNorm``. Outside training, or without a process group of more
    than one process, it is ``BatchNorm2d``. State-dict keys are those of
    ``BatchNorm2d``.

    Args:
        num_features (int): C of the (N, C, H, W) input.
        eps (float): Added to the variance. Defaults to 1e-5.
        momentum (float): Of the running statistics. Defaults to 0.1.
        affine (bool): Learn a scale and shift. Defaults to True.
        track_running_stats (bool): Defaults to True.
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() != 4:
            raise ValueError(
                f'expected a (N, C, H, W) input, got {input.dim()}D')

    @staticmethod
    def _world_size() -> int:
        if dist.is_available() and dist.is_initialized():
            return dist.get_world_size()
        return 1

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` (N, C, H, W) with the statistics of all ranks."""
        if not self.training or self._world_size() == 1:
            return super().forward(x)
        self._check_input_dim(x)
        channels = x.shape[1]
        count = x.new_tensor([x.numel() // channels], dtype=torch.float64)
        sums = all_reduce(x.sum((0, 2, 3)).double())
        total = all_reduce(count)
        mean = (sums / total).to(x.dtype)
        centred = x - mean.view(1, -1, 1, 1)
        var = all_reduce((centred * centred).sum((0, 2, 3)).double()) / total
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (1.0 / float(self.num_batches_tracked)
                            if self.momentum is None else self.momentum)
                unbiased = var * total / (total - 1).clamp(min=1)
                self.running_mean.mul_(1 - momentum).add_(
                    mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(
                    unbiased.detach().to(x.dtype), alpha=momentum)
        out = centred * torch.rsqrt(var.to(x.dtype) + self.eps).view(
            1, -1, 1, 1)
        if self.affine:
            out = out * self.weight.view(1, -1, 1, 1) + self.bias.view(
                1, -1, 1, 1)
        return out
