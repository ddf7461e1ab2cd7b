"""YouTube-VIS annotation files to the CocoVID layout mmdet reads."""
from typing import Dict, List


def ytvis_to_cocovid(ytvis: dict) -> dict:
    """Flatten YouTube-VIS tracks into per-frame instance records.

    mmdet's ``YouTubeVISDataset`` (a ``BaseVideoDataset``) reads CocoVID:
    ``videos``, ``images`` (with ``video_id`` and ``frame_id``) and
    ``annotations`` (one per object and frame, with ``instance_id``). This
    is what mmdet's ``youtubevis2coco.py`` writes; here as a function.

    Args:
        ytvis (dict): A YouTube-VIS 2019/2021 annotation dict (``videos``
            with ``file_names``; ``annotations`` with per-frame
            ``segmentations`` / ``bboxes`` / ``areas``, ``None`` where the
            object is absent); ``annotations`` may be missing (test split).

    Returns:
        dict: The CocoVID dict, image ids numbered from 1 in video order.
    """
    videos: List[dict] = []
    images: List[dict] = []
    frame_image: Dict[tuple, int] = {}
    for video in ytvis['videos']:
        videos.append(
            dict(id=video['id'], name=video['file_names'][0].split('/')[0]))
        for frame_id, file_name in enumerate(video['file_names']):
            image_id = len(images) + 1
            frame_image[(video['id'], frame_id)] = image_id
            images.append(
                dict(
                    id=image_id,
                    video_id=video['id'],
                    frame_id=frame_id,
                    file_name=file_name,
                    width=video['width'],
                    height=video['height']))
    annotations: List[dict] = []
    for instance_id, track in enumerate(ytvis.get('annotations', []), 1):
        for frame_id, segm in enumerate(track['segmentations']):
            if segm is None:
                continue
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=frame_image[(track['video_id'], frame_id)],
                    video_id=track['video_id'],
                    category_id=track['category_id'],
                    instance_id=instance_id,
                    bbox=track['bboxes'][frame_id],
                    area=track['areas'][frame_id],
                    segmentation=segm,
                    iscrowd=track.get('iscrowd', 0)))
    return dict(
        categories=ytvis['categories'],
        videos=videos,
        images=images,
        annotations=annotations)
