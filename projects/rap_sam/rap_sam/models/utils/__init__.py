from .class_embeddings import load_class_embeddings, random_class_embeddings
from .mask_boxes import mask_boxes
from .mask_resize import resize_masks
from .mask_threshold import above
from .point_sampling import sample_uncertain_points, uncertain_point_coords
from .quantize import quantize_rows
from .query_linker import QueryLinker

__all__ = [
    'QueryLinker', 'above', 'load_class_embeddings', 'mask_boxes',
    'quantize_rows', 'random_class_embeddings', 'resize_masks',
    'sample_uncertain_points', 'uncertain_point_coords'
]
