from .image_io import to_rgb_uint8
from .precision import PRECISIONS, autocast, resolve_precision
from .predictor import (RapSAMPredictor, build_model,
                        use_random_embeddings)
from ..models.utils.query_linker import QueryLinker
from .video_predictor import VideoPredictor
from ..utils.visualization import overlay_masks, overlay_panoptic

__all__ = [
    'PRECISIONS', 'QueryLinker', 'RapSAMPredictor', 'VideoPredictor',
    'autocast', 'build_model', 'overlay_masks', 'overlay_panoptic',
    'resolve_precision', 'to_rgb_uint8', 'use_random_embeddings'
]
