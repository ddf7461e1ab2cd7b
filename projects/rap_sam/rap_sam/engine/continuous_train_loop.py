"""An iteration-based train loop that never pauses between epochs."""
import logging
from typing import Iterator

from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop
from torch.utils.data import DataLoader

from mmdet.registry import LOOPS
from .hooks.rng_state_hook import RNG_STATE_KEY, set_rng_state


class RestartingIterator:
    """Iterate a dataloader forever, restarting it at each epoch end.

    mmengine's ``_InfiniteDataloaderIterator`` sleeps 2 s and logs a
    warning at every epoch end; on a small dataset that is most of the
    run. This one restarts at once, after ``set_epoch`` on the sampler (or
    the batch sampler's sampler), so shuffling still changes per epoch.

    Args:
        dataloader (DataLoader): The training dataloader.
    """

    def __init__(self, dataloader: DataLoader) -> None:
        self._dataloader = dataloader
        self._epoch = 0
        self._iterator = iter(dataloader)

    def __iter__(self) -> Iterator:
        return self

    def _set_epoch(self) -> None:
        sampler = getattr(self._dataloader, 'sampler', None)
        batch_sampler = getattr(self._dataloader, 'batch_sampler', None)
        for owner in (sampler, batch_sampler,
                      getattr(batch_sampler, 'sampler', None)):
            if hasattr(owner, 'set_epoch'):
                owner.set_epoch(self._epoch)
                return

    def __next__(self):
        try:
            return next(self._iterator)
        except StopIteration:
            self._epoch += 1
            self._set_epoch()
            self._iterator = iter(self._dataloader)
            return next(self._iterator)


@LOOPS.register_module()
class ContinuousIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` without the 2 s pause at each epoch end.

    Same arguments and behaviour as mmengine's loop (validation interval,
    resume, dynamic intervals); only the dataloader iterator differs (see
    :class:`RestartingIterator`). Use it for iteration-based schedules,
    above all on small datasets where an epoch is a few iterations::

        train_cfg = dict(type='ContinuousIterBasedTrainLoop', max_iters=N)
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.dataloader_iterator = RestartingIterator(self.dataloader)

    def run(self) -> None:
        """Train; on resume, advance the data past the trained iterations,
        then restore the random states saved with the checkpoint (see
        :class:`RNGStateHook`)."""
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        if self._iter > 0:
            print_log(
                f'Advance dataloader {self._iter} steps to skip data '
                'that has already been trained',
                logger='current',
                level=logging.WARNING)
            for _ in range(self._iter):
                next(self.dataloader_iterator)
            state = self.runner.message_hub.get_info(RNG_STATE_KEY)
            if state is not None:
                set_rng_state(state)
                print_log('restored the random states of the checkpoint',
                          logger='current')
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            self.run_iter(next(self.dataloader_iterator))
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None
                    and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0
                         or self._iter == self._max_iters)):
                self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model
