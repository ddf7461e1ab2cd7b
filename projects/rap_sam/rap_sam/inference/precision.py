"""Numeric precision of inference: fp32, or bf16 / fp16 autocast."""
import contextlib
import warnings
from typing import ContextManager

import torch

PRECISIONS = ('fp32', 'bf16', 'fp16')
_DTYPES = dict(bf16=torch.bfloat16, fp16=torch.float16)


def cpu_supports_bf16() -> bool:
    """Whether oneDNN runs bf16 natively here (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: str = 'cpu') -> str:
    """The precision to run with on ``device``.

    bf16 on a CPU without native bf16 (it would be emulated, slower than
    fp32) and fp16 on a CPU fall back to fp32 with a warning.

    Args:
        precision (str): 'fp32', 'bf16' or 'fp16'.
        device (str): The model's device.

    Returns:
        str: ``precision``, or 'fp32' when it cannot run well here.

    Raises:
        ValueError: For an unknown precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got '
                         f'{precision!r}')
    if str(device).startswith('cuda') or precision == 'fp32':
        return precision
    if precision == 'bf16' and cpu_supports_bf16():
        return precision
    why = 'fp16 is slow on CPUs' if precision == 'fp16' else \
        'this CPU has no native bf16 (AVX512-BF16 / AMX)'
    warnings.warn(f'precision {precision}: {why}; running in fp32')
    return 'fp32'


def autocast(precision: str, device: str = 'cpu') -> ContextManager:
    """``torch.autocast`` for bf16 / fp16, nothing for fp32.

    Convolutions and matrix products run in the low precision (oneDNN on
    CPUs); reductions and normalisations stay in fp32 (autocast's lists).
    """
    if precision == 'fp32':
        return contextlib.nullcontext()
    return torch.autocast(str(device).split(':')[0], _DTYPES[precision])


def precision_dtype(precision: str) -> torch.dtype:
    """The tensor dtype of a precision ('fp32' -> float32)."""
    return _DTYPES.get(precision, torch.float32)
