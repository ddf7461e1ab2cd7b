"""The 133 COCO panoptic categories (80 things, 53 stuff) as JSON entries.

Names come from :data:`rap_sam.datasets.class_names.COCO_PANOPTIC` and
colours from mmdet's ``CocoPanopticDataset.METAINFO``; the ids are those
of ``panoptic_coco_categories.json`` (panopticapi), checked against it in
the tests when the sample data is present.
"""
from typing import List

from mmdet.datasets import CocoPanopticDataset

from ..class_names import COCO_PANOPTIC, COCO_PANOPTIC_NUM_THINGS

COCO_THING_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
    22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42,
    43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61,
    62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
    85, 86, 87, 88, 89, 90)
COCO_STUFF_IDS = (
    92, 93, 95, 100, 107, 109, 112, 118, 119, 122, 125, 128, 130, 133, 138,
    141, 144, 145, 147, 148, 149, 151, 154, 155, 156, 159, 161, 166, 168,
    171, 175, 176, 177, 178, 180, 181, 184, 185, 186, 187, 188, 189, 190,
    191, 192, 193, 194, 195, 196, 197, 198, 199, 200)


def coco_panoptic_categories() -> List[dict]:
    """``categories`` of a COCO panoptic file.

    Returns:
        list[dict]: ``{id, name, isthing, color}`` for the 133 categories
        in id order (things first).
    """
    palette = CocoPanopticDataset.METAINFO['palette']
    ids = COCO_THING_IDS + COCO_STUFF_IDS
    assert len(ids) == len(COCO_PANOPTIC.classes) == len(palette)
    return [
        dict(
            id=cat_id,
            name=name,
            isthing=int(i < COCO_PANOPTIC_NUM_THINGS),
            color=list(color))
        for i, (cat_id, name, color) in enumerate(
            zip(ids, COCO_PANOPTIC.classes, palette))
    ]
