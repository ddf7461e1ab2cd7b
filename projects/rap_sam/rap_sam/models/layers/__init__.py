from .cpu_sync_batch_norm import SyncBatchNormCPU
from .factored_map import FactoredMap
from .modulated_deform_conv import ModulatedDeformConv2d

__all__ = ['FactoredMap', 'ModulatedDeformConv2d', 'SyncBatchNormCPU']
