"""Where to click on a mask: the most interior pixel."""
from typing import Tuple

import numpy as np
from scipy import ndimage


def interior_point(mask: np.ndarray) -> Tuple[Tuple[int, int], float]:
    """The pixel farthest from the region's boundary.

    The mask is padded by one background pixel on every side first, so
    the image border counts as boundary.

    Args:
        mask (np.ndarray): (H, W) bool mask, not empty.

    Returns:
        tuple: ``(x, y)`` of the distance-transform maximum (the first in
        row-major order on ties) and that distance in pixels.
    """
    mask = np.asarray(mask).astype(bool)
    rows = np.flatnonzero(mask.any(1))
    cols = np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return (0, 0), 0.
    # The transform of the mask's bounding box padded by one background
    # pixel is exact: that ring is nearer to every inside pixel than any
    # background pixel beyond it (and much cheaper for small objects).
    top, left = int(rows[0]), int(cols[0])
    crop = mask[top:rows[-1] + 1, left:cols[-1] + 1]
    dist = ndimage.distance_transform_edt(np.pad(crop, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return (int(x) + left, int(y) + top), float(dist[y, x])


def first_click(gt_mask: np.ndarray) -> Tuple[int, int]:
    """The first click on an object: its most interior pixel.

    Args:
        gt_mask (np.ndarray): (H, W) bool ground-truth mask.

    Returns:
        tuple[int, int]: ``(x, y)`` of the click.

    Raises:
        ValueError: If the mask is empty.
    """
    if not np.any(gt_mask):
        raise ValueError('first_click needs a non-empty ground-truth mask')
    return interior_point(gt_mask)[0]
