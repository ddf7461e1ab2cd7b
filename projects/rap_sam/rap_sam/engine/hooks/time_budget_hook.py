"""Stop training when a wall-clock budget is spent."""
import time

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class TimeBudgetHook(Hook):
    """End an iteration-based training run after ``minutes`` of training.

    The run then finishes as if ``max_iters`` had been reached (final
    checkpoint, ``after_train`` hooks). For fixed CPU budgets such as the
    demo's.

    Args:
        minutes (float): Training time budget.
    """

    priority = 'LOW'

    def __init__(self, minutes: float) -> None:
        self.seconds = minutes * 60
        self.start = None

    def before_train(self, runner) -> None:
        self.start = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if time.perf_counter() - self.start > self.seconds:
            loop = runner.train_loop
            if hasattr(loop, '_max_iters'):
                loop._max_iters = runner.iter + 1
            else:
                loop.stop_training = True
            runner.logger.info(
                f'time budget of {self.seconds / 60:.1f} min spent: stopping '
                f'after iteration {runner.iter + 1}')
