"""VIPSeg video panoptic segmentation in its COCO-style 720P layout."""
import os.path as osp
from typing import List

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.fileio import get, load

from mmdet.datasets import BaseVideoDataset
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.registry import DATASETS, TRANSFORMS
from .class_names import VIPSEG

# Category ids (0..123, VIPSeg's ``panoVIPSeg_categories.json``) of the 58
# thing classes; the other 66 are stuff.
VIPSEG_THING_IDS = (2, 4, 8, 10, 41, 43, 44, 46, 47, 48, 49, 50, 51, 52, 54,
                    55, 56, 60, 61, 62, 63, 64, 65, 72, 74, 76, 77, 78, 79,
                    82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 95, 96, 97,
                    99, 100, 101, 102, 106, 107, 108, 109, 114, 115, 116, 117,
                    118, 122, 123)
VIPSEG_THING_CLASSES = tuple(VIPSEG.classes[i] for i in VIPSEG_THING_IDS)
VIPSEG_STUFF_CLASSES = tuple(c for i, c in enumerate(VIPSEG.classes)
                             if i not in VIPSEG_THING_IDS)


def rgb_to_id(png: np.ndarray) -> np.ndarray:
    """Segment ids of a COCO panoptic RGB PNG: ``R + 256 G + 256^2 B``."""
    png = png.astype(np.int64)
    return png[..., 0] + 256 * png[..., 1] + 256 * 256 * png[..., 2]


@DATASETS.register_module()
class VIPSegDataset(BaseVideoDataset):
    """VIPSeg (VIPSeg_720P after the official conversion scripts).

    Layout (``change2_720p.py`` + ``create_panoptic_video_labels.py``)::

        data_root/images/<video>/<frame>.jpg
        data_root/panomasksRGB/<video>/<frame>.png   COCO panoptic RGB ids
        data_root/panoptic_gt_VIPSeg_{train,val,test}.json

    The JSON has ``videos`` (``video_id`` (its folder name) and ``images``:
    ``id``, ``file_name``, ``height``, ``width`` per frame, in order),
    ``annotations`` (per video, ``video_id`` and ``annotations``: per
    frame ``image_id``, ``file_name`` (the PNG) and ``segments_info``
    (``id``, ``category_id``, ``iscrowd``)) and ``categories`` (``id``
    0..123, ``name``, ``isthing``). A segment id is one object through the
    whole video.

    Labels put the 58 things first (``VIPSEG_THING_CLASSES``, then the 66
    ``VIPSEG_STUFF_CLASSES``, each in category-id order), as mmdet's
    panoptic heads expect; categories are matched by name. Every frame gets
    ``seg_map_path`` and ``segments_info`` (``id``, ``category`` (label),
    ``is_thing``, ``instance_id``: 1, 2, ... per thing object of the video,
    0 for stuff and crowd), for :class:`LoadVideoPanopticAnnotations`;
    frames without annotation (test split) get ``None`` and ``[]``.
    Each item is a whole video (test mode, mmdet's video-level sampling).

    Args:
        data_prefix (dict): ``img_path`` (frames) and ``seg_map_path``
            (panoptic PNGs) folders. Defaults to ``images`` and
            ``panomasksRGB``.
        Other args: see :class:`mmdet.datasets.BaseVideoDataset`.
    """
    METAINFO = dict(
        classes=VIPSEG_THING_CLASSES + VIPSEG_STUFF_CLASSES,
        thing_classes=VIPSEG_THING_CLASSES,
        stuff_classes=VIPSEG_STUFF_CLASSES)

    def __init__(self,
                 *args,
                 data_prefix: dict = dict(
                     img_path='images', seg_map_path='panomasksRGB'),
                 **kwargs) -> None:
        super().__init__(*args, data_prefix=data_prefix, **kwargs)

    def _category_labels(self, categories: List[dict]) -> dict:
        """Label of each category id, checked against the metainfo."""
        classes = list(self.metainfo['classes'])
        things = set(self.metainfo['thing_classes'])
        labels = {}
        for cat in categories:
            name = cat['name']
            if name not in classes:
                raise ValueError(f'{self.ann_file}: category {name!r} is not '
                                 'a class of the dataset metainfo')
            if bool(cat.get('isthing', name in things)) != (name in things):
                raise ValueError(f'{self.ann_file}: category {name!r} has '
                                 f'isthing={cat["isthing"]}, the metainfo '
                                 'says otherwise')
            labels[cat['id']] = classes.index(name)
        return labels

    def load_data_list(self) -> List[dict]:
        """Read the panoptic video JSON into one record per video.

        Returns:
            list[dict]: ``video_id`` (0, 1, ...), ``video_name``,
            ``video_length`` and ``images`` (per frame ``img_id``,
            ``img_path``, ``frame_id``, ``height``, ``width``,
            ``seg_map_path``, ``segments_info``, ``instances`` (empty)).
        """
        raw = load(self.ann_file, backend_args=self.backend_args)
        label_of = self._category_labels(raw['categories'])
        things = set(self.metainfo['thing_classes'])
        classes = self.metainfo['classes']
        frame_anns = {
            video['video_id']: {a['image_id']: a
                                for a in video['annotations']}
            for video in raw.get('annotations', [])
        }
        img_prefix = self.data_prefix.get('img_path', '')
        seg_prefix = self.data_prefix.get('seg_map_path', '')
        data_list, img_id = [], 0
        for video in raw['videos']:
            name = video['video_id']
            anns = frame_anns.get(name, {})
            instance_of = {}
            images = []
            for frame_id, img in enumerate(video['images']):
                stem = osp.splitext(img['file_name'])[0]
                info = dict(
                    img_id=img_id,
                    img_path=osp.join(img_prefix, name, stem + '.jpg'),
                    frame_id=frame_id,
                    height=img['height'],
                    width=img['width'],
                    video_name=name,
                    seg_map_path=None,
                    segments_info=[],
                    instances=[])
                img_id += 1
                ann = anns.get(img['id'])
                if ann is not None:
                    info['seg_map_path'] = osp.join(seg_prefix, name,
                                                    ann['file_name'])
                    for seg in ann['segments_info']:
                        label = label_of[seg['category_id']]
                        is_thing = classes[label] in things
                        instance_id = 0
                        if is_thing and not seg.get('iscrowd', 0):
                            instance_id = instance_of.setdefault(
                                seg['id'],
                                len(instance_of) + 1)
                        info['segments_info'].append(
                            dict(
                                id=seg['id'],
                                category=label,
                                is_thing=is_thing,
                                instance_id=instance_id))
                images.append(info)
            data_list.append(
                dict(
                    video_id=len(data_list),
                    video_name=name,
                    images=images,
                    video_length=len(images)))
        return data_list

    def filter_data(self) -> List[dict]:
        """No filtering: every frame of every video is evaluated."""
        return self.data_list


@TRANSFORMS.register_module()
class LoadVideoPanopticAnnotations(BaseTransform):
    """Load a frame's panoptic PNG as an mmdet panoptic map.

    The map is ``label + instance_id * INSTANCE_OFFSET`` (stuff and crowd:
    instance 0), VOID (unlabelled pixels) ``ignore_index``, at the
    original size: load it after ``Resize``, as mmdet's test pipelines
    load annotations, so the metric compares at the original size. Use it
    per frame (inside ``TransformBroadcaster``); the frames' maps are
    packed as ``gt_panoptic_seg`` by :class:`PackTrackPanopticInputs`.

    Required Keys: seg_map_path (None: nothing is loaded), segments_info
    (``id``, ``category``, ``instance_id``).

    Added Keys: gt_panoptic_map (np.int64, (H, W)).

    Args:
        ignore_index (int): Label of VOID pixels. Defaults to 255.
        backend_args (dict, optional): File backend arguments.
    """

    def __init__(self, ignore_index: int = 255,
                 backend_args: dict = None) -> None:
        self.ignore_index = ignore_index
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        """Load the map of one frame.

        Args:
            results (dict): Results with ``seg_map_path`` and
                ``segments_info``.

        Returns:
            dict: Results with ``gt_panoptic_map``.
        """
        path = results.get('seg_map_path')
        if path is None:
            return results
        png = mmcv.imfrombytes(
            get(path, backend_args=self.backend_args),
            flag='color',
            channel_order='rgb')
        ids = rgb_to_id(png)
        pan = np.full(ids.shape, self.ignore_index, np.int64)
        for seg in results['segments_info']:
            pan[ids == seg['id']] = seg['category'] + \
                seg.get('instance_id', 0) * INSTANCE_OFFSET
        results['gt_panoptic_map'] = pan
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ignore_index='
                f'{self.ignore_index}, backend_args={self.backend_args})')
