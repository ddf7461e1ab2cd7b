"""Reading fields of data samples, whether data elements or dicts."""
from typing import Any

import numpy as np
import torch


def get_field(obj: Any, key: str) -> Any:
    """``obj[key]`` of a dict or ``obj.key`` of a data element; None when
    absent."""
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def to_array(x: Any) -> np.ndarray:
    """A Tensor or array-like as a numpy array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def to_numpy_masks(masks: Any) -> np.ndarray:
    """Masks of any mmdet form (Tensor, ndarray, ``BitmapMasks``) as
    (N, H, W) bool."""
    if hasattr(masks, 'to_ndarray'):
        masks = masks.to_ndarray()
    return to_array(masks).astype(bool)
