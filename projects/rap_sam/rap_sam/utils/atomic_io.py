"""Writing files atomically."""
import json
import os
import os.path as osp
import tempfile
from typing import Any


def dump_json_atomic(obj: Any, path: str) -> None:
    """Write ``obj`` as JSON to ``path`` so readers never see half a file.

    The JSON is written to a temporary file in the destination folder and
    then renamed over ``path`` (``os.replace`` is atomic on one file
    system). Missing parent folders are created.

    Args:
        obj (Any): A JSON-serialisable object.
        path (str): Destination file.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(obj, f)
        os.chmod(tmp, 0o644)  # mkstemp makes the file private (0o600)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
