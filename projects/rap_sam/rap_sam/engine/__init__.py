"""Runner parts: hooks, the continuous train loop, the interactive test
loop."""
from .continuous_train_loop import (ContinuousIterBasedTrainLoop,
                                    RestartingIterator)
from .hooks import *  # noqa: F401,F403
from .interactive_test_loop import InteractiveTestLoop

__all__ = [
    'ContinuousIterBasedTrainLoop', 'InteractiveTestLoop',
    'RestartingIterator'
]
