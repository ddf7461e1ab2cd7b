"""A tqdm progress bar over training iterations."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from tqdm import tqdm


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """Show training progress (iterations, loss, speed) as a progress bar.

    Args:
        loss_key (str): Log variable shown beside the bar. Defaults to
            'loss'.
    """

    priority = 'VERY_LOW'

    def __init__(self, loss_key: str = 'loss') -> None:
        self.loss_key = loss_key
        self.bar: Optional[tqdm] = None

    def before_train(self, runner) -> None:
        self.bar = tqdm(total=runner.max_iters, initial=runner.iter,
                        desc='train', unit='it', dynamic_ncols=True)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if self.bar is None:
            return
        if outputs and self.loss_key in outputs:
            loss = outputs[self.loss_key]
            loss = loss.item() if hasattr(loss, 'item') else float(loss)
            self.bar.set_postfix({self.loss_key: loss})
        self.bar.update(1)

    def after_train(self, runner) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
