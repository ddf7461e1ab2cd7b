"""Random number generator states in checkpoints, for exact resumes."""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

#: Key of the states in a checkpoint's ``meta`` and in the message hub.
RNG_STATE_KEY = 'rng_state'


def get_rng_state() -> dict:
    """The states of torch's CPU generator, numpy's and Python's, in types
    that checkpoints load weights-only (tensors, ints, lists)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return dict(torch=torch.get_rng_state(),
                numpy=[name, keys.tolist(), pos, has_gauss, gauss],
                python=random.getstate())


def set_rng_state(state: dict) -> None:
    """Restore the states of :func:`get_rng_state`."""
    torch.set_rng_state(state['torch'])
    name, keys, pos, has_gauss, gauss = state['numpy']
    np.random.set_state(
        (name, np.asarray(keys, np.uint32), pos, has_gauss, gauss))
    random.setstate(state['python'])


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the random states with each checkpoint and hand them to the
    train loop on resume.

    A resumed run then draws the same random numbers as an uninterrupted
    one (point sampling of the losses, augmentations, prompt sampling):
    :class:`ContinuousIterBasedTrainLoop` restores them once the
    dataloader has been advanced past the trained iterations. With
    ``num_workers=0`` and the same data order, the resumed run's weights
    equal the uninterrupted run's.
    """

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})[RNG_STATE_KEY] = get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state: Optional[dict] = checkpoint.get('meta', {}).get(RNG_STATE_KEY)
        if state is not None:
            runner.message_hub.update_info(RNG_STATE_KEY, state)
