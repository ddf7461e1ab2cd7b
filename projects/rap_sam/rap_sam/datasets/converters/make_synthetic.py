"""Small synthetic COCO-panoptic and YouTube-VIS datasets of shapes.

Used by tests and demos when the real sample data (``../shared/data``) is
absent. The output is deterministic given the seed::

    out_dir/coco_panoptic/images/<image_id:012d>.jpg
    out_dir/coco_panoptic/annotations/panoptic.json      (133 categories)
    out_dir/coco_panoptic/annotations/panoptic/<image_id:012d>.png
    out_dir/youtube_vis/JPEGImages/video_<i:03d>/<t:05d>.jpg
    out_dir/youtube_vis/annotations/instances.json       (40 categories)

Panoptic images have a sky above a horizon and a ground stuff class below
it, with a few thing shapes (rectangles, ellipses) on top. Video clips
are shapes moving at constant speed with an id each, over a gradient
background; an object that leaves the frame or is hidden is ``None``
there.

:func:`make_custom_panoptic` and :func:`make_custom_ytvis` make the same
kind of data with class names of your choice (train and val splits), in
the layout of the README's guide "Fine-tune on your own data".
"""
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

from ..class_names import YTVIS2019
from .coco_panoptic_categories import coco_panoptic_categories
from ...utils.atomic_io import dump_json_atomic
from .ytvis_format import (resolve_category, track_record, video_record,
                           ytvis_categories, ytvis_dataset)

PANOPTIC_THINGS = ('person', 'car', 'dog', 'cat', 'bicycle', 'bus')
PANOPTIC_GROUND = ('grass-merged', 'road', 'sand', 'snow', 'water-other')
PANOPTIC_SKY = 'sky-other-merged'
VIDEO_CLASSES = ('person', 'dog', 'sedan', 'cat', 'horse')


def shape_mask(kind: str, center: Tuple[float, float],
               size: Tuple[float, float], height: int,
               width: int) -> np.ndarray:
    """Rasterise a rectangle or an ellipse.

    Args:
        kind (str): ``'rectangle'`` or ``'ellipse'``.
        center (tuple[float, float]): (x, y) centre in pixels.
        size (tuple[float, float]): (width, height) of the shape.
        height (int): Image height.
        width (int): Image width.

    Returns:
        np.ndarray: (height, width) bool mask (may be empty).
    """
    ys, xs = np.mgrid[:height, :width] + 0.5
    dx = (xs - center[0]) / (size[0] / 2)
    dy = (ys - center[1]) / (size[1] / 2)
    if kind == 'rectangle':
        return (np.abs(dx) <= 1) & (np.abs(dy) <= 1)
    if kind == 'ellipse':
        return dx**2 + dy**2 <= 1
    raise ValueError(f'unknown shape {kind!r}')


def _paint(image: np.ndarray, mask: np.ndarray, color,
           rng: np.random.Generator, noise: float = 8.) -> None:
    """Fill ``mask`` of a float image with a noisy colour, in place."""
    n = int(mask.sum())
    image[mask] = np.asarray(color, np.float32) + rng.normal(
        0., noise, (n, 3))


def _save_jpg(image: np.ndarray, path: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
        path, quality=95)


def _random_shape(rng: np.random.Generator, height: int,
                  width: int) -> Tuple[str, Tuple[float, float],
                                       Tuple[float, float]]:
    kind = ('rectangle', 'ellipse')[rng.integers(2)]
    size = (float(rng.uniform(0.2, 0.45) * width),
            float(rng.uniform(0.2, 0.45) * height))
    center = (float(rng.uniform(0.15, 0.85) * width),
              float(rng.uniform(0.2, 0.9) * height))
    return kind, center, size


def _id_to_rgb(ids: np.ndarray) -> np.ndarray:
    """Segment ids to COCO panoptic colours, id = R + 256 G + 256^2 B."""
    return np.stack([ids % 256, ids // 256 % 256, ids // 256**2 % 256],
                    axis=-1).astype(np.uint8)


def _panoptic_image(rng: np.random.Generator, height: int, width: int,
                    cats: Dict[str, dict], min_area: int
                    ) -> Tuple[np.ndarray, np.ndarray, List[dict]]:
    """One image, its segment-id map and its ``segments_info``."""
    image = np.zeros((height, width, 3), np.float32)
    id_map = np.zeros((height, width), np.int64)
    ground = PANOPTIC_GROUND[rng.integers(len(PANOPTIC_GROUND))]
    horizon = int(rng.uniform(0.35, 0.65) * height)
    rows = np.arange(height)[:, None].repeat(width, 1)
    layers = [(PANOPTIC_SKY, rows < horizon), (ground, rows >= horizon)]
    for _ in range(rng.integers(2, 5)):
        name = PANOPTIC_THINGS[rng.integers(len(PANOPTIC_THINGS))]
        layers.append((name, shape_mask(*_random_shape(rng, height, width),
                                        height, width)))
    seg_ids = rng.choice(2**24 - 1, len(layers), replace=False) + 1
    for (name, mask), seg_id in zip(layers, seg_ids):
        id_map[mask] = seg_id
        tint = rng.integers(-30, 31, 3)
        _paint(image, mask, np.asarray(cats[name]['color']) + tint, rng)
    segments = _segments_info(
        id_map, seg_ids, [cats[name]['id'] for name, _ in layers], min_area)
    return image, id_map, segments


def _segments_info(id_map: np.ndarray, seg_ids: np.ndarray,
                   category_ids: Sequence[int],
                   min_area: int) -> List[dict]:
    """COCO panoptic ``segments_info`` of the painted segments; a segment
    smaller than ``min_area`` becomes VOID (id 0) in ``id_map``."""
    segments = []
    for category_id, seg_id in zip(category_ids, seg_ids):
        mask = id_map == seg_id
        area = int(mask.sum())
        if area < min_area:
            id_map[mask] = 0  # VOID: too small to be a segment
            continue
        ys, xs = np.nonzero(mask)
        x0, y0 = int(xs.min()), int(ys.min())
        segments.append(
            dict(
                id=int(seg_id),
                category_id=int(category_id),
                iscrowd=0,
                bbox=[x0, y0,
                      int(xs.max()) - x0 + 1,
                      int(ys.max()) - y0 + 1],
                area=area))
    return segments


def make_synthetic_coco_panoptic(out_dir: str,
                                 num_images: int = 4,
                                 height: int = 96,
                                 width: int = 128,
                                 seed: int = 0,
                                 min_area: int = 16) -> Dict[str, str]:
    """Write a synthetic COCO panoptic dataset under ``out_dir``.

    Args:
        out_dir (str): Dataset folder (``images/``, ``annotations/``).
        num_images (int): Number of images. Defaults to 4.
        height (int): Image height. Defaults to 96.
        width (int): Image width. Defaults to 128.
        seed (int): Random seed. Defaults to 0.
        min_area (int): Segments smaller than this (mostly hidden things)
            become VOID. Defaults to 16.

    Returns:
        dict[str, str]: ``ann_file``, ``img_dir`` and ``seg_dir``.
    """
    rng = np.random.default_rng([seed, 0])
    categories = coco_panoptic_categories()
    cats = {c['name']: c for c in categories}
    img_dir = osp.join(out_dir, 'images')
    seg_dir = osp.join(out_dir, 'annotations', 'panoptic')
    ann_file = osp.join(out_dir, 'annotations', 'panoptic.json')
    os.makedirs(seg_dir, exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        image, id_map, segments = _panoptic_image(rng, height, width, cats,
                                                  min_area)
        stem = f'{image_id:012d}'
        _save_jpg(image, osp.join(img_dir, f'{stem}.jpg'))
        Image.fromarray(_id_to_rgb(id_map)).save(
            osp.join(seg_dir, f'{stem}.png'))
        images.append(
            dict(
                id=image_id,
                file_name=f'{stem}.jpg',
                height=height,
                width=width))
        annotations.append(
            dict(
                image_id=image_id,
                file_name=f'{stem}.png',
                segments_info=segments))
    dump_json_atomic(
        dict(
            info=dict(description=f'synthetic COCO panoptic, seed {seed}'),
            licenses=[],
            images=images,
            annotations=annotations,
            categories=categories), ann_file)
    return dict(ann_file=ann_file, img_dir=img_dir, seg_dir=seg_dir)


def _video(rng: np.random.Generator, num_frames: int, height: int,
           width: int) -> Tuple[List[np.ndarray], List[Tuple[str, list]]]:
    """Frames of one clip and per object (class, per-frame masks)."""
    base = rng.uniform(40, 215, 3)
    ramp = np.linspace(-25, 25, width, dtype=np.float32)[None, :, None]
    objects = []
    for _ in range(rng.integers(1, 4)):
        kind, center, size = _random_shape(rng, height, width)
        size = (size[0] * 0.8, size[1] * 0.8)
        velocity = rng.uniform(-6, 6, 2)
        color = rng.uniform(0, 255, 3)
        name = VIDEO_CLASSES[rng.integers(len(VIDEO_CLASSES))]
        objects.append((name, kind, np.asarray(center), size, velocity,
                        color))
    frames, masks = [], [[] for _ in objects]
    for t in range(num_frames):
        image = np.broadcast_to(base + ramp, (height, width, 3)).copy()
        image += rng.normal(0., 6., image.shape)
        id_map = np.zeros((height, width), np.int64)
        for k, (_, kind, center, size, velocity, color) in enumerate(objects):
            mask = shape_mask(kind, tuple(center + t * velocity), size,
                              height, width)
            id_map[mask] = k + 1
            _paint(image, mask, color, rng)
        for k in range(len(objects)):
            mask = id_map == k + 1
            masks[k].append(mask if mask.any() else None)
        frames.append(image)
    return frames, [(obj[0], m) for obj, m in zip(objects, masks)]


def make_synthetic_ytvis(out_dir: str,
                         num_videos: int = 2,
                         num_frames: int = 6,
                         height: int = 96,
                         width: int = 128,
                         seed: int = 0) -> Dict[str, str]:
    """Write a synthetic YouTube-VIS 2019 dataset under ``out_dir``.

    Args:
        out_dir (str): Dataset folder (``JPEGImages/``, ``annotations/``).
        num_videos (int): Number of clips. Defaults to 2.
        num_frames (int): Frames per clip. Defaults to 6.
        height (int): Frame height. Defaults to 96.
        width (int): Frame width. Defaults to 128.
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict[str, str]: ``ann_file`` and ``img_dir`` (``file_names`` are
        relative to it).
    """
    rng = np.random.default_rng([seed, 1])
    img_dir = osp.join(out_dir, 'JPEGImages')
    ann_file = osp.join(out_dir, 'annotations', 'instances.json')
    videos, annotations = [], []
    for video_id in range(1, num_videos + 1):
        name = f'video_{video_id:03d}'
        frames, objects = _video(rng, num_frames, height, width)
        file_names = []
        for t, frame in enumerate(frames):
            file_names.append(f'{name}/{t:05d}.jpg')
            _save_jpg(frame, osp.join(img_dir, file_names[-1]))
        videos.append(video_record(video_id, file_names, width, height))
        for cls, masks in objects:
            if all(m is None for m in masks):
                continue
            annotations.append(
                track_record(
                    len(annotations) + 1, video_id,
                    resolve_category(cls), masks, width, height))
    dump_json_atomic(
        ytvis_dataset(videos, annotations, ytvis_categories(YTVIS2019),
                      f'synthetic YouTube-VIS, seed {seed}'), ann_file)
    return dict(ann_file=ann_file, img_dir=img_dir)


def make_synthetic(out_dir: str, seed: int = 0) -> Dict[str, dict]:
    """Write both synthetic datasets with their default sizes.

    Args:
        out_dir (str): Root folder; gets ``coco_panoptic/`` and
            ``youtube_vis/``.
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict[str, dict]: The paths of each dataset, by folder name.
    """
    return dict(
        coco_panoptic=make_synthetic_coco_panoptic(
            osp.join(out_dir, 'coco_panoptic'), seed=seed),
        youtube_vis=make_synthetic_ytvis(
            osp.join(out_dir, 'youtube_vis'), seed=seed))


def _class_colors(rng: np.random.Generator, num: int) -> np.ndarray:
    """One distinct base colour per class."""
    return rng.uniform(30, 225, (num, 3))


def _custom_panoptic_image(rng: np.random.Generator, height: int,
                           width: int, num_things: int,
                           num_stuff: int, colors: np.ndarray,
                           min_area: int
                           ) -> Tuple[np.ndarray, np.ndarray, List[dict]]:
    """One image of :func:`make_custom_panoptic` and its segments.

    Stuff classes are horizontal bands (the first on top); thing class
    ``i`` is a rectangle for even ``i``, an ellipse for odd ``i``. Labels
    are 0-based (things, then stuff); ``category_id`` is ``label + 1``.
    """
    image = np.zeros((height, width, 3), np.float32)
    id_map = np.zeros((height, width), np.int64)
    rows = np.arange(height)[:, None].repeat(width, 1)
    cuts = np.sort(rng.uniform(0.3, 0.7, num_stuff - 1)) * height
    edges = [0, *cuts.astype(int).tolist(), height]
    layers = [(num_things + s, (rows >= edges[s]) & (rows < edges[s + 1]))
              for s in range(num_stuff)]
    for _ in range(rng.integers(1, 4)):
        label = int(rng.integers(num_things))
        _, center, size = _random_shape(rng, height, width)
        kind = ('rectangle', 'ellipse')[label % 2]
        layers.append((label, shape_mask(kind, center, size, height, width)))
    seg_ids = rng.choice(2**24 - 1, len(layers), replace=False) + 1
    for (label, mask), seg_id in zip(layers, seg_ids):
        id_map[mask] = seg_id
        _paint(image, mask, colors[label] + rng.integers(-20, 21, 3), rng)
    segments = _segments_info(id_map, seg_ids,
                              [label + 1 for label, _ in layers], min_area)
    return image, id_map, segments


def make_custom_panoptic(out_dir: str,
                         thing_classes: Sequence[str],
                         stuff_classes: Sequence[str],
                         num_train: int = 6,
                         num_val: int = 2,
                         height: int = 96,
                         width: int = 128,
                         seed: int = 0,
                         min_area: int = 16) -> Dict[str, str]:
    """Write a small COCO panoptic dataset with its own classes.

    The layout of the fine-tuning guide (README, "Fine-tune on your own
    data")::

        out_dir/images/<image_id:06d>.jpg
        out_dir/annotations/panoptic_train.json   (the first num_train)
        out_dir/annotations/panoptic_val.json     (the next num_val)
        out_dir/annotations/panoptic/<image_id:06d>.png

    Both JSON files list the same ``categories`` (``id``, ``name``,
    ``isthing``, ``color``): the things first, then the stuff, ids from 1
    in that order. Stuff classes fill horizontal bands; each thing class
    has its shape (rectangle, ellipse, alternately) and colour.

    Args:
        out_dir (str): Dataset folder.
        thing_classes (Sequence[str]): Names of the thing classes.
        stuff_classes (Sequence[str]): Names of the stuff classes (at least
            one: the background of every image).
        num_train (int): Training images. Defaults to 6.
        num_val (int): Validation images. Defaults to 2.
        height (int): Image height. Defaults to 96.
        width (int): Image width. Defaults to 128.
        seed (int): Random seed. Defaults to 0.
        min_area (int): Segments smaller than this become VOID. Defaults
            to 16.

    Returns:
        dict[str, str]: ``train_ann``, ``val_ann``, ``img_dir`` and
        ``seg_dir``.
    """
    if not thing_classes or not stuff_classes:
        raise ValueError('make_custom_panoptic needs at least one thing and '
                         'one stuff class')
    names = [*thing_classes, *stuff_classes]
    if len(set(names)) != len(names):
        raise ValueError(f'class names must be unique, got {names}')
    rng = np.random.default_rng([seed, 2])
    colors = _class_colors(rng, len(names))
    categories = [
        dict(
            id=i + 1,
            name=name,
            isthing=int(i < len(thing_classes)),
            color=[int(c) for c in colors[i]]) for i, name in enumerate(names)
    ]
    img_dir = osp.join(out_dir, 'images')
    seg_dir = osp.join(out_dir, 'annotations', 'panoptic')
    os.makedirs(seg_dir, exist_ok=True)
    splits: Dict[str, Tuple[list, list]] = dict(train=([], []), val=([], []))
    for image_id in range(1, num_train + num_val + 1):
        image, id_map, segments = _custom_panoptic_image(
            rng, height, width, len(thing_classes), len(stuff_classes),
            colors, min_area)
        stem = f'{image_id:06d}'
        _save_jpg(image, osp.join(img_dir, f'{stem}.jpg'))
        Image.fromarray(_id_to_rgb(id_map)).save(
            osp.join(seg_dir, f'{stem}.png'))
        images, annotations = splits['train' if image_id <= num_train
                                     else 'val']
        images.append(
            dict(
                id=image_id,
                file_name=f'{stem}.jpg',
                height=height,
                width=width))
        annotations.append(
            dict(
                image_id=image_id,
                file_name=f'{stem}.png',
                segments_info=segments))
    paths = dict(img_dir=img_dir, seg_dir=seg_dir)
    for split, (images, annotations) in splits.items():
        paths[f'{split}_ann'] = osp.join(out_dir, 'annotations',
                                         f'panoptic_{split}.json')
        dump_json_atomic(
            dict(
                info=dict(description=f'custom panoptic {split}, seed '
                          f'{seed}'),
                licenses=[],
                images=images,
                annotations=annotations,
                categories=categories), paths[f'{split}_ann'])
    return paths


def make_custom_ytvis(out_dir: str,
                      classes: Sequence[str],
                      num_train: int = 3,
                      num_val: int = 2,
                      num_frames: int = 4,
                      height: int = 96,
                      width: int = 128,
                      seed: int = 0) -> Dict[str, str]:
    """Write a small YouTube-VIS 2019 format dataset with its own classes.

    The layout of the fine-tuning guide (README, "Fine-tune on your own
    data")::

        out_dir/JPEGImages/video_<i:03d>/<t:05d>.jpg
        out_dir/annotations/ytvis_train.json    (the first num_train clips)
        out_dir/annotations/ytvis_val.json      (the next num_val clips)

    The JSON files are in the YouTube-VIS layout (``videos`` with
    ``file_names``, per-track ``segmentations``); mmdet's
    ``YouTubeVISDataset`` reads the CocoVID layout that
    :func:`ytvis_to_cocovid` makes of them. Categories: ids from 1 in the
    order of ``classes``; object class ``i`` is a rectangle for even ``i``,
    an ellipse for odd ``i``, moving at constant speed over a gradient.

    Args:
        out_dir (str): Dataset folder.
        classes (Sequence[str]): Object class names.
        num_train (int): Training clips. Defaults to 3.
        num_val (int): Validation clips. Defaults to 2.
        num_frames (int): Frames per clip. Defaults to 4.
        height (int): Frame height. Defaults to 96.
        width (int): Frame width. Defaults to 128.
        seed (int): Random seed. Defaults to 0.

    Returns:
        dict[str, str]: ``train_ann``, ``val_ann`` (YouTube-VIS layout) and
        ``img_dir`` (``file_names`` are relative to it).
    """
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f'classes must be unique and not empty, got '
                         f'{list(classes)}')
    rng = np.random.default_rng([seed, 3])
    colors = _class_colors(rng, len(classes))
    categories = [
        dict(id=i + 1, name=name, supercategory='object')
        for i, name in enumerate(classes)
    ]
    img_dir = osp.join(out_dir, 'JPEGImages')
    ramp = np.linspace(-25, 25, width, dtype=np.float32)[None, :, None]
    splits: Dict[str, Tuple[list, list]] = dict(train=([], []), val=([], []))
    for video_id in range(1, num_train + num_val + 1):
        name = f'video_{video_id:03d}'
        base = rng.uniform(40, 215, 3)
        objects = []
        for _ in range(rng.integers(1, 3)):
            label = int(rng.integers(len(classes)))
            _, center, size = _random_shape(rng, height, width)
            objects.append((label, ('rectangle', 'ellipse')[label % 2],
                            np.asarray(center),
                            (size[0] * 0.8, size[1] * 0.8),
                            rng.uniform(-5, 5, 2)))
        file_names, masks = [], [[] for _ in objects]
        for t in range(num_frames):
            frame = np.broadcast_to(base + ramp, (height, width, 3)).copy()
            frame += rng.normal(0., 6., frame.shape)
            id_map = np.zeros((height, width), np.int64)
            for k, (label, kind, center, size, velocity) in enumerate(
                    objects):
                mask = shape_mask(kind, tuple(center + t * velocity), size,
                                  height, width)
                id_map[mask] = k + 1
                _paint(frame, mask, colors[label], rng)
            for k in range(len(objects)):
                mask = id_map == k + 1
                masks[k].append(mask if mask.sum() >= 16 else None)
            file_names.append(f'{name}/{t:05d}.jpg')
            _save_jpg(frame, osp.join(img_dir, file_names[-1]))
        videos, annotations = splits['train' if video_id <= num_train
                                     else 'val']
        videos.append(video_record(video_id, file_names, width, height))
        for (label, *_), track in zip(objects, masks):
            if all(m is None for m in track):
                continue
            annotations.append(
                track_record(
                    sum(len(a) for _, a in splits.values()) + 1, video_id,
                    label + 1, track, width, height))
    paths = dict(img_dir=img_dir)
    for split, (videos, annotations) in splits.items():
        paths[f'{split}_ann'] = osp.join(out_dir, 'annotations',
                                         f'ytvis_{split}.json')
        dump_json_atomic(
            ytvis_dataset(videos, annotations, categories,
                          f'custom YouTube-VIS {split}, seed {seed}'),
            paths[f'{split}_ann'])
    return paths
