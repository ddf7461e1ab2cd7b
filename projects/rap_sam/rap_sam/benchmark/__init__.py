"""Speed benchmark of RAP-SAM and its peers (latency, FLOPs, memory).

Used by ``tools/analysis_tools/compare_peers.py`` (RAP-SAM beside its peers,
with targets, tables and a chart) and ``tools/analysis_tools/speed.py``
(RAP-SAM's tasks alone).
"""
from .gemm_peak import gemm_peaks
from .measure import (PeakMemory, count_flops, measure_task, measure_tasks,
                      summarize, sync, time_it)
from .peers import PEERS, PeerUnavailable, build_peer
from .profiling import (TRAINING_SECTIONS, breakdown_table,
                        compare_deform_impls, profile_breakdown,
                        profile_training)
from .report import (TARGETS, bar_chart, check_targets, efficiency_table,
                     markdown_table, peer_ratios, ratio_table, target_table,
                     write_json)
from .tasks import (PANOPTIC_SHAPE, PROMPT_SHAPE, VIDEO_SHAPE, RunOptions,
                    Task, det_inputs, load_image, model_info, point_prompts,
                    rap_sam_tasks)

__all__ = [
    'PANOPTIC_SHAPE', 'PEERS', 'PROMPT_SHAPE', 'PeakMemory',
    'PeerUnavailable', 'RunOptions', 'TARGETS', 'TRAINING_SECTIONS', 'Task',
    'VIDEO_SHAPE',
    'bar_chart', 'breakdown_table', 'build_peer', 'check_targets',
    'compare_deform_impls', 'count_flops', 'det_inputs', 'efficiency_table',
    'gemm_peaks', 'load_image',
    'markdown_table', 'measure_task', 'measure_tasks', 'model_info',
    'peer_ratios', 'point_prompts', 'profile_breakdown', 'profile_training',
    'rap_sam_tasks',
    'ratio_table', 'summarize', 'sync', 'target_table', 'time_it',
    'write_json'
]
