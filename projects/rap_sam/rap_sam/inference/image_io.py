"""The one image reader of every entry point: files and arrays to RGB uint8.

Rules (documented for users of the predictor, demos and web page):

- files are decoded by content (OpenCV); a missing, empty, truncated or
  non-image file is a ``ValueError`` naming the file;
- (H, W) and (H, W, 1) images are grey and replicated to 3 channels; the
  alpha channel of (H, W, 4) images is dropped;
- uint8 is taken as is; uint16 is scaled to 8 bits (``value >> 8``); float
  images must be finite and are taken as [0, 1] when their maximum is at
  most 1, else as [0, 255] (clipped); bool and other integer types are
  refused (a mask is not an image);
- the shorter side must have at least ``MIN_SIDE`` pixels.
"""
import os
from typing import List, Sequence, Union

import cv2
import numpy as np

ImageLike = Union[str, os.PathLike, np.ndarray]
MIN_SIDE = 8


def _decode(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise ValueError(f'{path}: no such image file')
    data = np.fromfile(path, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ValueError(f'{path}: could not decode it as an image (empty, '
                         'truncated or not an image file)')
    if image.ndim == 3 and image.shape[2] >= 3:
        image = cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2RGB)
    return image


def _to_uint8(image: np.ndarray, name: str) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise ValueError(f'{name} has NaN or infinite values')
        if image.max() <= 1.0:
            image = image * 255
        return np.clip(image, 0, 255).astype(np.uint8)
    raise ValueError(f'{name} has dtype {image.dtype}: give uint8, uint16 '
                     'or float pixel values')


def to_rgb_uint8(image: ImageLike, name: str = 'image') -> np.ndarray:
    """Read / check an image: (H, W, 3) uint8 RGB (see the module rules).

    Args:
        image (str | PathLike | np.ndarray): A file or an RGB(A) / grey
            array.
        name (str): How to call an array in errors.

    Raises:
        ValueError: Naming the file (or ``name``) and what is wrong.
    """
    if isinstance(image, (str, os.PathLike)):
        name = str(image)
        image = _decode(name)
    if not isinstance(image, np.ndarray):
        raise ValueError(
            f'{name} must be a path or a numpy array, got {type(image)}')
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f'{name} must have shape (H, W), (H, W, 3) or '
                         f'(H, W, 4), got {image.shape}')
    if min(image.shape[:2]) < MIN_SIDE:
        raise ValueError(
            f'{name} is {image.shape[1]}x{image.shape[0]} pixels: the '
            f'shorter side needs at least {MIN_SIDE}')
    image = _to_uint8(image, name)
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


def image_files(paths: Sequence[str], limit: int = 8) -> List[str]:
    """Image files named by ``paths`` (files, or folders whose image files
    are taken in name order), at most ``limit`` of them.

    Raises:
        ValueError: A path that does not exist, or no image file at all.
    """
    found = []
    for path in paths:
        if os.path.isdir(path):
            found += [
                os.path.join(path, name) for name in sorted(os.listdir(path))
                if name.lower().endswith(IMAGE_EXTENSIONS)
            ]
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise ValueError(f'{path}: no such file or folder')
    if not found:
        raise ValueError(f'no image files in {list(paths)}')
    return found[:limit]
