"""Records of the YouTube-VIS 2019 annotation format.

A YouTube-VIS file is one JSON dict::

    videos:      [{id, width, height, length, file_names}]
    annotations: [{id, video_id, category_id, iscrowd, width, height,
                   segmentations, bboxes, areas}]
    categories:  [{id, name, supercategory}]

``segmentations``, ``bboxes`` and ``areas`` have one entry per frame of the
video: a compressed RLE dict (``counts`` as str), an ``[x, y, w, h]`` box
and a pixel count, or ``None`` on the frames where the object is absent.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pycocotools.mask as mask_util

from ..class_names import YTVIS2019, Vocabulary, canonical_text


def encode_mask(mask: np.ndarray) -> Tuple[dict, List[float], int]:
    """Encode one binary mask as YouTube-VIS / COCO fields.

    Args:
        mask (np.ndarray): (H, W) bool or 0/1 mask.

    Returns:
        tuple[dict, list[float], int]: Compressed RLE (``counts`` decoded
        to str so it serialises to JSON), box ``[x, y, w, h]`` and area.
    """
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    bbox = [float(v) for v in mask_util.toBbox(rle)]
    return rle, bbox, int(mask_util.area(rle))


def ytvis_categories(vocab: Vocabulary = YTVIS2019) -> List[dict]:
    """Categories of a vocabulary, ids 1..N in its class order.

    Args:
        vocab (Vocabulary): The label set. Defaults to YouTube-VIS 2019.

    Returns:
        list[dict]: ``{id, name, supercategory}`` per class.
    """
    return [
        dict(id=i + 1, name=name, supercategory='object')
        for i, name in enumerate(vocab.classes)
    ]


def resolve_category(name: str, vocab: Vocabulary = YTVIS2019) -> int:
    """Category id (1-based) of a class name or of one of its synonyms.

    The dataset's own class name wins (``'motorbike'``); otherwise a
    synonym (``'car'`` is a synonym of YouTube-VIS's ``'sedan'``).

    Args:
        name (str): A class name or a CLIP text name of a class.
        vocab (Vocabulary): The label set. Defaults to YouTube-VIS 2019.

    Returns:
        int: The category id, ``index + 1`` in ``vocab.classes``.

    Raises:
        ValueError: If no class, or more than one, has that name.
    """
    if name in vocab.classes:
        return vocab.classes.index(name) + 1
    key = canonical_text(name)
    hits = [
        i for i, syns in enumerate(vocab.synonyms)
        if key in (canonical_text(s) for s in syns)
    ]
    if len(hits) != 1:
        what = 'no class' if not hits else \
            f'several classes {[vocab.classes[i] for i in hits]}'
        raise ValueError(f'category {name!r} matches {what} of vocabulary '
                         f'{vocab.name!r}')
    return hits[0] + 1


def video_record(video_id: int, file_names: Sequence[str], width: int,
                 height: int) -> dict:
    """One entry of ``videos``."""
    return dict(
        id=video_id,
        width=width,
        height=height,
        length=len(file_names),
        file_names=list(file_names))


def track_record(ann_id: int, video_id: int, category_id: int,
                 masks: Sequence[Optional[np.ndarray]], width: int,
                 height: int) -> dict:
    """One entry of ``annotations``: an object through a video.

    Args:
        ann_id (int): Annotation id, unique in the file.
        video_id (int): Id of the video.
        category_id (int): Category id.
        masks (Sequence[np.ndarray | None]): Per frame (H, W) mask, or
            None where the object is not annotated. An all-zero mask is
            stored as absent too.
        width (int): Frame width.
        height (int): Frame height.

    Returns:
        dict: The annotation with per-frame ``segmentations``, ``bboxes``
        and ``areas`` (None on absent frames).
    """
    segms, bboxes, areas = [], [], []
    for mask in masks:
        if mask is None or not mask.any():
            segms.append(None)
            bboxes.append(None)
            areas.append(None)
            continue
        rle, bbox, area = encode_mask(mask)
        segms.append(rle)
        bboxes.append(bbox)
        areas.append(area)
    return dict(
        id=ann_id,
        video_id=video_id,
        category_id=category_id,
        iscrowd=0,
        width=width,
        height=height,
        segmentations=segms,
        bboxes=bboxes,
        areas=areas)


def ytvis_dataset(videos: List[dict], annotations: List[dict],
                  categories: List[dict],
                  description: str = '') -> Dict[str, object]:
    """Assemble a YouTube-VIS 2019 annotation dict."""
    return dict(
        info=dict(description=description, version='2019'),
        licenses=[],
        videos=videos,
        annotations=annotations,
        categories=categories)
