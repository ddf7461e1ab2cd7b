"""Packing of clips with semantic maps and of images with visual prompts."""
import numpy as np
from mmcv.transforms import to_tensor
from mmengine.structures import InstanceData, PixelData

from mmdet.datasets.transforms import PackDetInputs, PackTrackInputs
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import BaseBoxes
from .prompt_sampling import PROMPT_KEYS


@TRANSFORMS.register_module()
class PackTrackPanopticInputs(PackTrackInputs):
    """``PackTrackInputs`` that also packs each frame's semantic map.

    mmdet's ``PackTrackInputs`` packs the images, instances and metainfo of
    the frames of a clip but not their ``gt_seg_map``; video panoptic
    training (e.g. COCO panoptic pseudo videos) needs the stuff labels of
    every frame. Each frame's ``gt_seg_map`` becomes its ``gt_sem_seg``
    (``sem_seg`` (1, H, W)), as ``PackDetInputs`` does for images. Boxes
    may also be box objects (``LoadPanopticAnnotations`` gives
    ``HorizontalBoxes``); they are packed as tensors, as the track data
    preprocessor expects.

    Required Keys: those of ``PackTrackInputs``, and

    - gt_seg_map (list[np.ndarray]) (optional): one (H, W) map per frame
    - gt_panoptic_map (list[np.ndarray]) (optional): one (H, W) panoptic
      map per frame (``LoadVideoPanopticAnnotations``), packed as the
      frame's ``gt_panoptic_seg`` (``sem_seg`` (1, H, W)) for video
      panoptic metrics

    Args: see :class:`mmdet.datasets.transforms.PackTrackInputs`.
    """

    def transform(self, results: dict) -> dict:
        """Pack a clip.

        Args:
            results (dict): Results of a clip (a list per key).

        Returns:
            dict: ``inputs`` (T, C, H, W) and ``data_samples``
            (:obj:`TrackDataSample`).
        """
        if 'gt_bboxes' in results:
            results['gt_bboxes'] = [
                b.numpy() if isinstance(b, BaseBoxes) else b
                for b in results['gt_bboxes']
            ]
        packed = super().transform(results)
        frames = packed['data_samples'].video_data_samples
        for frame, pan in zip(frames, results.get('gt_panoptic_map', [])):
            frame.gt_panoptic_seg = PixelData(
                sem_seg=to_tensor(pan[None, ...].copy()))
        seg_maps = results.get('gt_seg_map')
        if seg_maps is None:
            return packed
        ignore_index = results.get('ignore_index')
        for i, (frame, seg) in enumerate(zip(frames, seg_maps)):
            sem_seg = PixelData(sem_seg=to_tensor(seg[None, ...].copy()))
            if ignore_index is not None:
                sem_seg.set_metainfo(dict(ignore_index=ignore_index[i]))
            frame.gt_sem_seg = sem_seg
        return packed


@TRANSFORMS.register_module()
class PackPromptInputs(PackDetInputs):
    """``PackDetInputs`` plus the visual prompts of ``SamplePrompts``.

    The data sample gets ``prompt_instances`` (:obj:`InstanceData`) with
    the fields its prompts use:

    - ``points`` (P, K, 2) float, ``point_labels`` (P, K) long (1 positive,
      0 negative, -1 padding) when a prompt has clicks;
    - ``boxes`` (P, 4) float xyxy, ``box_valid`` (P, ) bool when a prompt
      is a box;

    all four when there is no prompt at all. ``gt_instances`` (from
    ``PackDetInputs``) holds one mask, box and label per prompt, in order.

    Required Keys: those of ``PackDetInputs``, and ``prompt_points``,
    ``prompt_point_labels``, ``prompt_boxes``, ``prompt_box_valid``.

    Args: see :class:`mmdet.datasets.transforms.PackDetInputs`.
    """

    def transform(self, results: dict) -> dict:
        """Pack an image with prompts.

        Args:
            results (dict): Results with the prompt keys.

        Returns:
            dict: ``inputs`` (C, H, W) and ``data_samples``
            (:obj:`DetDataSample` with ``prompt_instances``).
        """
        missing = [key for key in PROMPT_KEYS if key not in results]
        if missing:
            raise KeyError(f'PackPromptInputs needs {missing}: put '
                           'SamplePrompts before it')
        packed = super().transform(results)
        labels = np.asarray(results['prompt_point_labels'])
        box_valid = np.asarray(results['prompt_box_valid'], dtype=bool)
        if len(labels) != len(packed['data_samples'].gt_instances):
            raise ValueError(
                f'{len(labels)} prompts but '
                f'{len(packed["data_samples"].gt_instances)} gt instances; '
                'the prompts and the ground truth must stay aligned')
        num = len(labels)
        prompts = InstanceData()
        if num == 0 or (labels >= 0).any():
            prompts.points = to_tensor(
                np.asarray(results['prompt_points'], dtype=np.float32))
            prompts.point_labels = to_tensor(labels.astype(np.int64))
        if num == 0 or box_valid.any():
            prompts.boxes = to_tensor(
                np.asarray(results['prompt_boxes'], dtype=np.float32))
            prompts.box_valid = to_tensor(box_valid)
        packed['data_samples'].prompt_instances = prompts
        return packed
