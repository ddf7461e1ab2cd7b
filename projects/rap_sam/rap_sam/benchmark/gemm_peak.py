"""The CPU's matrix-multiply peak: the floor that FLOP counts are held to.

A model's effective GFLOP/s means little without the machine's own: this
measures a large square GEMM through each path PyTorch has on the CPU.
``torch.mm`` in fp32 calls the BLAS PyTorch was built with (MKL in the
wheels), which on AMD CPUs runs its AVX2 code; oneDNN, which PyTorch uses
for convolutions and bf16 matmuls, runs AVX-512 there. On this project's
AMD EPYC (2 threads): fp32 215 GFLOP/s through MKL, 490-507 through
oneDNN; bf16 900-950. The peak of a precision is the larger of its paths.
int8 (``torch._int_mm``, int8 x int8 -> int32 through oneDNN's VNNI
kernels) counts its multiply-adds as two operations too (GOP/s).
"""
from typing import Dict

import torch

from ..models.heads.pixel_features import (onednn_linear,
                                           onednn_packing_available)
from .measure import time_it


def _gflops(fn, flops: float, repeat: int) -> float:
    return flops / min(time_it(fn, repeat=repeat)['times_s']) / 1e9


def gemm_peaks(size: int = 2048, repeat: int = 5) -> Dict[str, float]:
    """GFLOP/s of a ``size``-cubed GEMM on the CPU, best of ``repeat``.

    Args:
        size (int): M = N = K. Defaults to 2048 (0.4 s of fp32 at 50
            GFLOP/s).
        repeat (int): Timed runs. Defaults to 5.

    Returns:
        dict[str, float]: ``fp32 torch.mm``, ``fp32 oneDNN`` (when this
        torch has oneDNN's packed linear), ``bf16 torch.mm``,
        ``int8 torch._int_mm`` (when this torch has it), and the peaks
        ``fp32``, ``bf16`` and ``int8`` (the best path of each).
    """
    flops = 2. * size**3
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=gen)
    b = torch.randn(size, size, generator=gen)
    out = {'fp32 torch.mm': _gflops(lambda: a @ b, flops, repeat)}
    if onednn_packing_available(b):
        weight = torch.ops.mkldnn._reorder_linear_weight(b.t().contiguous(),
                                                         size)
        out['fp32 oneDNN'] = _gflops(lambda: onednn_linear(a, weight), flops,
                                     repeat)
    a16, b16 = a.bfloat16(), b.bfloat16()
    out['bf16 torch.mm'] = _gflops(lambda: a16 @ b16, flops, repeat)
    if hasattr(torch, '_int_mm'):
        a8 = torch.randint(-127, 128, (size, size), dtype=torch.int8,
                           generator=gen)
        b8 = torch.randint(-127, 128, (size, size), dtype=torch.int8,
                           generator=gen)
        out['int8 torch._int_mm'] = _gflops(lambda: torch._int_mm(a8, b8),
                                            flops, repeat)
    out['fp32'] = max(v for k, v in out.items() if k.startswith('fp32'))
    out['bf16'] = out['bf16 torch.mm']
    if 'int8 torch._int_mm' in out:
        out['int8'] = out['int8 torch._int_mm']
    return out
