"""Loading checkpoints with ``torch.load(weights_only=True)``.

torch >= 2.6 loads checkpoints weights-only: a file can hold tensors,
containers and a list of allowed classes, and nothing it holds runs code.
mmengine runner checkpoints also pickle the message hub's
``HistoryBuffer`` objects (with numpy arrays, numpy scalars and the
buffer's statistics methods, reached through ``getattr``), so
:func:`allow_mmengine_checkpoints` adds exactly those to torch's list:
``HistoryBuffer``, the numpy array / scalar / dtype reconstructors, and a
``getattr`` that resolves only ``HistoryBuffer``'s statistics methods.
Every ``torch.load`` of the process (mmengine's ``load_checkpoint``,
``runner.resume``, ``tools/test.py``) then reads runner checkpoints and
still refuses anything else, also with ``TORCH_FORCE_WEIGHTS_ONLY_LOAD=1``.

A legacy file that needs more can be loaded with :func:`load_checkpoint`
``(..., unsafe=True)`` (``--unsafe-load`` in the tools and demos), for a
file you trust.
"""
import os
import pickle
from typing import Any, Optional

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

URL_PREFIXES = ('http://', 'https://', 's3://', 'torchvision://',
                'open-mmlab://', 'mmcls://', 'openmmlab://')
HISTORY_BUFFER_METHODS = frozenset(('min', 'max', 'current', 'mean'))


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint that the weights-only loader refuses."""


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` for unpickling: only ``HistoryBuffer``'s statistics."""
    if obj is HistoryBuffer and name in (HISTORY_BUFFER_METHODS
                                         | set(obj._statistics_methods)):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed in a checkpoint')


def _numpy_globals() -> list:
    multiarray = np._core.multiarray if hasattr(np, '_core') else \
        np.core.multiarray
    dtypes = [type(np.dtype(t)) for t in (
        np.float16, np.float32, np.float64, np.int8, np.int16, np.int32,
        np.int64, np.uint8, np.bool_)]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
            *dtypes]


def allow_mmengine_checkpoints() -> None:
    """Add what mmengine runner checkpoints hold to torch's safe globals.

    Idempotent; called when ``rap_sam`` is imported.
    """
    torch.serialization.add_safe_globals([
        HistoryBuffer, *_numpy_globals(),
        (history_buffer_getattr, 'builtins.getattr'),
        (history_buffer_getattr, '__builtin__.getattr')
    ])


def check_local(path: str, allow_download: bool = False) -> None:
    """Refuse a URL (unless ``allow_download``) or a missing file.

    Raises:
        ValueError: For a URL that is not allowed.
        FileNotFoundError: For a missing local file.
    """
    if str(path).startswith(URL_PREFIXES):
        if allow_download:
            return
        raise ValueError(
            f'checkpoint {path!r} is a URL: give a local file (download it '
            'yourself), or allow downloading explicitly')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist')


def load_checkpoint(path: str,
                    map_location: Optional[str] = 'cpu',
                    unsafe: bool = False) -> Any:
    """``torch.load`` a local checkpoint, weights-only unless ``unsafe``.

    Args:
        path (str): Local file.
        map_location (str, optional): As ``torch.load``. Defaults to 'cpu'.
        unsafe (bool): Unpickle anything (runs code a crafted file holds):
            only for files you trust. Defaults to False.

    Raises:
        UnsafeCheckpointError: Naming the file and what it needs, when the
            weights-only loader refuses it.
    """
    check_local(path)
    allow_mmengine_checkpoints()
    try:
        return torch.load(path, map_location=map_location,
                          weights_only=not unsafe)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(unsafe_message(path, err)) from err


def unsafe_message(path: str, err: Exception) -> str:
    """The error of a refused checkpoint: the file and the global."""
    detail = str(err)
    for line in detail.splitlines():
        if 'GLOBAL' in line or 'not allowed' in line:
            detail = line.strip()
            break
    return (f'{path}: refused by the weights-only loader ({detail}). If you '
            'trust this file, load it with --unsafe-load (unsafe=True).')
