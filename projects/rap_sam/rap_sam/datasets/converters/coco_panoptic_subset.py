"""A subset of a COCO panoptic annotation file (and its PNGs)."""
import json
import os
import os.path as osp
import shutil
from typing import Optional, Sequence

from ...utils.atomic_io import dump_json_atomic


def select_images(images: Sequence[dict],
                  image_ids: Optional[Sequence[int]] = None,
                  first_n: Optional[int] = None,
                  source: str = '') -> list:
    """Pick images by id or the first ``first_n``, in the file's order.

    Args:
        images (Sequence[dict]): ``images`` of a COCO file.
        image_ids (Sequence[int], optional): Ids to keep.
        first_n (int, optional): Keep the first ``first_n`` images.
        source (str): The annotation file, named in errors.

    Returns:
        list[dict]: The kept image entries.

    Raises:
        ValueError: Unless exactly one of ``image_ids`` / ``first_n`` is
            given, or if an id is missing from the file.
    """
    if (image_ids is None) == (first_n is None):
        raise ValueError('give exactly one of image_ids and first_n')
    if first_n is not None:
        if first_n < 1:
            raise ValueError(f'first_n must be >= 1, got {first_n}')
        return list(images[:first_n])
    wanted = set(int(i) for i in image_ids)
    missing = wanted - {img['id'] for img in images}
    if missing:
        raise ValueError(f'{source}: no image with id {sorted(missing)}')
    return [img for img in images if img['id'] in wanted]


def subset_coco_panoptic(ann_file: str,
                         out_file: str,
                         image_ids: Optional[Sequence[int]] = None,
                         first_n: Optional[int] = None,
                         png_dir: Optional[str] = None,
                         png_out_dir: Optional[str] = None) -> dict:
    """Write the part of a COCO panoptic file about some images.

    ``info``, ``licenses`` and ``categories`` are kept whole; ``images``
    and ``annotations`` are filtered. The PNGs stay where they are (the
    new file refers to them by the same ``file_name``) unless
    ``png_out_dir`` is given: then they are copied there.

    Args:
        ann_file (str): COCO panoptic JSON.
        out_file (str): Output JSON, written atomically.
        image_ids (Sequence[int], optional): Ids of the images to keep.
        first_n (int, optional): Keep the file's first ``first_n`` images.
        png_dir (str, optional): Folder of the panoptic PNGs. Defaults to
            ``ann_file`` without ``.json`` (the panopticapi convention).
        png_out_dir (str, optional): Copy the kept PNGs here. Defaults to
            None (no copy).

    Returns:
        dict: The written subset.
    """
    with open(ann_file) as f:
        dataset = json.load(f)
    for key in ('images', 'annotations', 'categories'):
        if key not in dataset:
            raise ValueError(f'{ann_file}: no {key!r}; not a COCO panoptic '
                             'annotation file')
    images = select_images(dataset['images'], image_ids, first_n, ann_file)
    kept = {img['id'] for img in images}
    annotations = [
        ann for ann in dataset['annotations'] if ann['image_id'] in kept
    ]
    if png_out_dir is not None:
        png_dir = osp.splitext(ann_file)[0] if png_dir is None else png_dir
        os.makedirs(png_out_dir, exist_ok=True)
        for ann in annotations:
            src = osp.join(png_dir, ann['file_name'])
            if not osp.isfile(src):
                raise FileNotFoundError(
                    f'{src}: panoptic PNG of image {ann["image_id"]} not '
                    'found')
            shutil.copyfile(src, osp.join(png_out_dir, ann['file_name']))
    subset = dict(dataset, images=images, annotations=annotations)
    dump_json_atomic(subset, out_file)
    return subset
