"""Numeric precision of inference: fp32, bf16 / fp16 autocast, or int8.

'int8' runs the backbone as an int8 ONNX Runtime graph
(:class:`~rap_sam.inference.int8_backbone.Int8Backbone`, calibrated on a
handful of images) and the rest of the model as bf16 (fp32 on a CPU
without native bf16).
"""
import contextlib
import warnings
from typing import ContextManager, FrozenSet, Tuple

import torch

PRECISIONS = ('fp32', 'bf16', 'fp16', 'int8')
_DTYPES = dict(bf16=torch.bfloat16, fp16=torch.float16)


def cpu_info() -> Tuple[str, FrozenSet[str]]:
    """The CPU's model name and instruction-set flags (``/proc/cpuinfo``;
    empty where it cannot be read)."""
    try:
        with open('/proc/cpuinfo') as f:
            lines = f.read().splitlines()
    except OSError:
        return '', frozenset()

    def field(key: str) -> str:
        return next((line.split(':', 1)[1].strip()
                     for line in lines if line.startswith(key)), '')

    return field('model name'), frozenset(field('flags').split())


def cpu_supports_bf16() -> bool:
    """Whether oneDNN runs bf16 natively here (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: str = 'cpu') -> str:
    """The precision to run with on ``device``.

    bf16 on a CPU without native bf16 (it would be emulated, slower than
    fp32), fp16 on a CPU, and int8 on CUDA, without onnxruntime or on a
    CPU without VNNI fall back to fp32 with a warning.

    Args:
        precision (str): 'fp32', 'bf16', 'fp16' or 'int8'.
        device (str): The model's device.

    Returns:
        str: ``precision``, or 'fp32' when it cannot run well here.

    Raises:
        ValueError: For an unknown precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got '
                         f'{precision!r}')
    on_cuda = str(device).startswith('cuda')
    if precision == 'int8':
        from .int8_backbone import cpu_supports_vnni, onnxruntime_available
        why = None
        if on_cuda:
            why = 'int8 runs on the CPU only (ONNX Runtime)'
        elif not onnxruntime_available():
            why = ('onnxruntime is not installed (pip install -r '
                   'requirements/optional.txt)')
        elif not cpu_supports_vnni():
            why = 'this CPU has no int8 dot products (VNNI / AMX)'
        if why is None:
            return precision
        warnings.warn(f'precision int8: {why}; running in fp32')
        return 'fp32'
    if on_cuda or precision == 'fp32':
        return precision
    if precision == 'bf16' and cpu_supports_bf16():
        return precision
    why = 'fp16 is slow on CPUs' if precision == 'fp16' else \
        'this CPU has no native bf16 (AVX512-BF16 / AMX)'
    warnings.warn(f'precision {precision}: {why}; running in fp32')
    return 'fp32'


def _autocast_precision(precision: str) -> str:
    """The autocast precision of the non-int8 part of the model."""
    if precision != 'int8':
        return precision
    return 'bf16' if cpu_supports_bf16() else 'fp32'


def autocast(precision: str, device: str = 'cpu') -> ContextManager:
    """``torch.autocast`` for bf16 / fp16, nothing for fp32.

    Convolutions and matrix products run in the low precision (oneDNN on
    CPUs); reductions and normalisations stay in fp32 (autocast's lists).
    """
    precision = _autocast_precision(precision)
    if precision == 'fp32':
        return contextlib.nullcontext()
    return torch.autocast(str(device).split(':')[0], _DTYPES[precision])


def precision_dtype(precision: str) -> torch.dtype:
    """The dtype of the decoder's tensors in a precision ('fp32' ->
    float32, 'int8' -> that of its autocast)."""
    return _DTYPES.get(_autocast_precision(precision), torch.float32)
