"""Metrics of RAP-SAM's tasks: interactive segmentation (mIoU, NoC) and
video panoptic segmentation (VPQ, STQ). Panoptic segmentation uses
mmdet's ``CocoPanopticMetric``; video instance segmentation mmdet's
``YouTubeVISMetric`` through :class:`YouTubeVISCompatMetric` (NumPy 2).
"""
from .interactive_clicks import (evaluate_clicks, evaluate_clicks_batch,
                                 first_click, interior_point, mask_iou,
                                 next_click, noc_metrics)
from .interactive_metric import InteractiveSegMetric, prompt_modes
from .panoptic_semseg_metric import PanopticSemSegMetric, panoptic_to_semantic
from .segmentation_tracking_quality import (STQStats, stq_summary,
                                            video_stq_stats)
from .video_panoptic_quality import (merge_stats, pq_stats, pq_summary,
                                     segment_ids, video_window_stats)
from .vipseg_metric import VideoPanopticMetric
from .youtube_vis_metric import YouTubeVISCompatMetric, numpy_float_alias

__all__ = [
    'InteractiveSegMetric', 'PanopticSemSegMetric', 'STQStats',
    'VideoPanopticMetric', 'YouTubeVISCompatMetric', 'evaluate_clicks',
    'evaluate_clicks_batch', 'first_click', 'panoptic_to_semantic',
    'interior_point', 'mask_iou', 'merge_stats', 'next_click',
    'noc_metrics', 'numpy_float_alias', 'pq_stats', 'pq_summary',
    'prompt_modes', 'segment_ids', 'stq_summary', 'video_stq_stats',
    'video_window_stats'
]
