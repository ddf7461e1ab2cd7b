from .benchmark_table_hook import (BenchmarkTableHook, benchmark_rows,
                                   markdown_table)
from .loss_curve_hook import LossCurveHook
from .progress_bar_hook import ProgressBarHook
from .prompt_visualization_hook import PromptVisualizationHook
from .time_budget_hook import TimeBudgetHook

__all__ = [
    'BenchmarkTableHook', 'LossCurveHook', 'ProgressBarHook',
    'PromptVisualizationHook', 'TimeBudgetHook', 'benchmark_rows',
    'markdown_table'
]
