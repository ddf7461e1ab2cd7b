from ..utils.allocator import keep_freed_memory
from .autocast_weights import keep_autocast_weights
from .image_io import image_files, to_rgb_uint8
from .int8_backbone import Int8Backbone, quantize_backbone
from .int8_conv import Int8Conv2d
from .int8_model import quantize_model
from .precision import PRECISIONS, autocast, resolve_precision
from .predictor import (RapSAMPredictor, build_model,
                        use_random_embeddings)
from ..models.utils.query_linker import QueryLinker
from .video_predictor import VideoPredictor
from ..utils.visualization import overlay_masks, overlay_panoptic

__all__ = [
    'Int8Backbone', 'Int8Conv2d', 'PRECISIONS', 'QueryLinker',
    'RapSAMPredictor',
    'VideoPredictor', 'autocast', 'build_model', 'image_files',
    'keep_autocast_weights', 'keep_freed_memory', 'overlay_masks',
    'overlay_panoptic',
    'quantize_backbone', 'quantize_model',
    'resolve_precision', 'to_rgb_uint8', 'use_random_embeddings'
]
