"""Writing files atomically: readers see the old file or the new one,
never half of one, and a failed write leaves the old file in place."""
import json
import os
import os.path as osp
import tempfile
from contextlib import contextmanager
from typing import Any, Iterator

import cv2
import numpy as np


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary path beside ``path``, renamed over it on success.

    The temporary file is in the destination folder (``os.replace`` is
    atomic on one file system); missing parent folders are created; on an
    exception the temporary file is removed and ``path`` is untouched.

    Args:
        path (str): Destination file.

    Yields:
        str: Where to write (keeps ``path``'s extension, for writers that
        pick the format from it).
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.',
        suffix=f'.tmp{osp.splitext(path)[1]}', dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes the file private (0o600)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def dump_json_atomic(obj: Any, path: str, **kwargs) -> None:
    """Write ``obj`` as JSON to ``path`` atomically.

    Args:
        obj (Any): A JSON-serialisable object.
        path (str): Destination file.
        **kwargs: Passed to ``json.dump`` (e.g. ``indent``).
    """
    with atomic_path(path) as tmp, open(tmp, 'w') as f:
        json.dump(obj, f, **kwargs)


def write_image_atomic(path: str, image: np.ndarray) -> None:
    """Encode an image by ``path``'s extension and write it atomically.

    Args:
        path (str): Destination (``.png``, ``.jpg``, ...).
        image (np.ndarray): (H, W[, 3|4]) uint8, BGR(A) as OpenCV's.

    Raises:
        ValueError: Naming the file when OpenCV cannot encode the image.
    """
    ok, buf = cv2.imencode(osp.splitext(path)[1] or '.png', image)
    if not ok:
        raise ValueError(f'{path}: could not encode the image')
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        f.write(buf.tobytes())
