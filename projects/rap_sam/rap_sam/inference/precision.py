"""Numeric precision of inference: fp32, bf16 / fp16 autocast, or int8.

'int8' runs the backbone as an int8 ONNX Runtime graph
(:class:`~rap_sam.inference.int8_backbone.Int8Backbone`, calibrated on a
handful of images) and the decoder's products with the stride-4 map as int8
GEMMs (:func:`~rap_sam.inference.int8_model.quantize_model`), the rest of
the model as bf16 where bf16 runs faster than fp32 (:func:`bf16_speedup`),
else as fp32.
"""
import contextlib
import functools
import time
import warnings
from typing import ContextManager, FrozenSet, Tuple

import torch

PRECISIONS = ('fp32', 'bf16', 'fp16', 'int8')
#: The bf16 / fp32 speed ratio (:func:`bf16_speedup`) from which bf16 runs
#: the model faster than int8 does: on an Intel Xeon with AMX (ratio
#: 5.6-6.3) bf16 ran R18 panoptic 1333x800 in 369 ms and int8 in 426 ms
#: (its backbone through ONNX Runtime 91 ms, bf16's 76 ms), while on an AMD
#: EPYC (about 2) and on Xeons without AMX (0.5-0.6) int8 ran fastest.
BF16_BEATS_INT8 = 3.
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


@functools.lru_cache(maxsize=None)
def bf16_speedup() -> float:
    """How many times faster this CPU runs a bf16 convolution than an fp32
    one, measured once per process (about 20 ms; 0 without native bf16).

    Native bf16 is not always faster: AVX512-BF16's dot products do as
    many multiply-adds a cycle as fp32's FMAs, so without AMX (Intel Xeons
    before Sapphire Rapids, or virtual machines that hide AMX) bf16 runs
    slower than fp32, while AMD's Zen 4 and AMX run it about twice and many
    times as fast. 3x3 convolution, 64 channels, 64x96 pixels, NHWC, best
    of 3, 2 threads: 0.51-0.61 on an Intel Xeon with AVX512-BF16 and
    without AMX (its R18 panoptic 1333x800: fp32 0.80 s, bf16 1.19 s).
    """
    if not cpu_supports_bf16():
        return 0.
    import torch.nn.functional as F
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 64, 64, 96, generator=gen).to(
        memory_format=torch.channels_last)
    w = torch.randn(64, 64, 3, 3, generator=gen).to(
        memory_format=torch.channels_last)

    def best_of_3(x: torch.Tensor, w: torch.Tensor) -> float:
        F.conv2d(x, w, padding=1)  # oneDNN primitive creation
        times = []
        for _ in range(3):
            start = time.perf_counter()
            F.conv2d(x, w, padding=1)
            times.append(time.perf_counter() - start)
        return min(times)

    with torch.no_grad():
        fp32 = best_of_3(x, w)
        bf16 = best_of_3(x.bfloat16(), w.bfloat16())
    return fp32 / bf16


def cpu_bf16_pays() -> bool:
    """Whether bf16 runs faster than fp32 on this CPU."""
    return bf16_speedup() > 1.


def resolve_precision(precision: str, device: str = 'cpu') -> str:
    """The precision to run with on ``device``.

    bf16 on a CPU without native bf16 (it would be emulated, slower than
    fp32), fp16 on a CPU, and int8 on CUDA, without onnxruntime or on a
    CPU without VNNI fall back to fp32 with a warning. bf16 on a CPU whose
    native bf16 is slower than its fp32 (:func:`bf16_speedup`) runs as
    asked, with a warning; so does int8 on a CPU whose bf16 is fast enough
    (AMX) to run the model faster than int8 does (:data:`BF16_BEATS_INT8`).

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
            if bf16_speedup() >= BF16_BEATS_INT8:
                warnings.warn(
                    f'precision int8: this CPU runs bf16 convolutions at '
                    f'{bf16_speedup():.1f}x the speed of fp32 (AMX): '
                    f'precision bf16 runs faster here than int8, whose '
                    f'backbone runs in ONNX Runtime')
            return precision
        warnings.warn(f'precision int8: {why}; running in fp32')
        return 'fp32'
    if on_cuda or precision == 'fp32':
        return precision
    if precision == 'bf16' and cpu_supports_bf16():
        if not cpu_bf16_pays():
            warnings.warn(
                f'precision bf16: this CPU runs bf16 convolutions at '
                f'{bf16_speedup():.2f}x the speed of fp32 (native bf16 '
                f'without AMX or fast bf16 dot products): fp32 is faster '
                f'here')
        return precision
    why = 'fp16 is slow on CPUs' if precision == 'fp16' else \
        'this CPU has no native bf16 (AVX512-BF16 / AMX)'
    warnings.warn(f'precision {precision}: {why}; running in fp32')
    return 'fp32'


def _autocast_precision(precision: str) -> str:
    """The autocast precision of the non-int8 part of the model: bf16
    where it is faster than fp32."""
    if precision != 'int8':
        return precision
    return 'bf16' if cpu_bf16_pays() else 'fp32'


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
