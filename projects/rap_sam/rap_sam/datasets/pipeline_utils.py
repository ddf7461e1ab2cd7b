"""Re-sizing config pipelines (e.g. a small demo or test training size)."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import ConfigDict


def _resize(transform: dict, size: Tuple[int, int],
            ratio_range: Optional[Tuple[float, float]]) -> dict:
    h, w = size
    kind = transform['type']
    if kind in ('RandomResize', 'Resize'):
        transform['scale'] = (w, h)
        if ratio_range is not None and kind == 'RandomResize':
            transform['ratio_range'] = ratio_range
    elif kind == 'RandomCrop':
        transform['crop_size'] = (w, h)
    elif kind == 'Pad' and transform.get('size') is not None:
        transform['size'] = (w, h)
    if 'transforms' in transform:
        transform['transforms'] = [
            _resize(t, size, ratio_range) for t in transform['transforms']
        ]
    return transform


def all_transforms(pipeline: Sequence[dict]) -> List[dict]:
    """Every transform of a pipeline, including those inside wrappers."""
    out = []
    for t in pipeline:
        out.append(t)
        out.extend(all_transforms(t.get('transforms', [])))
    return out


def resize_pipeline(pipeline: Sequence[dict],
                    size: Tuple[int, int],
                    ratio_range: Optional[Tuple[float, float]] = None,
                    replace: Optional[Dict[str, dict]] = None) -> List[dict]:
    """A copy of a pipeline at another size.

    Sets the scale of ``Resize`` / ``RandomResize``, the crop of
    ``RandomCrop`` and the size of ``Pad`` (also inside wrappers such as
    ``TransformBroadcaster``) to ``size``.

    Args:
        pipeline (Sequence[dict]): Transform configs.
        size (tuple[int, int]): (h, w).
        ratio_range (tuple[float, float], optional): New jitter range of
            ``RandomResize``.
        replace (dict[str, dict], optional): Arguments to set on transforms
            by type, e.g. ``{'SamplePrompts': dict(num_prompts=10)}``.

    Returns:
        list[dict]: The new pipeline.
    """
    pipeline = [
        _resize(
            copy.deepcopy(
                t.to_dict() if isinstance(t, ConfigDict) else dict(t)), size,
            ratio_range) for t in pipeline
    ]
    for kind, args in (replace or {}).items():
        for t in all_transforms(pipeline):
            if t['type'] == kind:
                t.update(args)
    return pipeline
