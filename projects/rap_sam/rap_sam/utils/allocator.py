"""glibc malloc: settings under which freed tensor memory is reused, and
the bytes it has handed out."""
import ctypes
import ctypes.util
import functools
import sys
from typing import Optional

# mallopt parameter numbers, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks',
        'uordblks', 'fordblks', 'keepcost')]


@functools.lru_cache(maxsize=None)
def _libc() -> Optional[ctypes.CDLL]:
    """The C library on Linux, or None."""
    name = ctypes.util.find_library('c')
    if name is None or not sys.platform.startswith('linux'):
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


@functools.lru_cache(maxsize=None)
def _mallinfo2():
    libc = _libc()
    mallinfo2 = getattr(libc, 'mallinfo2', None)  # glibc >= 2.33
    if mallinfo2 is not None:
        mallinfo2.restype = _MallInfo2
    return mallinfo2


def malloc_bytes_in_use() -> Optional[int]:
    """Bytes glibc's malloc has handed out and not taken back (heap and
    mmapped blocks; torch's CPU tensors come from it), or None without
    glibc >= 2.33."""
    mallinfo2 = _mallinfo2()
    if mallinfo2 is None:
        return None
    info = mallinfo2()
    return info.uordblks + info.hblkhd


def keep_freed_memory(pad_mb: int = 1024, mmap_threshold_mb: int = 32) -> bool:
    """Let glibc keep freed memory for the next tensors of this process.

    Inference and training allocate and free the same large tensors on
    every image or iteration. With glibc's defaults, blocks above a
    threshold that adapts slowly are mmapped and unmapped, and freed memory
    at the top of the heap goes back to the kernel; each iteration then
    faults its pages in again, and the kernel zeroes them. Here blocks up
    to ``mmap_threshold_mb`` come from the heap, and up to ``pad_mb`` of
    free heap stays mapped (top pad and trim threshold). Measured on 2
    cores (page faults per run, time):

    - 1333x800 fp32 panoptic: 3.7 M -> 0.46 M faults, 1074 -> 834 ms
      (bf16: 702 -> 489 ms with the top pad alone);
    - training, batch 2: 512x512 1.41 -> 1.32 s an iteration (1.8 M ->
      0.47 M faults), 192x288 0.49 -> 0.46 s. The top pad alone made
      512x512 training slower (1.75 s, 4.1 M faults).

    The cost is a resident size that stays near its peak (the memory is
    reused, not returned). Process-wide: the demos, the benchmarks and
    :class:`KeepFreedMemoryHook` (the configs' runner) call it; library
    code never does.

    Args:
        pad_mb (int): Free heap kept mapped, MiB. Defaults to 1024.
        mmap_threshold_mb (int): Blocks from this size on are mmapped, MiB
            (glibc's maximum on 64-bit is 32). Defaults to 32.

    Returns:
        bool: Whether glibc took the settings (glibc on Linux only).
    """
    mallopt = getattr(_libc(), 'mallopt', None)
    if mallopt is None:
        return False
    settings = ((_M_MMAP_THRESHOLD, mmap_threshold_mb),
                (_M_TRIM_THRESHOLD, pad_mb), (_M_TOP_PAD, pad_mb))
    return all(mallopt(param, int(mb) << 20) for param, mb in settings)
