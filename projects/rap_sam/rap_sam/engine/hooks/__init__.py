from .benchmark_table_hook import (BenchmarkTableHook, benchmark_rows,
                                   markdown_table)
from .channels_last_hook import ChannelsLastHook
from .keep_freed_memory_hook import KeepFreedMemoryHook
from .loss_curve_hook import LossCurveHook
from .progress_bar_hook import ProgressBarHook
from .prompt_visualization_hook import PromptVisualizationHook
from .rng_state_hook import RNGStateHook, get_rng_state, set_rng_state
from .time_budget_hook import TimeBudgetHook

__all__ = [
    'BenchmarkTableHook', 'ChannelsLastHook', 'KeepFreedMemoryHook',
    'LossCurveHook', 'ProgressBarHook', 'PromptVisualizationHook',
    'RNGStateHook', 'TimeBudgetHook', 'benchmark_rows', 'get_rng_state',
    'markdown_table', 'set_rng_state'
]
