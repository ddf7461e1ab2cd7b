from .loss_curve_hook import LossCurveHook
from .progress_bar_hook import ProgressBarHook
from .time_budget_hook import TimeBudgetHook

__all__ = ['LossCurveHook', 'ProgressBarHook', 'TimeBudgetHook']
