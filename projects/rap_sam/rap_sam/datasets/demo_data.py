"""The small built-in dataset of the demo: real samples or synthetic data."""
import os.path as osp
from dataclasses import dataclass
from typing import Optional, Sequence

from .converters import (DAVIS_SAMPLE_CATEGORIES, convert_video_folders,
                         dump_json_atomic, make_synthetic_coco_panoptic,
                         make_synthetic_ytvis, ytvis_to_cocovid)


@dataclass
class DemoData:
    """Where the demo's two datasets are.

    Attributes:
        source (str): ``'real'`` or ``'synthetic'``.
        coco_root (str): Root of the COCO panoptic data.
        coco_ann (str): Panoptic JSON, relative to ``coco_root``.
        coco_img (str): Image folder, relative to ``coco_root``.
        coco_seg (str): Panoptic PNG folder, relative to ``coco_root``.
        video_ann (str): CocoVID JSON (mmdet's ``YouTubeVISDataset``).
        video_ytvis_ann (str): The same annotations in YouTube-VIS format.
        video_img (str): Folder the video frame paths are relative to.
    """
    source: str
    coco_root: str
    coco_ann: str
    coco_img: str
    coco_seg: str
    video_ann: str
    video_ytvis_ann: str
    video_img: str


def prepare_demo_data(out_dir: str,
                      shared_root: Optional[str] = None,
                      sequences: Sequence[str] = ('car-shadow', 'dog'),
                      frame_step: int = 4,
                      max_frames: int = 10) -> DemoData:
    """Convert the real samples (or make synthetic ones) for the demo.

    With ``shared_root`` (``../shared/data``) present: its two COCO
    panoptic images are used in place, and DAVIS-2016 ``sequences``
    (every ``frame_step``-th frame, at most ``max_frames``) become a
    YouTube-VIS dataset with one instance per video, categories from the
    data README. Otherwise a synthetic COCO panoptic + YouTube-VIS dataset
    is generated. Nothing is copied from ``shared_root``.

    Args:
        out_dir (str): Where annotation files (and synthetic images) go.
        shared_root (str, optional): The shared sample data folder.
        sequences (Sequence[str]): DAVIS sequences to convert.
        frame_step (int): Keep one frame in this many.
        max_frames (int): Frames per video at most.

    Returns:
        DemoData: The paths.
    """
    coco = osp.join(shared_root or '', 'coco_panoptic_sample')
    davis = osp.join(shared_root or '', 'davis2016')
    if shared_root and osp.isdir(coco) and osp.isdir(davis):
        image_root = osp.join(davis, 'JPEGImages', '480p')
        ytvis = convert_video_folders(
            image_root,
            osp.join(davis, 'Annotations', '480p'),
            DAVIS_SAMPLE_CATEGORIES,
            sequences=list(sequences),
            frame_step=frame_step,
            max_frames=max_frames)
        ytvis_file = osp.join(out_dir, 'davis_ytvis.json')
        dump_json_atomic(ytvis, ytvis_file)
        cocovid_file = osp.join(out_dir, 'davis_cocovid.json')
        dump_json_atomic(ytvis_to_cocovid(ytvis), cocovid_file)
        return DemoData('real', coco, 'panoptic_examples.json',
                        'input_images/', 'panoptic_examples/', cocovid_file,
                        ytvis_file, image_root)
    synthetic = osp.join(out_dir, 'synthetic')
    pan = make_synthetic_coco_panoptic(
        osp.join(synthetic, 'coco_panoptic'), num_images=4, height=192,
        width=256)
    vid = make_synthetic_ytvis(
        osp.join(synthetic, 'youtube_vis'), num_videos=2, num_frames=8,
        height=192, width=256)
    cocovid_file = osp.join(out_dir, 'synthetic_cocovid.json')
    import json
    with open(vid['ann_file']) as f:
        dump_json_atomic(ytvis_to_cocovid(json.load(f)), cocovid_file)
    root = osp.join(synthetic, 'coco_panoptic')
    return DemoData('synthetic', root, osp.relpath(pan['ann_file'], root),
                    osp.relpath(pan['img_dir'], root) + '/',
                    osp.relpath(pan['seg_dir'], root) + '/', cocovid_file,
                    vid['ann_file'], vid['img_dir'])
