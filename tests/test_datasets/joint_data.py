"""Helpers of the data tests: the joint config's pipelines on real data."""
import json
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmengine.config import Config, ConfigDict

import rap_sam.datasets  # noqa: F401  (registers transforms and samplers)
from rap_sam.datasets.pipeline_utils import resize_pipeline
from conftest import load_config, shared_data
from mmdet.registry import DATASETS

JOINT_R18 = 'rap-sam_r18_8xb2-12e_coco-ytvis-sam.py'
COCO_SAMPLE = 'coco_panoptic_sample'
SMALL_SIZE = (192, 256)  # (h, w)


def joint_config(name: str = JOINT_R18, num_points: int = 256) -> Config:
    """The joint config with random class embeddings (no file needed)."""
    return load_config(name, num_points)


def small_pipeline(pipeline: List[dict],
                   size: Tuple[int, int] = SMALL_SIZE,
                   ratio_range: Optional[Tuple[float, float]] = None,
                   replace: Optional[Dict[str, dict]] = None) -> List[dict]:
    """A config pipeline at a small training size (h, w)."""
    return resize_pipeline(pipeline, size, ratio_range, replace)


def coco_sample_dataset(pipeline: List[dict]):
    """``CocoPanopticDataset`` of the real two-image COCO sample."""
    root = shared_data(COCO_SAMPLE)
    return DATASETS.build(
        dict(
            type='CocoPanopticDataset',
            data_root=str(root),
            ann_file='panoptic_examples.json',
            data_prefix=dict(img='input_images/', seg='panoptic_examples/'),
            filter_cfg=dict(filter_empty_gt=True, min_size=32),
            pipeline=pipeline))


def source_pipeline(cfg: Config, index: int) -> List[dict]:
    """The pipeline of the joint config's ``index``-th training source."""
    pipeline = cfg.train_dataloader.dataset.datasets[index].pipeline
    return [
        t.to_dict() if isinstance(t, ConfigDict) else dict(t) for t in pipeline
    ]


def write_ytvis_sample(out_dir) -> Tuple[str, str]:
    """A two-frame YouTube-VIS 2019 style video made from the real sample.

    Both frames show the first COCO sample image; its people are the
    video's instances (YouTube-VIS ``person``, track ids 1, 2, ...) and the
    biggest one is relabelled ``giant_panda`` (a YouTube-VIS-only class);
    the second frame lacks the last instance.

    Returns:
        tuple[str, str]: The annotation file and the image folder.
    """
    from panopticapi.utils import rgb2id
    from PIL import Image
    from pycocotools import mask as mask_utils
    root = shared_data(COCO_SAMPLE)
    pan = json.loads((root / 'panoptic_examples.json').read_text())
    image = pan['images'][0]
    ann = next(a for a in pan['annotations'] if a['image_id'] == image['id'])
    ids = rgb2id(
        np.asarray(Image.open(root / 'panoptic_examples' / ann['file_name'])))
    people = [
        s for s in ann['segments_info']
        if s['category_id'] == 1 and not s['iscrowd']
    ]
    people.sort(key=lambda s: -s['area'])
    images, annotations = [], []
    for frame in range(2):
        img_id = frame + 1
        images.append(
            dict(
                id=img_id,
                video_id=1,
                frame_id=frame,
                file_name=image['file_name'],
                width=image['width'],
                height=image['height']))
        kept = people if frame == 0 else people[:-1]
        for track, segment in enumerate(kept, start=1):
            rle = mask_utils.encode(
                np.asfortranarray((ids == segment['id']).astype(np.uint8)))
            rle['counts'] = rle['counts'].decode()
            x, y, w, h = mask_utils.toBbox(rle).tolist()
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=img_id,
                    video_id=1,
                    category_id=2 if track == 1 else 1,
                    instance_id=track,
                    bbox=[x, y, w, h],
                    area=float(mask_utils.area(rle)),
                    segmentation=rle,
                    iscrowd=0))
    categories = [dict(id=1, name='person'), dict(id=2, name='giant_panda')]
    data = dict(
        videos=[dict(id=1, name='sample')],
        images=images,
        annotations=annotations,
        categories=categories)
    ann_file = out_dir / 'ytvis_sample.json'
    ann_file.write_text(json.dumps(data))
    return str(ann_file), str(root / 'input_images')
