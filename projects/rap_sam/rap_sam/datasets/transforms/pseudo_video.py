"""Pseudo videos: one annotated image seen as a clip of identical frames."""
import copy

import numpy as np
from mmcv.transforms import BaseTransform

from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ImageToPseudoVideo(BaseTransform):
    """Turn the results of one image into a clip of ``num_frames`` copies.

    Each key of ``results`` becomes a list with one value per frame (the
    first frame keeps the original objects, the others get deep copies):
    the layout mmdet's frame samplers (e.g. ``UniformRefFrameSample``) give
    a real video. The frames can then go through mmcv's
    ``TransformBroadcaster``: with ``share_random_params=True`` for what a
    camera shares between neighbouring frames (flip, scale), with
    ``share_random_params=False`` for what differs (the crop, i.e. camera
    motion); ``PackTrackPanopticInputs`` packs the clip. Thing instances get
    track ids before the frames diverge, so an instance keeps its id in
    every frame whatever the crops drop.

    A COCO panoptic pseudo video with large-scale jitter::

        dict(type='LoadImageNamingFile'),
        dict(type='LoadPanopticAnnotations'),
        dict(type='ImageToPseudoVideo', num_frames=2),
        dict(type='TransformBroadcaster', share_random_params=True,
             transforms=[dict(type='RandomFlip', prob=0.5),
                         dict(type='RandomResize', ...)]),
        dict(type='TransformBroadcaster', share_random_params=False,
             transforms=[dict(type='RandomCrop', ...),
                         dict(type='FilterTrackAnnotations', ...)]),
        dict(type='PackTrackPanopticInputs')

    Required Keys:

    - img
    - img_id
    - gt_bboxes_labels (np.int64) (optional)

    Modified Keys:

    - every key: a list of ``num_frames`` values

    Added Keys:

    - gt_instances_ids (np.int32): ``0 .. num_instances - 1``
    - frame_id, video_id (the image id), video_length, ori_video_length
    - key_frame_flags (bool): True for the first frame

    Args:
        num_frames (int): Frames of the clip. Defaults to 2.
    """

    def __init__(self, num_frames: int = 2) -> None:
        if not isinstance(num_frames, int) or num_frames < 1:
            raise ValueError(
                f'num_frames must be a positive int, got {num_frames!r}')
        self.num_frames = num_frames

    def transform(self, results: dict) -> dict:
        """Copy the image's results into per-frame lists.

        Args:
            results (dict): Results of one image.

        Returns:
            dict: Results of the clip, a list of ``num_frames`` per key.
        """
        if 'gt_bboxes_labels' in results:
            num_instances = len(results['gt_bboxes_labels'])
            results['gt_instances_ids'] = np.arange(
                num_instances, dtype=np.int32)
        frames = [results] + [
            copy.deepcopy(results) for _ in range(self.num_frames - 1)
        ]
        clip = {key: [frame[key] for frame in frames] for key in results}
        t = self.num_frames
        clip['frame_id'] = list(range(t))
        clip['video_id'] = [results['img_id']] * t
        clip['video_length'] = [t] * t
        clip['ori_video_length'] = [t] * t
        clip['key_frame_flags'] = [i == 0 for i in range(t)]
        return clip

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_frames={self.num_frames})'
