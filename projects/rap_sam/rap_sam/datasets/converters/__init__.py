"""Dataset converters: video object segmentation folders to YouTube-VIS,
COCO panoptic subsets and synthetic datasets."""
from .coco_panoptic_categories import (COCO_STUFF_IDS, COCO_THING_IDS,
                                       coco_panoptic_categories)
from .coco_panoptic_subset import select_images, subset_coco_panoptic
from .davis_to_ytvis import (DAVIS_SAMPLE_CATEGORIES, convert_sequence,
                             convert_video_folders, fit_to_frame,
                             read_object_mask, select_frames)
from ...utils.atomic_io import dump_json_atomic
from .make_synthetic import (make_custom_panoptic, make_custom_ytvis,
                             make_synthetic, make_synthetic_coco_panoptic,
                             make_synthetic_ytvis)
from .ytvis_format import (encode_mask, resolve_category, track_record,
                           video_record, ytvis_categories, ytvis_dataset)
from .ytvis_to_cocovid import ytvis_to_cocovid

__all__ = [
    'COCO_STUFF_IDS', 'COCO_THING_IDS', 'DAVIS_SAMPLE_CATEGORIES',
    'coco_panoptic_categories', 'convert_sequence', 'convert_video_folders',
    'dump_json_atomic', 'encode_mask', 'fit_to_frame', 'make_custom_panoptic',
    'make_custom_ytvis', 'make_synthetic',
    'make_synthetic_coco_panoptic', 'make_synthetic_ytvis',
    'read_object_mask', 'resolve_category', 'select_frames',
    'select_images', 'subset_coco_panoptic', 'track_record', 'video_record',
    'ytvis_categories', 'ytvis_dataset', 'ytvis_to_cocovid'
]
