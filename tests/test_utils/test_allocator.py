"""keep_freed_memory: blocks up to 32 MiB from the heap, freed heap kept."""
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ALLOCATOR = (Path(__file__).parents[2] / 'projects' / 'rap_sam' / 'rap_sam' /
             'utils' / 'allocator.py')

# A fresh interpreter, so that nothing else has tuned its malloc: loads
# allocator.py alone, mallocs and frees a 30 MiB block, and prints where it
# came from and what the heap kept.
SCRIPT = textwrap.dedent('''
    import ctypes, importlib.util, sys
    spec = importlib.util.spec_from_file_location('allocator', sys.argv[1])
    allocator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(allocator)

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            'arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks '
            'fordblks keepcost').split()]

    libc = ctypes.CDLL('libc.so.6')
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    applied = allocator.keep_freed_memory() if sys.argv[2] == '1' else None
    before = libc.mallinfo2()
    block = libc.malloc(30 << 20)
    during = libc.mallinfo2()
    libc.free(block)
    after = libc.mallinfo2()
    mib = 1 << 20
    print(applied, (during.hblkhd - before.hblkhd) // mib,
          (after.arena - before.arena) // mib)
''')


def _run(apply: bool):
    out = subprocess.run(
        [sys.executable, '-c', SCRIPT, str(ALLOCATOR), str(int(apply))],
        check=True, capture_output=True, text=True).stdout.split()
    return out[0], int(out[1]), int(out[2])


@pytest.mark.skipif(platform.system() != 'Linux'
                    or platform.libc_ver()[0] != 'glibc',
                    reason='mallopt is glibc-only')
def test_keep_freed_memory_serves_from_and_keeps_the_heap():
    # glibc's defaults: the fresh 30 MiB block is mmapped, and gone on free.
    applied, mmapped_mib, heap_kept_mib = _run(apply=False)
    assert (mmapped_mib, heap_kept_mib) == (30, 0)
    # Set: it comes from the heap, which keeps it after the free.
    applied, mmapped_mib, heap_kept_mib = _run(apply=True)
    assert applied == 'True'
    assert mmapped_mib == 0
    assert heap_kept_mib >= 30
