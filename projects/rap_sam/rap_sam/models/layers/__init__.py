from .cpu_sync_batch_norm import SyncBatchNormCPU
from .modulated_deform_conv import ModulatedDeformConv2d

__all__ = ['ModulatedDeformConv2d', 'SyncBatchNormCPU']
